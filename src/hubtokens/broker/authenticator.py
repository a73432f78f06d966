"""GenericOAuthenticator for Keycloak, carrying the token broker.

Everything Keycloak-specific the hub needs lives here: URLs derived from one base URL and
realm, the broker's API handler, a logout that ends the Keycloak session, and a refresh that
shares the broker's per-user lock.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
from oauthenticator.generic import GenericOAuthenticator
from tornado.httpclient import HTTPClientError
from tornado.web import HTTPError
from traitlets import Float, Integer, Unicode, default

from apiregistry import ConfigError, apis_of_realm, load_registry
from hubtokens.broker.errors import BrokerError
from hubtokens.broker.guards import MintRateLimiter, RequestLimits
from hubtokens.broker.handlers import KeycloakLogoutHandler, TokenExchangeHandler
from hubtokens.broker.policy import Policy
from hubtokens.broker.service import TokenBroker
from stackconf import settings as conf


def group_name(path: str) -> str:
    """A Keycloak group path as the hub's group name: the path without its leading slash."""
    return path[1:] if path.startswith("/") else path


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

    realm = Unicode(config=True, help="The Keycloak realm. Env: KEYCLOAK_REALM.")

    @default("realm")
    def _realm_default(self) -> str:
        return conf.get("KEYCLOAK_REALM")

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

    post_logout_redirect_uri = Unicode(
        config=True, help="Where Keycloak sends the browser after logout (the hub's home)."
    )

    api_registry = Unicode(
        config=True,
        help="The protected-API registry (idp/apis.yml): the APIs of this realm are the "
        "audiences and scopes notebooks may request. Env: IDP_API_REGISTRY.",
    )

    @default("api_registry")
    def _api_registry_default(self) -> str:
        return conf.get("IDP_API_REGISTRY")

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

    cache_margin = Float(
        config=True,
        help="A minted token is served from the broker's cache only while it has more than "
        "this many seconds left. Env: TOKEN_CACHE_MARGIN.",
    )

    @default("cache_margin")
    def _cache_margin_default(self) -> float:
        return conf.get_float("TOKEN_CACHE_MARGIN")

    refresh_margin = Float(
        config=True,
        help="The user's Keycloak token is refreshed when it has less than this many seconds "
        "left. Env: TOKEN_REFRESH_MARGIN.",
    )

    @default("refresh_margin")
    def _refresh_margin_default(self) -> float:
        return conf.get_float("TOKEN_REFRESH_MARGIN")

    max_request_body = Integer(
        config=True,
        help="The largest token-exchange request body in bytes (larger: 413 request_too_large). "
        "Env: TOKEN_EXCHANGE_MAX_BODY.",
    )

    @default("max_request_body")
    def _max_request_body_default(self) -> int:
        return conf.get_int("TOKEN_EXCHANGE_MAX_BODY")

    max_scopes = Integer(
        config=True,
        help="The most scopes one token-exchange request may ask for (more: 400). "
        "Env: TOKEN_EXCHANGE_MAX_SCOPES.",
    )

    @default("max_scopes")
    def _max_scopes_default(self) -> int:
        return conf.get_int("TOKEN_EXCHANGE_MAX_SCOPES")

    max_name_length = Integer(
        config=True,
        help="The longest audience or scope name a token-exchange request may send (longer: "
        "400). Env: TOKEN_EXCHANGE_MAX_NAME_LENGTH.",
    )

    @default("max_name_length")
    def _max_name_length_default(self) -> int:
        return conf.get_int("TOKEN_EXCHANGE_MAX_NAME_LENGTH")

    mint_rate = Integer(
        config=True,
        help="Mints per user per minute that may reach Keycloak (cache misses; more: 429 "
        "rate_limited with Retry-After); 0: no limit. Env: TOKEN_EXCHANGE_RATE.",
    )

    @default("mint_rate")
    def _mint_rate_default(self) -> int:
        return conf.get_int("TOKEN_EXCHANGE_RATE")

    mint_burst = Integer(
        config=True,
        help="Of those, at most this many within any 10 seconds. Env: TOKEN_EXCHANGE_BURST.",
    )

    @default("mint_burst")
    def _mint_burst_default(self) -> int:
        return conf.get_int("TOKEN_EXCHANGE_BURST")

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
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresher=self.refresh_keycloak_token,
            cache_margin=self.cache_margin,
            refresh_margin=self.refresh_margin,
            log=self.log,
            limits=RequestLimits(
                max_body=self.max_request_body,
                max_scopes=self.max_scopes,
                max_name_length=self.max_name_length,
            ),
            rate_limiter=MintRateLimiter(self.mint_rate, self.mint_burst),
        )

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        return [*super().get_handlers(app), (r"/api/token-exchange", TokenExchangeHandler)]

    async def refresh_keycloak_token(self, refresh_token: str) -> dict[str, Any]:
        """Use the refresh token once; map failures to the broker's error codes."""
        params = self.build_refresh_token_request_params(refresh_token)
        try:
            return await self.get_token_info(None, params)
        except HTTPClientError as e:
            if e.code == 599 or e.code >= 500:
                raise BrokerError(
                    "idp_unavailable",
                    f"Keycloak could not refresh the login (HTTP {e.code}); try again shortly.",
                ) from None
            raise BrokerError(
                "login_required",
                "your Keycloak session has ended (the refresh was refused): "
                "log in to the hub again.",
            ) from None
        except HTTPError:
            raise BrokerError(
                "login_required",
                "your Keycloak session has ended: log in to the hub again.",
            ) from None
        except OSError as e:
            raise BrokerError(
                "idp_unavailable", f"Keycloak could not be reached ({type(e).__name__})."
            ) from None

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        # Share the broker's per-user lock so a refresh token is never used twice at once.
        async with self.broker.locks.hold(user.name):
            return await super().refresh_user(user, handler, **kwargs)

    async def end_keycloak_session(self, refresh_token: str) -> None:
        """End the user's Keycloak session from the back channel (best effort, logged)."""
        try:
            async with httpx.AsyncClient(timeout=10.0) as http:
                response = await http.post(
                    self._oidc(self.keycloak_backchannel_url, "logout"),
                    data={"refresh_token": refresh_token},
                    auth=(self.client_id, self.client_secret),
                )
            if response.status_code >= 400:
                self.log.warning("Keycloak logout answered HTTP %s", response.status_code)
        except httpx.HTTPError as e:
            self.log.warning("Keycloak logout failed: %s", type(e).__name__)
