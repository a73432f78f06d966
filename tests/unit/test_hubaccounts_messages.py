"""The Access requests page says what a decision did by code, never with words from the URL."""

from __future__ import annotations

import pytest

from hubaccounts.handlers import page_messages
from hubaccounts.keycloak import Account

NEW = Account(id="id-new", username="newuser", email="", name="", enabled=True)


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"done": "1", "action": "approve", "account": "id-new"}, ("newuser approved", "")),
        ({"done": "1", "action": "block", "account": "id-new"}, ("newuser blocked", "")),
        ({"error": "self"}, ("", "You cannot block or reject yourself.")),
        (
            {"error": "failed", "action": "unblock", "account": "id-new"},
            ("", "unblock newuser failed: Keycloak refused or did not answer (see the hub's log)."),
        ),
    ],
)
def test_codes_give_the_pages_own_texts(arguments: dict, said: tuple) -> None:
    assert page_messages(arguments, [NEW]) == said


@pytest.mark.parametrize(
    "arguments",
    [
        {"done": "Call 555-0100 to confirm your account", "error": "Your session expired"},
        {"done": "1", "action": "approve", "account": "id-of-nobody-listed"},
        {"done": "1", "action": "pay", "account": "id-new"},
        {"error": "failed", "action": "approve", "account": "someone else"},
        {"error": "failed", "action": "<b>x</b>", "account": "id-new"},
        {"done": "yes", "action": "approve", "account": "id-new"},
    ],
)
def test_anything_else_shows_nothing(arguments: dict) -> None:
    assert page_messages(arguments, [NEW]) == ("", "")
