"""GenericOAuthenticator for Keycloak, carrying the token broker.

Everything Keycloak-specific the hub needs lives here: URLs derived from one base URL and
realm, the broker's API handler, a logout that ends the Keycloak session, a refresh that
shares the broker's per-user lock and re-checks the allowed groups, and the binding of each
hub user to one Keycloak account (its ``sub``).
"""

from __future__ import annotations

import asyncio
import os
from functools import cached_property
from inspect import isawaitable
from pathlib import Path
from typing import Any

import httpx
import jwt
from jupyterhub.crypto import decrypt, encrypt
from oauthenticator.generic import GenericOAuthenticator
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.web import HTTPError
from traitlets import Bool, Float, Integer, Unicode, default

from apiregistry import ConfigError, apis_of_realm, load_registry
from hubaccounts.handlers import AccessRequestsHandler
from hubaccounts.keycloak import AccountsClient
from hubbroker.backchannel import InvalidLogoutToken, verify_logout_token
from hubbroker.grant_handlers import (
    GrantCallbackHandler,
    GrantFlow,
    GrantsAPIHandler,
    GrantsHandler,
)
from hubbroker.grant_tokens import ENDED_BY_BLOCK, ENDED_BY_DELETION, GrantTokens
from hubbroker.grants import GrantStore
from hubbroker.guards import MintRateLimiter, RequestLimits
from hubbroker.handlers import (
    BackchannelLogoutHandler,
    KeycloakLogoutHandler,
    TokenExchangeHandler,
    log_out,
    revoke_api_tokens,
)
from hubbroker.policy import Policy
from hubbroker.refresh_errors import keycloak_down, not_a_token, refresh_failure
from hubbroker.service import SUB_KEY, TokenBroker, has_session, logged_out_state
from hubbroker.settings_traits import setting
from stackconf import settings as conf
from tokencontract.claims import unverified_claims

#: Requests the hub keeps in flight to Keycloak at once, per client (the broker's httpx client
#: and OAuthenticator's tornado client); more wait for a free one.
KEYCLOAK_CONNECTIONS = 100


def group_name(path: str) -> str:
    """A Keycloak group path as the hub's group name: the path without its leading slash."""
    return path[1:] if path.startswith("/") else path


#: What an account that waits for approval (HUB_PENDING_GROUP) is told at login.
PENDING_MESSAGE = (
    "Your account waits for approval by a hub admin. Your sign-up worked and your Keycloak "
    "login too; a hub admin sees your request on the hub's Access requests page. Once "
    "approved, log in again."
)


class KeycloakAuthenticator(GenericOAuthenticator):
    """Log in with Keycloak; mint per-notebook API tokens by token exchange.

    Every setting read from the environment is read here, through ``stackconf.settings``
    (one table of names and defaults): hub/jupyterhub_config.py does not repeat them.
    """

    logout_handler = KeycloakLogoutHandler

    keycloak_url = Unicode(
        config=True,
        help="Keycloak's public base URL, as browsers see it (with its http-relative-path), "
        "e.g. https://example.org/auth. Env: KEYCLOAK_PUBLIC_URL.",
    )

    @default("keycloak_url")
    def _keycloak_url_default(self) -> str:
        return conf.get("KEYCLOAK_PUBLIC_URL").rstrip("/")

    keycloak_backchannel_url = Unicode(
        config=True,
        help="The URL the hub uses to call Keycloak (token, userinfo, logout): may be internal. "
        "Env: KEYCLOAK_INTERNAL_URL (default: KEYCLOAK_PUBLIC_URL).",
    )

    @default("keycloak_backchannel_url")
    def _backchannel_default(self) -> str:
        # KEYCLOAK_INTERNAL_URL defaults to {KEYCLOAK_PUBLIC_URL}: resolve that to keycloak_url,
        # so that a keycloak_url set in the config file is followed too.
        env = {**os.environ, "KEYCLOAK_PUBLIC_URL": self.keycloak_url}
        return conf.get("KEYCLOAK_INTERNAL_URL", env).rstrip("/")

    # Settings of the table (src/stackconf/settings.yml: each one's name, default and help).
    realm = setting(Unicode, "KEYCLOAK_REALM")
    keycloak_timeout = setting(Float, "KEYCLOAK_TIMEOUT_SECONDS")
    pending_group = setting(Unicode, "HUB_PENDING_GROUP")
    exchange_client_id = setting(Unicode, "TOKEN_EXCHANGE_CLIENT_ID")
    exchange_client_secret = setting(Unicode, "TOKEN_EXCHANGE_CLIENT_SECRET")
    api_registry = setting(Unicode, "IDP_API_REGISTRY")
    cache_margin = setting(Float, "TOKEN_CACHE_MARGIN")
    refresh_margin = setting(Float, "TOKEN_REFRESH_MARGIN")
    check_caller_address = setting(Bool, "TOKEN_EXCHANGE_CHECK_ADDRESS")
    max_request_body = setting(Integer, "TOKEN_EXCHANGE_MAX_BODY")
    max_scopes = setting(Integer, "TOKEN_EXCHANGE_MAX_SCOPES")
    max_name_length = setting(Integer, "TOKEN_EXCHANGE_MAX_NAME_LENGTH")
    mint_rate = setting(Integer, "TOKEN_EXCHANGE_RATE")
    mint_burst = setting(Integer, "TOKEN_EXCHANGE_BURST")
    accounts_client_id = setting(Unicode, "ACCOUNTS_CLIENT_ID")
    accounts_client_secret = setting(Unicode, "ACCOUNTS_CLIENT_SECRET")
    job_grants_client_secret = setting(Unicode, "JOB_GRANTS_CLIENT_SECRET")

    @default("http_client")
    def _http_client_default(self) -> AsyncHTTPClient:
        """OAuthenticator's client (logins, login checks, refreshes) with as many requests in
        flight as the broker's: tornado's shared default allows 10 and queues the rest, so
        that 200 users' refreshes at once waited in that queue for seconds (make bench-load)."""
        return AsyncHTTPClient(force_instance=True, max_clients=KEYCLOAK_CONNECTIONS)

    @default("client_id")
    def _client_id_default(self) -> str:
        return conf.get("JUPYTERHUB_CLIENT_ID")

    @default("client_secret")
    def _client_secret_default(self) -> str:
        return conf.get("JUPYTERHUB_CLIENT_SECRET")

    @default("allowed_groups")
    def _allowed_groups_default(self) -> set[str]:
        return set(conf.get_list("HUB_ALLOWED_GROUPS"))

    @default("custom_403_message")
    def _custom_403_message_default(self) -> str:
        return (
            "Your Keycloak login worked, but your account is not approved for this hub "
            f"(it is not in group {','.join(sorted(self.allowed_groups))}). "
            "Ask a hub admin to approve you, then log in again."
        )

    async def check_allowed(self, username: str, auth_model: dict[str, Any]) -> bool:
        """OAuthenticator's check; a refused account that waits for approval (in
        ``pending_group``) is told so at login, not given the generic refusal."""
        allowed = await super().check_allowed(username, auth_model)
        if not allowed and auth_model and self.pending_group in auth_model.get("groups", ()):
            self.log.info("login of %s refused: the account waits for approval", username)
            raise HTTPError(403, PENDING_MESSAGE)
        return allowed

    post_logout_redirect_uri = Unicode(
        config=True, help="Where Keycloak sends the browser after logout (the hub's home)."
    )

    async def get_user_groups(self, auth_state: dict) -> set[str]:
        """The user's Keycloak groups by path (the hub client's groups mapper sends full
        paths): a top-level group keeps its name (``/hub-users`` is ``hub-users``), a subgroup
        keeps its path (``/lab/hub-admins`` is ``lab/hub-admins``), so that no subgroup can
        pass for a top-level group of the same name in allowed groups or roles."""
        return {group_name(path) for path in await super().get_user_groups(auth_state)}

    def load_policy(self) -> Policy:
        """The broker's allowlist: this realm's APIs in the registry (idp/apis.yml)."""
        try:
            apis = load_registry(Path(self.api_registry))
        except ConfigError as e:
            raise ValueError(f"the API registry is not valid:\n{e}") from None
        except OSError as e:
            raise ValueError(
                f"cannot read the API registry {self.api_registry} ({e}): set IDP_API_REGISTRY"
            ) from None
        return Policy(apis_of_realm(apis, self.realm))

    def _registry_mtime(self) -> int:
        try:
            return os.stat(self.api_registry).st_mtime_ns
        except OSError:
            return 0

    def current_broker(self) -> TokenBroker:
        """The broker, its policy re-read when the registry file changed (no hub restart).
        An invalid registry is logged and the previous policy kept."""
        broker = self.broker
        mtime = self._registry_mtime()
        if mtime != self._policy_mtime:
            try:
                broker.policy = self.load_policy()
                self.log.info("token-exchange: policy loaded from %s", self.api_registry)
            except ValueError as e:
                self.log.error("token-exchange: keeping the previous policy: %s", e)
            self._policy_mtime = mtime
        return broker

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.load_policy()  # fail at hub start, with the cause, if the registry is invalid

    def _oidc(self, base: str, endpoint: str) -> str:
        return f"{base}/realms/{self.realm}/protocol/openid-connect/{endpoint}"

    @default("authorize_url")
    def _authorize_url_default(self) -> str:
        return self._oidc(self.keycloak_url, "auth")

    @default("token_url")
    def _token_url_default(self) -> str:
        return self._oidc(self.keycloak_backchannel_url, "token")

    @default("userdata_url")
    def _userdata_url_default(self) -> str:
        return self._oidc(self.keycloak_backchannel_url, "userinfo")

    @property
    def end_session_url(self) -> str:
        return self._oidc(self.keycloak_url, "logout")

    @cached_property
    def broker(self) -> TokenBroker:
        self._policy_mtime = self._registry_mtime()
        return TokenBroker(
            policy=self.load_policy(),
            token_url=self.token_url,
            client_id=self.exchange_client_id,
            client_secret=self.exchange_client_secret,
            refresher=self.refresh_keycloak_token,
            http=httpx.AsyncClient(
                timeout=self.keycloak_timeout,
                limits=httpx.Limits(max_connections=KEYCLOAK_CONNECTIONS),
            ),
            cache_margin=self.cache_margin,
            refresh_margin=self.refresh_margin,
            log=self.log,
            limits=RequestLimits(
                max_body=self.max_request_body,
                max_scopes=self.max_scopes,
                max_name_length=self.max_name_length,
            ),
            rate_limiter=MintRateLimiter(self.mint_rate, self.mint_burst),
            still_allowed=self.still_allowed,
        )

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        handlers = [
            *super().get_handlers(app),
            (r"/api/token-exchange", TokenExchangeHandler),
            (r"/backchannel-logout", BackchannelLogoutHandler),
        ]
        if self.accounts_client_secret:
            handlers.append((r"/access-requests", AccessRequestsHandler, self.access_requests))
        if self.job_grants_client_secret:
            handlers += [
                (r"/grants", GrantsHandler),
                (r"/grants/callback", GrantCallbackHandler),
                (r"/api/grants", GrantsAPIHandler),
                (r"/api/grants/([^/]+)", GrantsAPIHandler),
            ]
        return handlers

    @cached_property
    def grant_tokens(self) -> GrantTokens:
        """Tokens minted within job grants, and grants ended (docs/jobs.md)."""
        return GrantTokens(self.grant_flow, encrypt, decrypt, margin=self.cache_margin)

    @cached_property
    def grant_flow(self) -> GrantFlow:
        """The Job grants page's client and Keycloak endpoints (docs/jobs.md); its way back
        is next to the login's (oauth_callback_url), as the client's redirect URI says
        (idp/templates/clients/jupyterhub-jobs.yml)."""
        return GrantFlow(
            client_secret=self.job_grants_client_secret,
            authorize_url=self.authorize_url,
            token_url=self.token_url,
            revoke_url=self._oidc(self.keycloak_backchannel_url, "revoke"),
            redirect_uri=self.oauth_callback_url.rsplit("/", 1)[0] + "/grants/callback",
            http=httpx.AsyncClient(timeout=self.keycloak_timeout),
        )

    approval_group = Unicode(
        config=True,
        help="The group an approval on the Access requests page moves an account into (out of "
        "pending_group): one of allowed_groups. Default: the first of HUB_ALLOWED_GROUPS that "
        "is in allowed_groups, else the first of allowed_groups by name.",
    )

    @default("approval_group")
    def _approval_group_default(self) -> str:
        # allowed_groups is a set: the order HUB_ALLOWED_GROUPS gives, where it still applies.
        ordered = [g for g in conf.get_list("HUB_ALLOWED_GROUPS") if g in self.allowed_groups]
        return (ordered or sorted(self.allowed_groups) or [""])[0]

    @cached_property
    def access_requests(self) -> dict[str, Any]:
        """The Access requests page's settings: its Keycloak client and the two groups."""
        if self.approval_group not in self.allowed_groups:
            raise ValueError(
                f"approval_group {self.approval_group!r} is not one of allowed_groups "
                f"{sorted(self.allowed_groups)}: an approved account could not use the hub. "
                "Set c.KeycloakAuthenticator.approval_group to one of them."
            )
        return {
            "accounts_client": AccountsClient(
                self.keycloak_backchannel_url,
                self.realm,
                self.accounts_client_id,
                self.accounts_client_secret,
                timeout=self.keycloak_timeout,
            ),
            "pending_group": self.pending_group,
            "allowed_group": self.approval_group,
            "end_in_hub": self.end_in_hub,
        }

    async def end_in_hub(self, user: Any, db: Any) -> None:
        """A blocked account: revoke ``user``'s hub login at once, as a logout does
        (``log_out``), and end their job grants, which a logout leaves running."""
        await log_out(self.broker, user, lambda u: revoke_api_tokens(db, u, self.log))
        await self.end_grants(user.name, db, ENDED_BY_BLOCK)

    async def end_grants(self, username: str, db: Any, reason: str) -> None:
        """End every active job grant of the user (at Keycloak too when it answers)."""
        if not self.job_grants_client_secret:  # no Job grants page: no grants
            return
        ended = await self.grant_tokens.end_all(GrantStore(db), username, reason)
        if ended:
            self.log.info("job grants of %s: %d ended (%s)", username, ended, reason)

    @property
    def issuer(self) -> str:
        """The realm's issuer: its public URL (KC_HOSTNAME), whatever URL the hub calls."""
        return f"{self.keycloak_url}/realms/{self.realm}"

    @cached_property
    def _jwks(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(
            self._oidc(self.keycloak_backchannel_url, "certs"),
            lifespan=300,
            timeout=self.keycloak_timeout,
        )

    async def verify_logout_token(self, token: str) -> dict[str, Any]:
        """The claims of a back-channel logout token Keycloak sent for this hub's client;
        ``InvalidLogoutToken`` otherwise. The realm's keys are fetched (and cached) from the
        back channel, in a thread (PyJWKClient blocks)."""
        try:
            key = await asyncio.to_thread(lambda: self._jwks.get_signing_key_from_jwt(token).key)
        except (jwt.PyJWTError, ValueError) as e:
            raise InvalidLogoutToken(f"no signing key of the realm for it: {e}") from None
        return verify_logout_token(
            token, signing_key=lambda _token: key, issuer=self.issuer, client_id=self.client_id
        )

    async def httpfetch(
        self,
        url: str,
        label: str = "fetching",
        parse_json: bool = True,
        raise_error: bool = True,
        **kwargs: Any,
    ) -> Any:
        """OAuthenticator's calls to Keycloak (login, userinfo, refresh), bounded by
        ``keycloak_timeout`` to connect and for the whole request, unless
        ``http_request_kwargs`` sets tornado's ``connect_timeout``/``request_timeout``."""
        for name in ("connect_timeout", "request_timeout"):
            if name not in kwargs and name not in self.http_request_kwargs:
                kwargs[name] = self.keycloak_timeout
        return await super().httpfetch(
            url, label=label, parse_json=parse_json, raise_error=raise_error, **kwargs
        )

    async def refresh_keycloak_token(self, refresh_token: str) -> dict[str, Any]:
        """Use the refresh token once (the broker's refresh of the user's Keycloak token);
        map failures to the broker's error codes, never to an exception of another type.

        ``idp_unavailable``: Keycloak not answering within ``keycloak_timeout`` (tornado's
        599), refused connections, 5xx, 408/429, an answer that is not a token, or Keycloak
        refusing the hub's own client. ``login_required``: any other refusal (the refresh
        token expired or was revoked: the session ended).
        """
        params = self.build_refresh_token_request_params(refresh_token)
        try:
            token_info = await self.get_token_info(None, params)
        except (HTTPClientError, HTTPError, OSError, ValueError, TypeError) as error:
            raise refresh_failure(error, self.token_url, self.client_id, self.log) from None
        access_token = token_info.get("access_token") if isinstance(token_info, dict) else None
        if not isinstance(access_token, str) or not access_token:
            raise not_a_token(self.token_url, self.log)
        return token_info

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """OAuthenticator's refresh, under the broker's per-user lock (a refresh token is never
        used twice at once), for a user who still holds a session, and who must still be
        allowed (``check_allowed``, as at login: JupyterHub does not re-check it on refresh).
        A user no longer allowed is revoked (broker and auth_state) and must log in again.
        Keycloak not answering the check (``keycloak_down``) keeps the session until the next
        check (True): see the comment below."""
        broker = self.broker
        async with broker.locks.hold(user.name):
            if not has_session(await user.get_auth_state()):
                return False  # logged out: the state holds at most the Keycloak sub
            epoch = broker.epoch(user.name)
            try:
                model = await super().refresh_user(user, handler, **kwargs)
            except Exception as e:
                if not keycloak_down(e):
                    raise
                # Keycloak cannot check the login now (down, restarting): keep the hub
                # session until JupyterHub's next check (auth_refresh_age) rather than fail
                # the request; JupyterHub would log a traceback and treat the caller as
                # anonymous, so the broker would answer login_required (log in again: wrong,
                # and impossible while Keycloak is down). Nothing is minted meanwhile: a mint
                # needs Keycloak (idp_unavailable while it is down).
                self.log.warning(
                    "Keycloak did not answer the login check of %s (%s): session kept until "
                    "the next check",
                    user.name,
                    getattr(e, "code", None) or type(e).__name__,
                )
                return True
            if not isinstance(model, dict):
                return model
            if broker.epoch(user.name) != epoch:
                return False  # revoked meanwhile: JupyterHub must not save these tokens
            if not await self._allowed(user.name, model):
                await self._revoke_not_allowed(user)
                return False
            if model.get("auth_state") is not None:
                # Saved under the lock (JupyterHub saves it again after we return): with
                # refresh-token rotation, a refresh queued behind this one (the broker's) must
                # find the rotated refresh token, not the one Keycloak just spent.
                await user.save_auth_state(model["auth_state"])
            return model

    async def delete_user(self, user: Any) -> None:
        """A deleted hub user's tokens go with it: the broker revokes the name, so that a user
        created later under that name (possibly another Keycloak account) is never served a
        token cached for the deleted one; their job grants end. (JupyterHub awaits this.)"""
        self.broker.revoke(user.name)
        await self.end_grants(user.name, user.db, ENDED_BY_DELETION)
        super().delete_user(user)

    async def _revoke_not_allowed(self, user: Any) -> None:
        self.log.warning(
            "%s is no longer in the allowed groups %s: session revoked",
            user.name,
            ",".join(sorted(self.allowed_groups)),
        )
        self.broker.revoke(user.name)
        await user.save_auth_state(logged_out_state(await user.get_auth_state()))

    async def _allowed(self, username: str, model: dict[str, Any]) -> bool:
        """JupyterHub's login checks (blocked users, ``allow_all``, ``check_allowed``)."""
        checks = [self.check_blocked_users]
        if not self.allow_all:
            checks.append(self.check_allowed)
        for check in checks:
            try:
                passed = check(username, model)
                if isawaitable(passed):
                    passed = await passed
            except HTTPError:  # a refusal that explains itself at login (check_allowed)
                return False
            if not passed:
                return False
        return True

    async def still_allowed(self, username: str, token_info: dict[str, Any]) -> bool:
        """Whether the user may still use the hub, from a refresh's answer (the broker asks
        after each refresh of the user's Keycloak token).

        The refreshed access token carries the hub client's groups claim (the same mapper
        as userinfo at login): its claims stand in for the userinfo response and go through
        the same steps as a login (groups by path, admin groups, ``check_allowed``). The
        token is read without verifying its signature: it came straight from Keycloak's
        token endpoint over the back channel, as OAuthenticator reads ID tokens.
        """
        claims = unverified_claims(token_info.get("access_token"))
        auth_state = self.build_auth_state_dict(token_info, claims)
        if isawaitable(auth_state):
            auth_state = await auth_state
        model: dict[str, Any] = {
            "name": username,
            "admin": True if username in self.admin_users else None,
            "auth_state": auth_state,
        }
        model = await self.update_auth_model(model)
        if self.manage_groups:
            groups = await self.get_user_groups(auth_state)
            model["groups"] = sorted(groups)
            if self.admin_groups and not model["admin"]:
                model["admin"] = bool(groups & self.admin_groups)
        return await self._allowed(username, model)

    async def build_auth_state_dict(
        self, token_info: dict[str, Any], user_info: dict[str, Any]
    ) -> dict[str, Any]:
        """OAuthenticator's auth_state, plus the Keycloak account's ``sub`` (``SUB_KEY``)."""
        state = super().build_auth_state_dict(token_info, user_info)
        if isawaitable(state):
            state = await state
        state[SUB_KEY] = (user_info or {}).get("sub")
        return state

    async def run_post_auth_hook(self, handler: Any, auth_model: dict[str, Any]) -> Any:
        """Refuse a login whose Keycloak account (``sub``) is not the one the hub user of that
        name is bound to: a Keycloak account deleted and re-created with the same username
        must not inherit the old hub user (its volume, tokens, servers).

        Runs after ``check_allowed``, at login only (JupyterHub passes the handler here).
        A hub user with no sub recorded (new, or from before this check) is bound to the
        account that logs in: its auth_state records the sub when JupyterHub saves it.
        """
        username = auth_model["name"]
        sub = (auth_model.get("auth_state") or {}).get(SUB_KEY)
        if not sub:
            self.log.warning("login of %s refused: Keycloak sent no sub", username)
            raise HTTPError(
                403, "Keycloak did not say which account logged in (no sub): log in again."
            )
        existing = handler.find_user(username)
        if existing is not None:
            known = (await existing.get_auth_state() or {}).get(SUB_KEY)
            if known and known != sub:
                self.log.warning(
                    "login of %s refused: Keycloak account sub=%s is not the one this hub "
                    "user is bound to (sub=%s): the account was re-created",
                    username,
                    sub,
                    known,
                )
                raise HTTPError(
                    403,
                    f"the Keycloak account {username} was re-created (a different account "
                    "than the one this hub knew): a hub admin must delete the old hub user "
                    f"{username} before it can log in",
                )
            if not known:
                self.log.info("hub user %s bound to Keycloak account sub=%s", username, sub)
        return await super().run_post_auth_hook(handler, auth_model)

    async def end_keycloak_session(self, refresh_token: str) -> None:
        """End the user's Keycloak session from the back channel (best effort, logged)."""
        try:
            async with httpx.AsyncClient(timeout=self.keycloak_timeout) as http:
                response = await http.post(
                    self._oidc(self.keycloak_backchannel_url, "logout"),
                    data={"refresh_token": refresh_token},
                    auth=(self.client_id, self.client_secret),
                )
            if response.status_code >= 400:
                self.log.warning("Keycloak logout answered HTTP %s", response.status_code)
        except httpx.HTTPError as e:
            self.log.warning("Keycloak logout failed: %s", type(e).__name__)
