"""The curator writes exotic fruits from a notebook; the unapproved visitor is told why not."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.support.jupyterlab import login, results, run_as
from tests.support.stack import Stack

# Keycloak's and the hub's pages, the broker and the fruit API: the same in every runtime.
pytestmark = pytest.mark.runtime_neutral


def test_curator_adds_and_deletes_an_exotic_fruit(page: Page, stack: Stack) -> None:
    fruit = f"salak{uuid.uuid4().hex[:4]}"
    outputs = run_as(
        page,
        stack,
        "curator",
        [
            "import json, os, httpx, hubtokens\n"
            "api = httpx.Client(base_url=os.environ['FRUIT_API_URL'],\n"
            "                   auth=hubtokens.HubTokenAuth('fruit-api', 'fruits:read fruits:write fruits:exotic'))\n"
            f"added = api.post('/fruits/exotic', json={{'name': {fruit!r}}})\n"
            "print('RESULT added', json.dumps(added.status_code))\n"
            "print('RESULT after_add', json.dumps(api.get('/fruits/exotic').json()['fruits']))\n"
            f"print('RESULT deleted', json.dumps(api.delete('/fruits/exotic/{fruit}').status_code))\n"
            "print('RESULT after_delete', json.dumps(api.get('/fruits/exotic').json()['fruits']))\n",
        ],
    )
    r = results(outputs)
    assert r["added"] == 201
    assert fruit in r["after_add"]
    assert r["deleted"] == 204
    assert fruit not in r["after_delete"]
    assert "mangosteen" in r["after_delete"]


def test_unapproved_user_gets_a_clear_page(page: Page, stack: Stack) -> None:
    login(page, stack, "visitor")
    message = page.get_by_role("paragraph").filter(has_text="not approved for this hub")
    expect(message).to_be_visible(timeout=30_000)
    expect(message).to_contain_text("Ask a hub admin to approve you")
    page.screenshot(path="test-results/visitor-not-approved.png")
