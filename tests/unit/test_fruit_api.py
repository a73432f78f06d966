"""Unit tests for the fruit API: real JWT checks with a local RSA key, real SQLite file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from fruit_api import Settings, create_app
from fruit_api.tokens import IssuerKeys, make_jwks_client
from tests.support.fruit_api_fakes import ISSUER, KID, LocalJWKSClient, auth, b64url


@pytest.fixture(scope="module")
def fruit_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def fruit_other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def fruit_settings(tmp_path: Path) -> Settings:
    return Settings(issuer=ISSUER, database_url=f"sqlite:///{tmp_path / 'fruits.db'}")


@pytest.fixture
def fruit_jwks(fruit_key: rsa.RSAPrivateKey) -> LocalJWKSClient:
    jwk = RSAAlgorithm.to_jwk(fruit_key.public_key(), as_dict=True)
    return LocalJWKSClient({"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]})


@pytest.fixture
def client(fruit_settings: Settings, fruit_jwks: LocalJWKSClient) -> TestClient:
    return TestClient(create_app(fruit_settings, jwks_client=fruit_jwks))


@pytest.fixture
def make_token(fruit_key: rsa.RSAPrivateKey):
    def make(
        scope: str = "fruits:read",
        key: rsa.RSAPrivateKey | None = None,
        kid: str = KID,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": ["fruit-api"],
            "sub": "user-123",
            "preferred_username": "alice",
            "azp": "jupyterhub-exchange",
            "typ": "Bearer",  # a Keycloak access token (ID tokens: "ID", refresh: "Refresh")
            "scope": scope,
            "iat": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key or fruit_key, algorithm="RS256", headers={"kid": kid})

    return make


def unsigned_claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": "fruit-api", "scope": "fruits:read", "iat": now, "exp": now + 60}


# --- happy paths -------------------------------------------------------------------------


def test_health_needs_no_token(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_list_usual_fruits_is_seeded_and_sorted(client: TestClient, make_token) -> None:
    r = client.get("/fruits/usual", headers=auth(make_token("fruits:read")))
    assert r.status_code == 200
    assert r.json() == {"kind": "usual", "fruits": ["apple", "banana", "pear"]}


def test_list_exotic_with_exotic_scope(client: TestClient, make_token) -> None:
    r = client.get("/fruits/exotic", headers=auth(make_token("fruits:read fruits:exotic")))
    assert r.status_code == 200
    assert r.json() == {"kind": "exotic", "fruits": ["durian", "mangosteen", "rambutan"]}


def test_add_then_list_then_delete(client: TestClient, make_token) -> None:
    token = make_token("fruits:read fruits:write")
    r = client.post("/fruits/usual", json={"name": "  Kiwi "}, headers=auth(token))
    assert r.status_code == 201
    assert r.json() == {"kind": "usual", "name": "kiwi"}
    assert "kiwi" in client.get("/fruits/usual", headers=auth(token)).json()["fruits"]

    r = client.delete("/fruits/usual/kiwi", headers=auth(token))
    assert r.status_code == 204
    assert r.content == b""
    assert "kiwi" not in client.get("/fruits/usual", headers=auth(token)).json()["fruits"]


def test_add_exotic_needs_write_and_exotic(client: TestClient, make_token) -> None:
    token = make_token("fruits:write fruits:exotic")
    r = client.post("/fruits/exotic", json={"name": "salak"}, headers=auth(token))
    assert r.status_code == 201
    assert r.json() == {"kind": "exotic", "name": "salak"}


def test_whoami_returns_claims_subset(client: TestClient, make_token) -> None:
    token = make_token("fruits:read", extra_claim="not shown")
    r = client.get("/whoami", headers=auth(token))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"sub", "preferred_username", "scope", "aud", "azp", "exp"}
    assert body["preferred_username"] == "alice"
    assert body["aud"] == ["fruit-api"]
    assert body["scope"] == "fruits:read"


def test_whoami_needs_no_particular_scope(client: TestClient, make_token) -> None:
    r = client.get("/whoami", headers=auth(make_token(scope=None)))
    assert r.status_code == 200
    assert r.json()["scope"] is None


def test_audience_as_plain_string_is_accepted(client: TestClient, make_token) -> None:
    r = client.get("/fruits/usual", headers=auth(make_token(aud="fruit-api")))
    assert r.status_code == 200


def test_openapi_has_bearer_scheme_and_root_path(fruit_settings, fruit_jwks) -> None:
    app = create_app(fruit_settings, jwks_client=fruit_jwks)
    client = TestClient(app, root_path=fruit_settings.root_path)
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Access token minted by the hub for audience fruit-api",
    }
    assert spec["servers"] == [{"url": "/fruit-api"}]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/fruit-api/openapi.json" in docs.text
    assert client.get("/health").json() == {"status": "ok"}


# --- 404 / 409 / 422 ----------------------------------------------------------------------


def test_unknown_kind_is_404(client: TestClient, make_token) -> None:
    r = client.get("/fruits/tropical", headers=auth(make_token("fruits:read")))
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert "unknown kind 'tropical'" in r.json()["message"]
    assert "usual, exotic" in r.json()["message"]


def test_duplicate_is_409(client: TestClient, make_token) -> None:
    r = client.post(
        "/fruits/usual", json={"name": "Apple"}, headers=auth(make_token("fruits:write"))
    )
    assert r.status_code == 409
    assert r.json() == {"error": "conflict", "message": "apple is already in the usual fruits"}


def test_delete_missing_is_404(client: TestClient, make_token) -> None:
    r = client.delete("/fruits/usual/kiwi", headers=auth(make_token("fruits:write")))
    assert r.status_code == 404
    assert r.json()["message"] == "kiwi is not in the usual fruits"


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": "   "}, {"name": "x" * 65}, {"name": "kiwi", "color": "green"}, {}],
)
def test_bad_body_is_422(client: TestClient, make_token, body: dict[str, Any]) -> None:
    r = client.post("/fruits/usual", json=body, headers=auth(make_token("fruits:write")))
    assert r.status_code == 422
    assert "kiwi" not in client.get("/fruits/usual", headers=auth(make_token())).json()["fruits"]


# --- 401: token problems -------------------------------------------------------------------


def assert_invalid_token(r, fragment: str) -> None:
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == "invalid_token"
    assert fragment in body["message"]
    assert "hubtokens.get('fruit-api'" in body["message"]
    header = r.headers["www-authenticate"]
    assert header.startswith('Bearer error="invalid_token", error_description="')
    assert fragment in header


def test_missing_header_is_401(client: TestClient) -> None:
    r = client.get("/fruits/usual")
    assert_invalid_token(r, "no bearer token: send Authorization: Bearer <token>")


def test_non_bearer_scheme_is_401(client: TestClient) -> None:
    r = client.get("/fruits/usual", headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"})
    assert_invalid_token(r, "no bearer token")


def test_malformed_token_is_401(client: TestClient) -> None:
    assert_invalid_token(client.get("/whoami", headers=auth("not-a-jwt")), "malformed token")


def test_expired_token_is_401(client: TestClient, make_token) -> None:
    now = int(time.time())
    token = make_token(iat=now - 600, exp=now - 60)
    assert_invalid_token(client.get("/fruits/usual", headers=auth(token)), "token expired")


def test_expiry_within_leeway_is_accepted(client: TestClient, make_token) -> None:
    token = make_token(exp=int(time.time()) - 2)
    assert client.get("/fruits/usual", headers=auth(token)).status_code == 200


def test_missing_exp_is_401(client: TestClient, make_token) -> None:
    token = make_token(exp=None)
    assert_invalid_token(client.get("/fruits/usual", headers=auth(token)), "token has no exp claim")


def test_nbf_in_future_is_401(client: TestClient, make_token) -> None:
    token = make_token(nbf=int(time.time()) + 120)
    assert_invalid_token(client.get("/fruits/usual", headers=auth(token)), "not valid yet")


def test_wrong_audience_is_401(client: TestClient, make_token) -> None:
    token = make_token(aud="account")
    r = client.get("/fruits/usual", headers=auth(token))
    assert_invalid_token(r, "token audience is account, this API is fruit-api")


@pytest.mark.parametrize(
    "issuer",
    [
        "http://evil.test/realms/demo",
        ISSUER.replace("/realms/demo", "/realms/master"),  # another realm of the same Keycloak
    ],
)
def test_wrong_issuer_with_a_trusted_key_is_401(client: TestClient, make_token, issuer) -> None:
    """Signed with the key the API trusts (so the signature check passes): only ``iss``
    differs, and the refusal names the issuer."""
    assert client.get("/fruits/usual", headers=auth(make_token())).status_code == 200
    token = make_token(iss=issuer)
    r = client.get("/fruits/usual", headers=auth(token))
    assert_invalid_token(r, f"issuer {issuer} is not {ISSUER}")


def test_other_key_same_kid_is_401(client: TestClient, make_token, fruit_other_key) -> None:
    token = make_token(key=fruit_other_key)
    assert_invalid_token(client.get("/fruits/usual", headers=auth(token)), "signature invalid")


def test_other_key_unknown_kid_is_401(client: TestClient, make_token, fruit_other_key) -> None:
    token = make_token(key=fruit_other_key, kid="attacker")
    r = client.get("/fruits/usual", headers=auth(token))
    assert_invalid_token(r, "signing key attacker is not one of the issuer's keys")


def test_tampered_payload_is_401(client: TestClient, make_token) -> None:
    header, _, sig = make_token("fruits:read").split(".")
    payload = json.loads(base64.urlsafe_b64decode(make_token().split(".")[1] + "=="))
    payload["scope"] = "fruits:read fruits:write fruits:exotic"
    forged = f"{header}.{b64url(json.dumps(payload).encode())}.{sig}"
    assert_invalid_token(client.get("/fruits/usual", headers=auth(forged)), "signature invalid")


def test_alg_none_is_401(client: TestClient) -> None:
    claims = unsigned_claims()
    none_header = b64url(b'{"alg":"none"}')
    token = f"{none_header}.{b64url(json.dumps(claims).encode())}."
    r = client.get("/fruits/usual", headers=auth(token))
    assert_invalid_token(r, "algorithm none is not allowed")


def test_hs256_with_public_key_is_401(client: TestClient, fruit_key) -> None:
    """Algorithm confusion: HMAC 'signed' with the public key the API would fetch."""
    public_pem = fruit_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = unsigned_claims()
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
    sig = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    r = client.get("/fruits/usual", headers=auth(f"{signing_input}.{b64url(sig)}"))
    assert_invalid_token(r, "algorithm HS256 is not allowed; this API accepts RS256")


def test_error_never_echoes_the_token(client: TestClient, make_token) -> None:
    token = make_token(aud="account")
    r = client.get("/fruits/usual", headers=auth(token))
    assert r.status_code == 401
    assert token not in r.text
    assert token not in r.headers["www-authenticate"]


# --- 403: scope problems -------------------------------------------------------------------


def test_write_without_write_scope_is_403(client: TestClient, make_token) -> None:
    r = client.post("/fruits/usual", json={"name": "kiwi"}, headers=auth(make_token("fruits:read")))
    assert r.status_code == 403
    assert r.json() == {
        "error": "insufficient_scope",
        "message": "this call needs scope fruits:write; the token has fruits:read. Ask the hub "
        "for a token with scope fruits:write (hubtokens.get('fruit-api', scope='fruits:write'));"
        " if that is refused, you lack the role.",
        "required_scopes": ["fruits:write"],
        "token_scopes": ["fruits:read"],
    }
    assert (
        r.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="fruits:write"'
    )


def test_read_without_read_scope_is_403(client: TestClient, make_token) -> None:
    r = client.get("/fruits/usual", headers=auth(make_token(scope="profile email")))
    assert r.status_code == 403
    assert r.json()["required_scopes"] == ["fruits:read"]
    assert r.json()["token_scopes"] == ["profile", "email"]


def test_exotic_without_exotic_scope_is_403(client: TestClient, make_token) -> None:
    r = client.get("/fruits/exotic", headers=auth(make_token("fruits:read")))
    assert r.status_code == 403
    body = r.json()
    assert body["required_scopes"] == ["fruits:read", "fruits:exotic"]
    assert body["token_scopes"] == ["fruits:read"]
    assert "scope='fruits:exotic'" in body["message"]
    assert r.headers["www-authenticate"].endswith('scope="fruits:read fruits:exotic"')


def test_delete_exotic_without_exotic_scope_is_403(client: TestClient, make_token) -> None:
    r = client.delete("/fruits/exotic/durian", headers=auth(make_token("fruits:write")))
    assert r.status_code == 403
    assert r.json()["required_scopes"] == ["fruits:write", "fruits:exotic"]
    token = make_token("fruits:read fruits:exotic")
    assert "durian" in client.get("/fruits/exotic", headers=auth(token)).json()["fruits"]


def test_token_without_scopes_message(client: TestClient, make_token) -> None:
    r = client.get("/fruits/usual", headers=auth(make_token(scope=None)))
    assert r.status_code == 403
    assert "the token has no scopes" in r.json()["message"]
    assert r.json()["token_scopes"] == []


# --- persistence ---------------------------------------------------------------------------


def test_data_survives_recreating_the_app(fruit_settings, fruit_jwks, make_token) -> None:
    token = make_token("fruits:read fruits:write")
    first = TestClient(create_app(fruit_settings, jwks_client=fruit_jwks))
    assert (
        first.post("/fruits/usual", json={"name": "kiwi"}, headers=auth(token)).status_code == 201
    )
    assert first.delete("/fruits/usual/banana", headers=auth(token)).status_code == 204

    second = TestClient(create_app(fruit_settings, jwks_client=fruit_jwks))
    fruits = second.get("/fruits/usual", headers=auth(token)).json()["fruits"]
    assert fruits == ["apple", "kiwi", "pear"]


def test_seeded_only_once(fruit_settings, fruit_jwks, make_token) -> None:
    token = make_token("fruits:read fruits:write")
    first = TestClient(create_app(fruit_settings, jwks_client=fruit_jwks))
    for name in ("apple", "banana", "pear"):
        assert first.delete(f"/fruits/usual/{name}", headers=auth(token)).status_code == 204

    second = TestClient(create_app(fruit_settings, jwks_client=fruit_jwks))
    assert second.get("/fruits/usual", headers=auth(token)).json()["fruits"] == []


def test_unreachable_jwks_is_503_not_401(fruit_settings, make_token) -> None:
    class DownJWKS(LocalJWKSClient):
        def fetch_data(self) -> Any:
            raise jwt.PyJWKClientConnectionError("connection refused")

    client = TestClient(create_app(fruit_settings, jwks_client=DownJWKS({})))
    r = client.get("/fruits/usual", headers=auth(make_token()))
    assert r.status_code == 503
    assert r.headers["retry-after"] == "10"
    assert r.json()["error"] == "temporarily_unavailable"
    assert "cannot fetch the issuer's signing keys" in r.json()["message"]


# --- only access tokens, for this API alone, requested by an allowed client (issue 9) -------


def test_todays_valid_token_is_accepted(client: TestClient, make_token) -> None:
    """The positive control: typ Bearer, aud ["fruit-api"], azp jupyterhub."""
    r = client.get("/fruits/usual", headers=auth(make_token()))
    assert r.status_code == 200, r.text


def test_typ_is_compared_case_insensitively(client: TestClient, make_token) -> None:
    assert client.get("/fruits/usual", headers=auth(make_token(typ="bearer"))).status_code == 200


@pytest.mark.parametrize("typ", ["ID", "Refresh", "Logout", "JWT"])
def test_token_that_is_not_an_access_token_is_401(client: TestClient, make_token, typ) -> None:
    """An ID or refresh token, signed by the same issuer with the same key, for this API."""
    r = client.get("/fruits/usual", headers=auth(make_token(typ=typ)))
    assert_invalid_token(r, f"token type (typ) is {typ}, not Bearer")
    assert "only access tokens" in r.json()["message"]


def test_id_token_as_keycloak_issues_it_is_401_for_its_type(client: TestClient, make_token):
    """A real ID token's shape: typ ID, aud = the hub's client. Refused as an ID token."""
    token = make_token(typ="ID", aud="jupyterhub", scope=None, nonce="n", at_hash="x")
    assert_invalid_token(client.get("/whoami", headers=auth(token)), "token type (typ) is ID")


def test_token_without_typ_is_401(client: TestClient, make_token) -> None:
    r = client.get("/fruits/usual", headers=auth(make_token(typ=None)))
    assert_invalid_token(r, "token has no typ claim: this API accepts only access tokens")


def test_two_audiences_are_401(client: TestClient, make_token) -> None:
    r = client.get("/fruits/usual", headers=auth(make_token(aud=["fruit-api", "account"])))
    assert_invalid_token(r, "token has 2 audiences (fruit-api, account)")
    assert "only tokens minted for fruit-api alone" in r.json()["message"]


def test_one_audience_list_is_accepted(client: TestClient, make_token) -> None:
    assert (
        client.get("/fruits/usual", headers=auth(make_token(aud=["fruit-api"]))).status_code == 200
    )


def test_audience_list_without_this_api_is_401(client: TestClient, make_token) -> None:
    r = client.get("/fruits/usual", headers=auth(make_token(aud=["account", "broker"])))
    assert_invalid_token(r, "this API is fruit-api")


def test_other_authorized_party_is_401(client: TestClient, make_token) -> None:
    r = client.get("/fruits/usual", headers=auth(make_token(azp="some-other-client")))
    assert_invalid_token(r, "token was requested by client some-other-client (azp)")
    assert "not by jupyterhub" in r.json()["message"]


def test_missing_azp_is_401_when_an_allowlist_is_set(client: TestClient, make_token) -> None:
    r = client.get("/fruits/usual", headers=auth(make_token(azp=None)))
    assert_invalid_token(r, "token has no azp claim")


def test_empty_allowlist_accepts_any_client(tmp_path, fruit_jwks, make_token) -> None:
    settings = Settings(
        issuer=ISSUER, database_url=f"sqlite:///{tmp_path / 'f.db'}", authorized_parties=()
    )
    client = TestClient(create_app(settings, jwks_client=fruit_jwks))
    for azp in ("some-other-client", None):
        assert client.get("/fruits/usual", headers=auth(make_token(azp=azp))).status_code == 200


def test_allowlist_of_several_clients(tmp_path, fruit_jwks, make_token) -> None:
    settings = Settings(
        issuer=ISSUER,
        database_url=f"sqlite:///{tmp_path / 'f.db'}",
        authorized_parties=("jupyterhub", "research-hub"),
    )
    client = TestClient(create_app(settings, jwks_client=fruit_jwks))
    assert client.get("/whoami", headers=auth(make_token(azp="research-hub"))).status_code == 200
    r = client.get("/whoami", headers=auth(make_token(azp="evil")))
    assert_invalid_token(r, "not by jupyterhub, research-hub")


# --- no internal URL in any answer (issue 9) ------------------------------------------------

INTERNAL_JWKS = "http://keycloak-internal.test:8080/auth/realms/demo/protocol/openid-connect/certs"


class _JWKSHandler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[Callable[[bytes], str]]:
    """A real HTTP JWKS endpoint on loopback answering ``body``; yields a setter -> its URL."""
    server = HTTPServer(("127.0.0.1", 0), _JWKSHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(body: bytes) -> str:
        _JWKSHandler.body = body
        return f"http://127.0.0.1:{server.server_port}/auth/realms/demo/certs"

    try:
        yield serve
    finally:
        server.shutdown()
        server.server_close()


def real_jwks_client(tmp_path: Path, jwks_url: str) -> TestClient:
    """The app with its production key source (PyJWKClient) fetching ``jwks_url``."""
    settings = Settings(
        issuer=ISSUER, jwks_url=jwks_url, database_url=f"sqlite:///{tmp_path / 'f.db'}"
    )
    return TestClient(create_app(settings))


def assert_no_url(r, *urls: str) -> None:
    text = r.text + r.headers.get("www-authenticate", "")
    assert "http" not in text.replace(ISSUER, "<public issuer>"), text
    for url in urls:
        assert url not in text
        assert urlsplit(url).netloc not in text


def test_jwks_unreachable_names_the_signing_keys_not_the_url(tmp_path, make_token, caplog):
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/auth/realms/demo/certs"
    client = real_jwks_client(tmp_path, url)
    with caplog.at_level(logging.WARNING, logger="fruit_api"):
        r = client.get("/fruits/usual", headers=auth(make_token()))
    assert r.status_code == 503
    assert r.json()["message"] == "cannot fetch the issuer's signing keys; try again shortly"
    assert_no_url(r, url)
    assert url in caplog.text  # the API's own log keeps it


@pytest.mark.parametrize(
    "body",
    [b"<html>502 Bad Gateway</html>", b'{"keys": []}', b'{"keys": [{"kty": "unknown"}]}'],
    ids=["not-json", "no-keys", "no-usable-key"],
)
def test_unusable_jwks_is_503_without_the_url(tmp_path, make_token, jwks_server, body, caplog):
    url = jwks_server(body)
    client = real_jwks_client(tmp_path, url)
    with caplog.at_level(logging.WARNING, logger="fruit_api"):
        r = client.get("/fruits/usual", headers=auth(make_token()))
    assert r.status_code == 503, r.text
    assert r.json()["message"] == "cannot read the issuer's signing keys; try again shortly"
    assert_no_url(r, url)
    assert url in caplog.text  # the API's own log keeps it


def test_unknown_signing_key_is_401_without_the_jwks_url(tmp_path, make_token, jwks_server):
    """The signing keys answer, but not with the token's key: the caller's problem (401)."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(other.public_key(), as_dict=True)
    url = jwks_server(json.dumps({"keys": [{**jwk, "kid": "other", "use": "sig"}]}).encode())
    r = real_jwks_client(tmp_path, url).get("/fruits/usual", headers=auth(make_token()))
    assert_invalid_token(r, f"signing key {KID} is not one of the issuer's keys")
    assert_no_url(r, url)


def test_no_answer_names_the_internal_jwks_url(tmp_path, make_token, fruit_jwks) -> None:
    """Every refusal of a token, with the JWKS at a back-channel address."""
    settings = Settings(
        issuer=ISSUER, jwks_url=INTERNAL_JWKS, database_url=f"sqlite:///{tmp_path / 'f.db'}"
    )
    client = TestClient(create_app(settings, jwks_client=fruit_jwks))
    now = int(time.time())
    for token in (
        "not-a-jwt",
        make_token(kid="unknown"),
        make_token(iss="http://evil.test/realms/demo"),
        make_token(exp=now - 60, iat=now - 600),
        make_token(typ="ID"),
        make_token(aud=["fruit-api", "account"]),
        make_token(azp="other"),
    ):
        r = client.get("/fruits/usual", headers=auth(token))
        assert r.status_code == 401, r.text
        text = r.text + r.headers["www-authenticate"]
        assert INTERNAL_JWKS not in text and "keycloak-internal" not in text


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_nothing_from_another_site(client: TestClient, page: str) -> None:
    """Swagger UI and ReDoc come with the API (fastapi-offline), not from a CDN: every
    script, style and icon the page names is served by the API itself."""
    html = client.get(page)
    assert html.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert assets, html.text[:300]
    for asset in assets:
        assert not re.match(r"(?:https?:)?//", asset), asset
        assert client.get(asset).status_code == 200, asset


# --- Keycloak down: the keys already fetched keep working (issue 10) -----------------------


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class IssuerJWKS(jwt.PyJWKClient):
    """Keycloak's JWKS endpoint, from memory: ``down`` fails every fetch as an unreachable
    Keycloak does; ``answer`` is what it serves otherwise; ``fetches`` counts the attempts."""

    def __init__(self, answer: Any) -> None:
        super().__init__("http://keycloak-internal.test/certs")
        self.answer, self.down, self.fetches = answer, False, 0
        self.release: threading.Event | None = None  # set: a fetch waits for it (a slow one)

    def fetch_data(self) -> Any:
        self.fetches += 1
        if self.release is not None:
            self.release.wait(10)
        if self.down:
            raise jwt.PyJWKClientConnectionError("connection refused")
        return self.answer


def key_set(*keys: tuple[rsa.RSAPrivateKey, str]) -> dict[str, Any]:
    jwks = [RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) for key, _ in keys]
    return {
        "keys": [
            {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}
            for jwk, (_, kid) in zip(jwks, keys, strict=True)
        ]
    }


def run_now(refresh: Callable[[], None]) -> None:
    """IssuerKeys' background refresh, run in the calling thread: tests see its result."""
    refresh()


@pytest.fixture
def issuer(fruit_key: rsa.RSAPrivateKey) -> IssuerJWKS:
    return IssuerJWKS(key_set((fruit_key, KID)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys_client(fruit_settings: Settings, issuer: IssuerJWKS, clock: Clock) -> TestClient:
    """The app with the production key source (IssuerKeys: 5 min lifespan, 30 s cooldown,
    10 s between failed attempts) over the in-memory Keycloak, on the test's clock."""
    keys = IssuerKeys(issuer, clock=clock, background=run_now)
    return TestClient(create_app(fruit_settings, jwks_client=keys))


def test_the_production_key_source_keeps_keys_through_outages(fruit_settings) -> None:
    keys = make_jwks_client(fruit_settings)
    assert isinstance(keys, IssuerKeys)
    assert keys.client.uri == fruit_settings.jwks_url
    assert (keys.lifespan, keys.cooldown, keys.retry_interval) == (300, 30, 10)


def test_a_key_already_fetched_keeps_working_while_keycloak_is_down(
    keys_client: TestClient, issuer: IssuerJWKS, clock: Clock, make_token, caplog
) -> None:
    token = make_token("fruits:read")
    assert keys_client.get("/fruits/usual", headers=auth(token)).status_code == 200
    issuer.down = True
    with caplog.at_level(logging.WARNING, logger="fruit_api"):
        for _ in range(120):  # an hour past the key set's lifespan, a call every 30 s
            clock.now += 30
            r = keys_client.get("/fruits/usual", headers=auth(token))
            assert r.status_code == 200, r.text
    assert "cannot refresh the signing keys from http://keycloak-internal.test/certs" in caplog.text
    assert "still accepting the 1 keys" in caplog.text

    issuer.down = False  # back: the next refresh succeeds, the key still verifies
    clock.now += 30
    assert keys_client.get("/fruits/usual", headers=auth(token)).status_code == 200


def test_failed_refreshes_are_retried_every_10_s_not_on_every_call(
    keys_client: TestClient, issuer: IssuerJWKS, clock: Clock, make_token
) -> None:
    token = make_token("fruits:read")
    assert keys_client.get("/whoami", headers=auth(token)).status_code == 200
    issuer.down = True
    clock.now += 301  # the key set is stale
    for _ in range(50):  # 50 calls in 5 s
        assert keys_client.get("/whoami", headers=auth(token)).status_code == 200
        clock.now += 0.1
    assert issuer.fetches == 2  # the first fetch, one failed refresh; the next after 10 s
    clock.now += 10
    assert keys_client.get("/whoami", headers=auth(token)).status_code == 200
    assert issuer.fetches == 3


def test_a_key_never_fetched_is_503_with_retry_after_while_keycloak_is_down(
    keys_client: TestClient,
    issuer: IssuerJWKS,
    clock: Clock,
    make_token,
    fruit_key,
    fruit_other_key,
) -> None:
    """Keycloak rotated its key and went down before the API saw the new one: tokens signed
    by the new key cannot be checked (503, not 401: the key may well exist); tokens signed by
    the old one still are. Once Keycloak answers again, the new key is fetched."""
    old = make_token("fruits:read")
    new = make_token("fruits:read", key=fruit_other_key, kid="rotated")
    assert keys_client.get("/fruits/usual", headers=auth(old)).status_code == 200
    issuer.down = True
    issuer.answer = key_set((fruit_key, KID), (fruit_other_key, "rotated"))
    clock.now += 60

    r = keys_client.get("/fruits/usual", headers=auth(new))
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "10"
    assert r.json() == {
        "error": "temporarily_unavailable",
        "message": "cannot fetch the issuer's signing keys; try again shortly",
    }
    assert "keycloak-internal" not in r.text
    assert keys_client.get("/fruits/usual", headers=auth(old)).status_code == 200

    issuer.down = False
    clock.now += 10  # Retry-After later
    assert keys_client.get("/fruits/usual", headers=auth(new)).status_code == 200
    assert keys_client.get("/fruits/usual", headers=auth(old)).status_code == 200


def test_an_unreadable_answer_keeps_the_keys_too(
    keys_client: TestClient, issuer: IssuerJWKS, clock: Clock, make_token, fruit_other_key
) -> None:
    """Keycloak behind a proxy that answers an error page: not a key set, the keys stay."""
    token = make_token("fruits:read")
    assert keys_client.get("/fruits/usual", headers=auth(token)).status_code == 200
    issuer.answer = "<html>502 Bad Gateway</html>"
    clock.now += 301
    assert keys_client.get("/fruits/usual", headers=auth(token)).status_code == 200
    r = keys_client.get("/fruits/usual", headers=auth(make_token(kid="unseen")))
    assert r.status_code == 503
    assert r.json()["message"] == "cannot read the issuer's signing keys; try again shortly"


def test_a_key_the_issuer_dropped_stops_being_accepted_at_the_next_refresh(
    keys_client: TestClient, issuer: IssuerJWKS, clock: Clock, make_token, fruit_other_key
) -> None:
    """Keys are kept through outages, not for ever: a key gone from a key set Keycloak did
    serve is refused once the set is refreshed (at most 5 minutes later)."""
    token = make_token("fruits:read")
    assert keys_client.get("/fruits/usual", headers=auth(token)).status_code == 200
    issuer.answer = key_set((fruit_other_key, "rotated"))
    clock.now += 299
    assert keys_client.get("/fruits/usual", headers=auth(token)).status_code == 200
    clock.now += 2
    r = keys_client.get("/fruits/usual", headers=auth(token))
    assert_invalid_token(r, f"signing key {KID} is not one of the issuer's keys")


def test_made_up_key_ids_fetch_the_keys_at_most_once_per_30_s(
    keys_client: TestClient, issuer: IssuerJWKS, clock: Clock, make_token
) -> None:
    assert keys_client.get("/whoami", headers=auth(make_token())).status_code == 200
    for n in range(60):  # 60 made-up key ids in 60 s
        clock.now += 1
        r = keys_client.get("/whoami", headers=auth(make_token(kid=f"made-up-{n}")))
        assert_invalid_token(r, f"signing key made-up-{n} is not one of the issuer's keys")
    assert issuer.fetches == 1 + 2  # the first fetch, then one per 30 s


def test_a_slow_refresh_does_not_hold_up_calls(
    fruit_settings: Settings, issuer: IssuerJWKS, clock: Clock, make_token
) -> None:
    """The refresh of a stale key set runs in the background (default): while Keycloak
    takes its time (cut off: the fetch waits for its timeout), calls go on with the keys
    held."""
    keys = IssuerKeys(issuer, clock=clock)  # the real background thread
    client = TestClient(create_app(fruit_settings, jwks_client=keys))
    token = make_token("fruits:read")
    assert client.get("/fruits/usual", headers=auth(token)).status_code == 200
    issuer.release = threading.Event()  # the next fetch hangs until released
    clock.now += 301
    try:
        for _ in range(5):
            started = time.monotonic()
            assert client.get("/fruits/usual", headers=auth(token)).status_code == 200
            assert time.monotonic() - started < 2
        assert issuer.fetches == 2  # one refresh under way, not one per call
    finally:
        issuer.release.set()


def test_keys_kept_while_a_real_jwks_endpoint_is_gone(tmp_path: Path, make_token, caplog) -> None:
    """The production classes end to end (PyJWKClient over HTTP): the endpoint served the
    keys, then its port is closed (connection refused); the key fetched keeps working."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = HTTPServer(("127.0.0.1", 0), _JWKSHandler)
    _JWKSHandler.body = json.dumps(key_set((key, KID))).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/auth/realms/demo/certs"
    keys = IssuerKeys(jwt.PyJWKClient(url, timeout=2), lifespan=0.001, background=run_now)
    settings = Settings(issuer=ISSUER, jwks_url=url, database_url=f"sqlite:///{tmp_path / 'f.db'}")
    client = TestClient(create_app(settings, jwks_client=keys))
    token = make_token("fruits:read", key=key)
    try:
        assert client.get("/fruits/usual", headers=auth(token)).status_code == 200
    finally:
        server.shutdown()
        server.server_close()
    time.sleep(0.01)  # the key set is stale: the next call tries to refresh it, and fails
    with caplog.at_level(logging.WARNING, logger="fruit_api"):
        r = client.get("/fruits/usual", headers=auth(token))
    assert r.status_code == 200, r.text
    assert f"cannot refresh the signing keys from {url}" in caplog.text
    r = client.get("/fruits/usual", headers=auth(make_token("fruits:read", kid="unseen", key=key)))
    assert r.status_code == 503
    assert r.headers["retry-after"] == "10"
