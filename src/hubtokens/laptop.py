"""Laptop mode: the same ``hubtokens`` API outside a hub, logged in to Keycloak directly.

``hubtokens login`` signs the user in with the OAuth 2.0 Device Authorization Grant (RFC 8628,
with PKCE S256) as Keycloak's public client ``hubtokens-laptop`` (idp/templates/clients/),
asking for ``offline_access`` and the API scopes named at login. The refresh token is kept in
the OS keyring (the ``keyring`` library), or, where the machine has none, in a file of mode
0600 with a warning. Each token is then the refresh grant narrowed to the scopes asked for
(the grant's ``scope``): Keycloak puts in it only the scopes the user holds the role of, and
the API's audience. It is checked like the hub's broker checks an exchange: exactly the one
audience asked for and every scope asked for, else the same errors (``scope_not_allowed``).
Keycloak rotates refresh tokens (each is good for one refresh), so every refresh happens under
a file lock shared by all processes of the user, and saves the new one before it returns.
``hubtokens logout`` revokes the login at Keycloak and forgets it.

The OAuth protocol is Authlib's (``OAuth2Client``: PKCE helpers, token and revocation
requests); the retries are :class:`hubtokens.client.TokenClient`'s, whose cache and
single-flight :class:`LaptopClient` shares.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import keyring
import keyring.errors
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from filelock import FileLock
from tenacity import Retrying, retry_if_exception, stop_before_delay

from tokencontract.claims import unverified_claims

from .client import DEFAULT_TIMEOUT, TokenClient, scope_names
from .errors import (
    HubTokensError,
    IdpUnavailable,
    InvalidRequest,
    LoginRequired,
    ScopeNotAllowed,
)
from .files import config_dir

with warnings.catch_warnings():
    # Authlib 1.9 says httpx is deprecated in favour of httpx2 when its httpx client is
    # imported; httpx is this package's HTTP client everywhere, and a warning on every
    # `hubtokens` run would only confuse its users.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

CLIENT_ID = "hubtokens-laptop"
KEYRING_SERVICE = "hubtokens"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class LaptopLoginError(HubTokensError):
    """``hubtokens login`` could not sign in (refused, expired, or misconfigured)."""

    code = "login_failed"
    hint = "Run hubtokens login again; hubtokens login --help says what it needs."
    #: Keycloak's OAuth error code, when it gave one (e.g. ``authorization_pending``).
    oauth_code = ""


@dataclass(frozen=True)
class Login:
    """Where the laptop logs in: Keycloak's realm (its issuer URL), the client, the scopes."""

    issuer: str
    client_id: str = CLIENT_ID
    scopes: tuple[str, ...] = ()

    @property
    def account(self) -> str:
        """The keyring's name for this login's refresh token."""
        return f"{self.client_id}@{self.issuer}"


class LoginStore:
    """The login (``laptop.json``, not secret) and its refresh token (the OS keyring, else
    ``refresh-token``, mode 0600), in ``directory`` (``~/.config/hubtokens``)."""

    def __init__(self, directory: Path | None = None, warn: Callable[[str], None] | None = None):
        self.directory = directory or config_dir()
        self.warn = warn or (lambda text: print(f"hubtokens: {text}", file=sys.stderr))
        self.lock = FileLock(str(self.directory / "laptop.lock"))

    @property
    def login_file(self) -> Path:
        return self.directory / "laptop.json"

    @property
    def token_file(self) -> Path:
        return self.directory / "refresh-token"

    def login(self) -> Login | None:
        try:
            data = json.loads(self.login_file.read_text(encoding="utf-8"))
            return Login(data["issuer"], data["client_id"], tuple(data["scopes"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise LaptopLoginError(
                f"{self.login_file} is not a hubtokens login ({e}): run hubtokens login again."
            ) from None

    def save(self, login: Login, refresh_token: str) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.login_file.write_text(json.dumps(asdict(login), indent=2) + "\n", encoding="utf-8")
        self.save_token(login, refresh_token)

    def refresh_token(self, login: Login) -> str | None:
        try:
            token = keyring.get_password(KEYRING_SERVICE, login.account)
        except keyring.errors.KeyringError:
            token = None
        if token:
            return token
        try:
            return self.token_file.read_text(encoding="ascii").strip() or None
        except FileNotFoundError:
            return None

    def save_token(self, login: Login, refresh_token: str) -> None:
        try:
            keyring.set_password(KEYRING_SERVICE, login.account, refresh_token)
        except keyring.errors.KeyringError as e:
            new = not self.token_file.exists()
            fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(refresh_token)
            os.chmod(self.token_file, 0o600)
            if new:
                self.warn(
                    f"no OS keyring here ({e}): your login is kept in {self.token_file} "
                    "(mode 0600). Anyone who can read your files can use it until you run "
                    "hubtokens logout."
                )
        else:
            self.token_file.unlink(missing_ok=True)

    def forget(self, login: Login | None) -> None:
        if login is not None:
            try:
                keyring.delete_password(KEYRING_SERVICE, login.account)
            except keyring.errors.KeyringError:
                pass
        self.token_file.unlink(missing_ok=True)
        self.login_file.unlink(missing_ok=True)


class Keycloak:
    """The realm's OAuth endpoints (from its discovery document), through Authlib."""

    def __init__(self, login: Login, **client_args: Any) -> None:
        """``client_args``: more arguments for the HTTP client (tests: a mock transport)."""
        self.login = login
        self.oauth = OAuth2Client(
            client_id=login.client_id,
            token_endpoint_auth_method="none",  # noqa: S106 - a public client: no secret
            timeout=DEFAULT_TIMEOUT,
            **client_args,
        )
        self._metadata: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = f"{self.login.issuer.rstrip('/')}/.well-known/openid-configuration"
            response = self.call(lambda: self.oauth.request("GET", url, withhold_token=True))
            if response.status_code != 200:
                raise LaptopLoginError(
                    f"{url} answered HTTP {response.status_code}: is {self.login.issuer} a "
                    "Keycloak realm's URL (https://<host>/realms/<realm>)?"
                )
            self._metadata = response.json()
        return self._metadata

    def call(self, request: Callable[[], Any]) -> Any:
        """One request to Keycloak; unreachable or 5xx is ``idp_unavailable`` (retried)."""
        try:
            result = request()
        except httpx.HTTPError as e:
            raise IdpUnavailable(
                f"Could not reach Keycloak at {self.login.issuer}: {e or type(e).__name__}."
            ) from None
        except OAuthError as e:
            raise oauth_error(e) from None
        status = getattr(result, "status_code", 200)
        if status >= 500:
            raise IdpUnavailable(f"Keycloak at {self.login.issuer} answered HTTP {status}.")
        return result

    def start_device_login(self, scopes: tuple[str, ...], verifier: str) -> dict[str, Any]:
        endpoint = self.metadata().get("device_authorization_endpoint")
        if not endpoint:
            raise LaptopLoginError(f"{self.login.issuer} offers no device login.")
        response = self.call(
            lambda: self.oauth.request(
                "POST",
                endpoint,
                data={
                    "client_id": self.login.client_id,
                    "scope": " ".join(("openid", "offline_access", *scopes)),
                    "code_challenge": create_s256_code_challenge(verifier),
                    "code_challenge_method": "S256",
                },
                withhold_token=True,  # no token yet: this request starts the login
            )
        )
        body = response.json() if response.content else {}
        if response.status_code != 200:
            raise LaptopLoginError(
                f"Keycloak refused the device login: {describe(body, response.status_code)}."
            )
        return body

    def poll_device_login(self, device: dict[str, Any], verifier: str) -> dict[str, Any]:
        """Ask for the tokens every ``interval`` seconds (5 s more after ``slow_down``) until
        the user approves, denies, or the code expires."""
        given = device.get("interval")
        interval = [float(given) if isinstance(given, int | float) else 5.0]  # RFC 8628: 5 s

        def pending(error: BaseException) -> bool:
            code = getattr(error, "oauth_code", "")
            if code == "slow_down":
                interval[0] += 5
            return code in ("authorization_pending", "slow_down")

        retrying = Retrying(
            retry=retry_if_exception(pending),
            wait=lambda state: interval[0],
            stop=stop_before_delay(float(device.get("expires_in") or 600)),
            reraise=True,
        )
        try:
            return retrying(
                self.call,
                lambda: self.oauth.fetch_token(
                    self.metadata()["token_endpoint"],
                    grant_type=DEVICE_GRANT,
                    device_code=device["device_code"],
                    code_verifier=verifier,
                ),
            )
        except LaptopLoginError as e:
            if e.oauth_code in ("authorization_pending", "slow_down"):  # never answered
                raise LaptopLoginError("The login code expired before it was used.") from None
            raise

    def refresh(self, refresh_token: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        return self.call(
            lambda: self.oauth.refresh_token(
                self.metadata()["token_endpoint"],
                refresh_token=refresh_token,
                scope=" ".join(scopes),
            )
        )

    def revoke(self, refresh_token: str) -> None:
        endpoint = self.metadata().get("revocation_endpoint")
        if endpoint:
            self.call(
                lambda: self.oauth.revoke_token(
                    endpoint,
                    token=refresh_token,
                    token_type_hint="refresh_token",  # noqa: S106
                )
            )


def describe(body: Any, status: int) -> str:
    if isinstance(body, dict) and body.get("error"):
        return f"{body['error']}: {body.get('error_description') or ''}".rstrip(": ")
    return f"HTTP {status}"


def oauth_error(error: OAuthError) -> HubTokensError:
    """Keycloak's OAuth error as the error the hub's broker would have given."""
    code, said = error.error or "", error.description or ""
    if code == "invalid_grant":
        made: HubTokensError = LoginRequired(
            f"Your laptop login has ended ({said or code}).", code="login_required"
        )
        made.hint = "Run hubtokens login again."
    elif code == "invalid_scope":
        made = ScopeNotAllowed(f"Keycloak refused the scope: {said or code}.")
    else:
        made = LaptopLoginError(f"Keycloak said {code}: {said}".rstrip(": ") + ".")
    made.oauth_code = code  # type: ignore[attr-defined]
    return made


def check_token(access_token: str, audience: str, scopes: tuple[str, ...]) -> None:
    """The broker's rule: exactly the audience asked for, and every scope asked for."""
    claims = unverified_claims(access_token)
    aud = claims.get("aud") or []
    aud = [aud] if isinstance(aud, str) else list(aud)
    granted = set(str(claims.get("scope") or "").split())
    missing = [s for s in scopes if s not in granted]
    if missing:
        raise ScopeNotAllowed(
            f"scope {' '.join(missing)} is not granted to you for {audience} (or was not asked "
            "for at hubtokens login)."
        )
    if aud != [audience]:
        raise ScopeNotAllowed(
            f"scope {' '.join(scopes)} is for {', '.join(aud) or 'no API'}, not {audience}."
        )


class LaptopClient(TokenClient):
    """:class:`TokenClient` outside a hub: the same ``get`` (cache, single-flight, retries,
    errors), its tokens from the laptop's Keycloak login (see the module)."""

    def __init__(
        self,
        store: LoginStore | None = None,
        *,
        keycloak: Keycloak | None = None,
        cache_margin: float | None = None,
        retry_seconds: float | None = None,
    ) -> None:
        self.store = store or LoginStore()
        login = self.store.login()
        if login is None:
            raise LoginRequired(
                "You are not logged in on this machine (outside a hub).",
                code="login_required",
            )
        self.login = login
        self.keycloak = keycloak or Keycloak(login)
        self.url = login.issuer
        self._api_token = ""
        self._setup(cache_margin, retry_seconds)

    def __repr__(self) -> str:
        return f"<LaptopClient issuer={self.login.issuer!r} cached={len(self._cache)}>"

    def available(self) -> dict[str, Any]:
        raise InvalidRequest(
            "On a laptop there is no hub to list the APIs: ask your hub admin which audiences "
            "and scopes you may use (in a hub: hubtokens list)."
        )

    def forget(self) -> int:
        self.clear()
        return 0

    def close(self) -> None:
        self.keycloak.oauth.close()

    def _attempt(
        self, method: str, payload: dict[str, Any] | None, url: str | None = None
    ) -> dict[str, Any]:
        # Only get() reaches Keycloak, at the login's issuer (a laptop has no hub API).
        assert method == "POST" and payload is not None and url is None
        audience, scopes = payload["audience"], scope_names(payload.get("scope"))
        if not scopes:
            raise InvalidRequest(
                f"On a laptop, name the scopes: e.g. hubtokens get {audience} <scope>."
            )
        with self.store.lock:
            refresh_token = self.store.refresh_token(self.login)
            if not refresh_token:
                raise LoginRequired("Your laptop login is gone.", code="login_required")
            answer = self.keycloak.refresh(refresh_token, scopes)
            if answer.get("refresh_token") and answer["refresh_token"] != refresh_token:
                self.store.save_token(self.login, answer["refresh_token"])  # rotated
        check_token(answer["access_token"], audience, scopes)
        return {
            "access_token": answer["access_token"],
            "expires_in": answer.get("expires_in"),
            "audience": audience,
            "scope": " ".join(scopes),
        }


def log_in(
    issuer: str,
    scopes: tuple[str, ...],
    show: Callable[[dict[str, Any]], None],
    *,
    client_id: str = CLIENT_ID,
    store: LoginStore | None = None,
    keycloak: Keycloak | None = None,
) -> Login:
    """The device login: ``show`` tells the user where to go and which code to confirm; then
    wait for their approval and keep the login."""
    store = store or LoginStore()
    login = Login(issuer.rstrip("/"), client_id, scope_names(list(scopes)))
    keycloak = keycloak or Keycloak(login)
    verifier = generate_token(64)
    device = keycloak.start_device_login(login.scopes, verifier)
    show(device)
    tokens = keycloak.poll_device_login(device, verifier)
    if not tokens.get("refresh_token"):
        raise LaptopLoginError("Keycloak gave no refresh token: is offline_access allowed?")
    with store.lock:
        store.save(login, tokens["refresh_token"])
    return login


def log_out(store: LoginStore | None = None, keycloak: Keycloak | None = None) -> bool:
    """Revoke the login at Keycloak and forget it here; False when there was none."""
    store = store or LoginStore()
    login = store.login()
    if login is None:
        return False
    with store.lock:
        refresh_token = store.refresh_token(login)
        try:
            if refresh_token:
                (keycloak or Keycloak(login)).revoke(refresh_token)
        finally:
            store.forget(login)
    return True
