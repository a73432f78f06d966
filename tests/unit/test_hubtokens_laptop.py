"""hubtokens.laptop against a fake Keycloak (httpx.MockTransport): the device login with PKCE,
tokens narrowed by the refresh grant and checked like the broker's, rotation under the lock,
the keyring or the 0600 file, logout's revocation, and the errors named as in a hub."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import keyring
import pytest
from keyring.backend import KeyringBackend

from hubtokens import client as client_module
from hubtokens import laptop
from hubtokens.errors import (
    IdpUnavailable,
    InvalidRequest,
    LoginRequired,
    NotInJupyterHub,
    ScopeNotAllowed,
)
from hubtokens.laptop import Keycloak, LaptopClient, LaptopLoginError, Login, LoginStore

ISSUER = "https://auth.example.org/realms/demo"
#: Which audience each API scope puts in a token (as idpctl's client scopes do).
AUDIENCE_OF = {"fruits:read": "fruit-api", "fruits:write": "fruit-api", "samples:read": "lab-api"}


class FakeKeycloak:
    """Discovery, device authorization, token (device code, refresh: rotating, narrowed to
    ``scope`` within the login's grant) and revocation, as Keycloak answers them."""

    def __init__(self, granted=("fruits:read",), pending=1):
        self.granted = set(granted)  # the scopes the user holds the role of
        self.pending = pending  # authorization_pending answers before the approval
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.live: dict[str, set[str]] = {}  # refresh token -> the login's scopes
        self.challenge = ""
        self.down = False
        self.n = 0

    def mint(self, scopes: set[str]) -> dict:
        self.n += 1
        audiences = sorted({AUDIENCE_OF[s] for s in scopes if s in AUDIENCE_OF})
        access = jwt.encode(
            {
                "aud": audiences[0] if len(audiences) == 1 else audiences,
                "azp": "hubtokens-laptop",
                "scope": " ".join(sorted(scopes)),
                "exp": int(time.time()) + 300,
                "n": self.n,
            },
            "k" * 32,
        )
        refresh = f"refresh-{self.n}"
        return {"access_token": access, "expires_in": 300, "refresh_token": refresh}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused")
        form = parse_qs(request.content.decode())
        self.requests.append((request.url.path, form))
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            base = f"{ISSUER}/protocol/openid-connect"
            return httpx.Response(
                200,
                json={
                    "device_authorization_endpoint": f"{base}/auth/device",
                    "token_endpoint": f"{base}/token",
                    "revocation_endpoint": f"{base}/revoke",
                },
            )
        if path.endswith("/auth/device"):
            assert form["client_id"] == ["hubtokens-laptop"]
            assert form["code_challenge_method"] == ["S256"]
            self.challenge = form["code_challenge"][0]
            self.asked = set(form["scope"][0].split())
            return httpx.Response(
                200,
                json={
                    "device_code": "dev-1",
                    "user_code": "ABCD-EFGH",
                    "verification_uri": f"{ISSUER}/device",
                    "verification_uri_complete": f"{ISSUER}/device?user_code=ABCD-EFGH",
                    "expires_in": 600,
                    "interval": 0,
                },
            )
        if path.endswith("/token") and form["grant_type"] == [laptop.DEVICE_GRANT]:
            verifier = form["code_verifier"][0]
            digest = hashlib.sha256(verifier.encode()).digest()
            assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == self.challenge
            if self.pending:
                self.pending -= 1
                return httpx.Response(400, json={"error": "authorization_pending"})
            answer = self.mint(self.asked & (self.granted | {"openid", "offline_access"}))
            self.live[answer["refresh_token"]] = self.asked & self.granted
            return httpx.Response(200, json=answer)
        if path.endswith("/token") and form["grant_type"] == ["refresh_token"]:
            login_scopes = self.live.pop(form["refresh_token"][0], None)  # rotation: one use
            if login_scopes is None:
                return httpx.Response(
                    400, json={"error": "invalid_grant", "error_description": "Stale token"}
                )
            asked = set(form.get("scope", [""])[0].split())
            answer = self.mint(asked & login_scopes)
            self.live[answer["refresh_token"]] = login_scopes
            return httpx.Response(200, json=answer)
        if path.endswith("/revoke"):
            self.live.pop(form["token"][0], None)
            return httpx.Response(200)
        return httpx.Response(404)


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self):
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.passwords.get((service, username))

    def set_password(self, service, username, password):
        self.passwords[(service, username)] = password

    def delete_password(self, service, username):
        self.passwords.pop((service, username), None)


@pytest.fixture
def idp():
    return FakeKeycloak()


@pytest.fixture
def no_keyring():
    before = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(before)


@pytest.fixture
def memory_keyring():
    before = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(before)


def keycloak_for(idp: FakeKeycloak, login: Login) -> Keycloak:
    return Keycloak(login, transport=httpx.MockTransport(idp))


def logged_in(tmp_path: Path, idp: FakeKeycloak, scopes=("fruits:read", "fruits:write")):
    warnings: list[str] = []
    store = LoginStore(tmp_path, warn=warnings.append)
    shown: list[dict] = []
    login = Login(ISSUER, scopes=scopes)
    laptop.log_in(ISSUER, scopes, shown.append, store=store, keycloak=keycloak_for(idp, login))
    return store, shown, warnings


def test_device_login_with_pkce_keeps_the_refresh_token_in_a_0600_file_without_keyring(
    tmp_path, idp, no_keyring
):
    store, shown, warnings = logged_in(tmp_path, idp)
    assert shown[0]["verification_uri_complete"].endswith("user_code=ABCD-EFGH")
    assert idp.asked == {"openid", "offline_access", "fruits:read", "fruits:write"}
    assert store.login() == Login(ISSUER, "hubtokens-laptop", ("fruits:read", "fruits:write"))
    assert stat.S_IMODE(store.token_file.stat().st_mode) == 0o600
    assert store.token_file.read_text() in idp.live
    (warning,) = warnings
    assert "no OS keyring here" in warning and str(store.token_file) in warning


def test_a_keyring_keeps_it_and_no_file_is_written(tmp_path, idp, memory_keyring):
    store, _, warnings = logged_in(tmp_path, idp)
    assert not store.token_file.exists() and not warnings
    (key,) = memory_keyring.passwords
    assert key == ("hubtokens", f"hubtokens-laptop@{ISSUER}")
    assert memory_keyring.passwords[key] in idp.live


def test_get_narrows_to_the_scopes_asked_rotates_and_is_cached(tmp_path, idp, no_keyring):
    store, _, _ = logged_in(tmp_path, idp)
    client = LaptopClient(store, keycloak=keycloak_for(idp, store.login()), retry_seconds=0)
    first_refresh = store.token_file.read_text()
    token = client.get("fruit-api", "fruits:read")
    claims = jwt.decode(token.value, options={"verify_signature": False})
    assert claims["aud"] == "fruit-api" and claims["scope"] == "fruits:read"
    refresh = [f for path, f in idp.requests if f.get("grant_type") == ["refresh_token"]]
    assert refresh[-1]["scope"] == ["fruits:read"]
    assert store.token_file.read_text() != first_refresh  # the rotated one is kept
    assert client.get("fruit-api", "fruits:read") is token  # the cache: no second refresh
    assert len(refresh) == 1


@pytest.mark.parametrize(
    ("audience", "scope", "says"),
    [
        ("fruit-api", "fruits:write", "fruits:write is not granted"),  # no role
        ("fruit-api", "samples:read", "samples:read is not granted"),  # not asked at login
        ("lab-api", "fruits:read", "is for fruit-api, not lab-api"),  # another API's scope
    ],
)
def test_what_the_broker_refuses_is_refused_the_same_way(
    tmp_path, idp, no_keyring, audience, scope, says
):
    store, _, _ = logged_in(tmp_path, idp)
    client = LaptopClient(store, keycloak=keycloak_for(idp, store.login()), retry_seconds=0)
    with pytest.raises(ScopeNotAllowed, match=says):
        client.get(audience, scope)


def test_get_without_scopes_asks_for_them(tmp_path, idp, no_keyring):
    store, _, _ = logged_in(tmp_path, idp)
    client = LaptopClient(store, keycloak=keycloak_for(idp, store.login()), retry_seconds=0)
    with pytest.raises(InvalidRequest, match="name the scopes"):
        client.get("fruit-api")


def test_keycloak_down_is_idp_unavailable_and_retried(tmp_path, idp, no_keyring):
    store, _, _ = logged_in(tmp_path, idp)
    client = LaptopClient(store, keycloak=keycloak_for(idp, store.login()), retry_seconds=3)
    client._sleep = lambda seconds: None  # retries take no time
    clock = iter(range(100))
    client._clock = lambda: float(next(clock))
    idp.down = True
    with pytest.raises(IdpUnavailable) as error:
        client.get("fruit-api", "fruits:read")
    assert error.value.attempts > 1 and "Could not reach Keycloak" in error.value.message


def test_a_revoked_login_is_login_required_with_the_fix(tmp_path, idp, no_keyring):
    store, _, _ = logged_in(tmp_path, idp)
    idp.live.clear()  # an admin ended the session
    client = LaptopClient(store, keycloak=keycloak_for(idp, store.login()), retry_seconds=0)
    with pytest.raises(LoginRequired) as error:
        client.get("fruit-api", "fruits:read")
    assert "hubtokens login" in str(error.value)


def test_logout_revokes_at_keycloak_and_forgets(tmp_path, idp, no_keyring):
    store, _, _ = logged_in(tmp_path, idp)
    refresh_token = store.token_file.read_text()
    assert laptop.log_out(store, keycloak_for(idp, store.login())) is True
    assert (
        "/realms/demo/protocol/openid-connect/revoke",
        {
            "token": [refresh_token],
            "token_type_hint": ["refresh_token"],
            "client_id": ["hubtokens-laptop"],
        },
    ) in idp.requests
    assert refresh_token not in idp.live
    assert store.login() is None and not store.token_file.exists()
    assert laptop.log_out(store) is False


def test_a_denied_device_login_says_so(tmp_path, idp, no_keyring):
    def deny(request):
        if request.url.path.endswith("/token"):
            return httpx.Response(
                400, json={"error": "access_denied", "error_description": "The user denied"}
            )
        return idp(request)

    login = Login(ISSUER, scopes=("fruits:read",))
    with pytest.raises(LaptopLoginError, match="access_denied: The user denied"):
        laptop.log_in(
            ISSUER,
            ("fruits:read",),
            lambda device: None,
            store=LoginStore(tmp_path),
            keycloak=Keycloak(login, transport=httpx.MockTransport(deny)),
        )
    assert not (tmp_path / "laptop.json").exists()


def test_client_here_is_the_laptop_outside_a_hub_once_logged_in(
    tmp_path, idp, no_keyring, monkeypatch
):
    monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pytest.raises(NotInJupyterHub, match="hubtokens login"):
        client_module.client_here()
    logged_in(tmp_path / "hubtokens", idp)
    assert isinstance(client_module.client_here(), LaptopClient)


def test_a_damaged_login_file_names_the_fix(tmp_path):
    (tmp_path / "laptop.json").write_text(json.dumps({"issuer": ISSUER}))
    with pytest.raises(LaptopLoginError, match="run hubtokens login again"):
        LoginStore(tmp_path).login()
