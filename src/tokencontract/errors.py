"""The broker's error codes and their HTTP statuses, and how much of an input a message quotes.

The broker (``hubbroker.errors``) answers with these codes; the notebook client
(``hubtokens.errors``) has one exception class per code; the APIs quote input with ``echo``.
"""

from __future__ import annotations

from typing import Any

#: An error message (of the broker, of an API) quotes at most this many characters of input.
ECHO_LIMIT = 64


def echo(value: Any, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` (or ``value`` itself for a string) cut to ``limit`` characters with an
    ellipsis: what an error message may quote of the caller's input, so that a response stays
    small whatever was sent."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Every error code of the broker's contract and the HTTP status it is sent with.
ERROR_STATUS: dict[str, int] = {
    "invalid_request": 400,
    "login_required": 401,
    "forbidden": 403,
    "audience_not_allowed": 403,
    "scope_not_allowed": 403,
    "not_granted_to_job": 403,
    "grant_ended": 401,
    "request_too_large": 413,
    "rate_limited": 429,
    "idp_unavailable": 503,
    "hub_unavailable": 503,
}
