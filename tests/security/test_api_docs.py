"""The API docs run no third-party script in the stack's origin (review item 4): Swagger UI
and ReDoc at /fruit-api/docs and /fruit-api/redoc load their scripts, styles and icons from
the fruit API itself, through Traefik, never from a CDN."""

from __future__ import annotations

import re

import httpx
import pytest


@pytest.mark.parametrize("page", ["/fruit-api/docs", "/fruit-api/redoc"])
def test_the_api_docs_load_only_their_own_assets(compose_stack, page: str) -> None:
    html = httpx.get(f"{compose_stack.public_url}{page}")
    assert html.status_code == 200, html.status_code
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert assets, html.text[:300]
    for asset in assets:
        assert asset.startswith("/fruit-api/"), f"{page} loads {asset}"
        loaded = httpx.get(f"{compose_stack.public_url}{asset}")
        assert loaded.status_code == 200, (asset, loaded.status_code)
    assert "cdn.jsdelivr.net" not in html.text and "googleapis" not in html.text
