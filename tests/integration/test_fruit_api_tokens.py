"""The live fruit API behind Traefik accepts exchanged tokens and rejects every bad one."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import jwt
import pytest

from tests.integration.idp_helpers import admin as keycloak_admin
from tests.support.login_flows import keycloak_tokens
from tests.support.stack import Stack
from tests.support.token_exchange import exchange
from tokencontract.claims import unverified_claims


def api(stack: Stack, method: str, path: str, token: str | None, **kw: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{stack.public_url}/fruit-api{path}", headers=headers, **kw)


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> dict[str, str]:
    reader = keycloak_tokens(stack, "reader")["access_token"]
    curator = keycloak_tokens(stack, "curator")["access_token"]
    return {
        "reader_login": reader,
        "read": exchange(stack, reader, "fruits:read").json()["access_token"],
        "curator_all": exchange(stack, curator, "fruits:read fruits:write fruits:exotic").json()[
            "access_token"
        ],
    }


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _rejected(response: httpx.Response, status: int = 401) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == ("invalid_token" if status == 401 else "insufficient_scope")
    assert body["message"]
    return body


def test_exchanged_token_reads_usual_fruits(stack: Stack, tokens: dict[str, str]) -> None:
    response = api(stack, "GET", "/fruits/usual", tokens["read"])
    assert response.status_code == 200
    assert "apple" in response.json()["fruits"]


def test_curator_adds_and_deletes_an_exotic_fruit(stack: Stack, tokens: dict[str, str]) -> None:
    name = f"salak-{uuid.uuid4().hex[:6]}"
    assert (
        api(stack, "POST", "/fruits/exotic", tokens["curator_all"], json={"name": name}).status_code
        == 201
    )
    assert name in api(stack, "GET", "/fruits/exotic", tokens["curator_all"]).json()["fruits"]
    assert api(stack, "DELETE", f"/fruits/exotic/{name}", tokens["curator_all"]).status_code == 204
    assert name not in api(stack, "GET", "/fruits/exotic", tokens["curator_all"]).json()["fruits"]


def test_missing_scope_is_403_naming_it(stack: Stack, tokens: dict[str, str]) -> None:
    body = _rejected(
        api(stack, "POST", "/fruits/usual", tokens["read"], json={"name": "kiwi"}), 403
    )
    assert "fruits:write" in body["required_scopes"]
    _rejected(api(stack, "GET", "/fruits/exotic", tokens["read"]), 403)


def test_missing_token_is_401(stack: Stack) -> None:
    response = api(stack, "GET", "/fruits/usual", None)
    _rejected(response)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_login_token_without_the_api_audience_is_401(stack: Stack, tokens: dict[str, str]) -> None:
    body = _rejected(api(stack, "GET", "/fruits/usual", tokens["reader_login"]))
    assert "aud" in body["message"].lower()


def test_tampered_signature_is_401(stack: Stack, tokens: dict[str, str]) -> None:
    header, payload, signature = tokens["read"].split(".")
    flipped = ("A" if signature[10] != "A" else "B").join([signature[:10], signature[11:]])
    _rejected(api(stack, "GET", "/fruits/usual", f"{header}.{payload}.{flipped}"))


def test_alg_none_is_401(stack: Stack, tokens: dict[str, str]) -> None:
    payload = tokens["read"].split(".")[1]
    _rejected(
        api(stack, "GET", "/fruits/usual", f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.")
    )


def test_token_of_another_realm_is_401_for_its_signing_key(stack: Stack) -> None:
    """A token of the same Keycloak's realm master: another ``iss``, but also another signing
    key, and the key is checked first. So this proves the API refuses keys it does not trust;
    the ``iss`` check on a token signed with a trusted key is proved by the unit test
    test_fruit_api.py::test_wrong_issuer_with_a_trusted_key_is_401 (only the realm's own key
    could sign one here, and tests do not have it)."""
    master = keycloak_admin(stack).token  # signed by Keycloak, but by realm master
    claims = unverified_claims(master)
    assert claims["iss"].endswith("/realms/master") and claims["iss"] != stack.issuer
    kid = jwt.get_unverified_header(master)["kid"]
    body = _rejected(api(stack, "GET", "/fruits/usual", master))
    assert f"signing key {kid} is not one of the issuer's keys" in body["message"]


@contextmanager
def hub_tokens_live_one_second(stack: Stack) -> Iterator[None]:
    """While open, tokens minted by the hub's exchange client (so with azp jupyterhub-exchange,
    as the fruit API requires) live 1 second: the client's access.token.lifespan, restored
    afterwards."""
    admin = keycloak_admin(stack)
    hub = admin.get(f"/{stack.realm}/clients", clientId="jupyterhub-exchange")[0]
    path = f"/{stack.realm}/clients/{hub['id']}"
    attributes = hub["attributes"]
    admin.put(path, {**hub, "attributes": {**attributes, "access.token.lifespan": "1"}})
    try:
        yield
    finally:
        admin.put(path, {**hub, "attributes": attributes})


def test_expired_token_is_401(stack: Stack) -> None:
    subject = keycloak_tokens(stack, "reader")["access_token"]  # issued before: lives 300 s
    with hub_tokens_live_one_second(stack):
        response = exchange(stack, subject, "fruits:read")
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    claims = unverified_claims(token)
    assert claims["exp"] - claims["iat"] <= 1 and claims["azp"] == "jupyterhub-exchange"
    assert api(stack, "GET", "/fruits/usual", token).status_code == 200  # valid while fresh
    time.sleep(7)  # 1 s lifetime + the API's 5 s leeway
    body = _rejected(api(stack, "GET", "/fruits/usual", token))
    assert "expired" in body["message"].lower()
