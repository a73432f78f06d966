"""The broker's core: policy, cache, single-flight refresh, exchange, audit.

Independent of tornado and JupyterHub's handlers, so that it can be unit tested with fakes:
the user is anything with ``name``, ``get_auth_state()`` and ``save_auth_state()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from hubtokens.broker.cache import Minted, TokenCache
from hubtokens.broker.errors import BrokerError
from hubtokens.broker.exchange import exchange_token
from hubtokens.broker.guards import MintRateLimiter, RequestLimits
from hubtokens.broker.policy import Policy
from hubtokens.broker.singleflight import KeyedLocks
from hubtokens.errors import echo
from hubtokens.expiry import usable
from hubtokens.jwt_claims import unverified_claims
from hubtokens.scopes import normalize_scope

Refresher = Callable[[str], Awaitable[dict[str, Any]]]


class HubUser(Protocol):
    name: str

    async def get_auth_state(self) -> dict[str, Any] | None: ...

    async def save_auth_state(self, auth_state: dict[str, Any] | None) -> None: ...


def token_expiry(access_token: str) -> float:
    """The ``exp`` of a JWT we received straight from Keycloak over TLS/loopback.

    Read without verifying the signature: the hub only needs to know when to refresh;
    Keycloak and the APIs verify the token themselves. 0 when there is no ``exp``.
    """
    try:
        return float(unverified_claims(access_token)["exp"])
    except (KeyError, TypeError, ValueError):
        return 0.0


def realm_roles(access_token: str | None) -> list[str]:
    """The realm roles in a Keycloak access token (for listing, not for decisions)."""
    claims = unverified_claims(access_token)
    return list((claims.get("realm_access") or {}).get("roles") or [])


class TokenBroker:
    """Mints tokens for ``(user, server, audience, scope)``.

    ``cache_margin``: a minted token is served from the cache only while it has more than
    this many seconds left. ``refresh_margin``: the user's Keycloak token is refreshed when
    it has less than this many seconds left. (KeycloakAuthenticator passes both.)
    ``limits`` bound one request (scope count, name lengths; the handler checks the body
    size with them); ``rate_limiter`` bounds the mints per user that reach Keycloak. Both are
    off unless given: KeycloakAuthenticator passes them from its settings (TOKEN_EXCHANGE_*).
    """

    def __init__(
        self,
        *,
        policy: Policy,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresher: Refresher,
        cache_margin: float,
        refresh_margin: float,
        http: httpx.AsyncClient | None = None,
        log: logging.Logger | None = None,
        clock: Callable[[], float] = time.time,
        limits: RequestLimits | None = None,
        rate_limiter: MintRateLimiter | None = None,
    ) -> None:
        self.policy = policy
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresher = refresher
        self.http = http or httpx.AsyncClient(timeout=10.0)
        self.refresh_margin = refresh_margin
        self.cache = TokenCache(margin=cache_margin, clock=clock)
        self.locks = KeyedLocks()
        self.log = log or logging.getLogger("hubtokens.broker")
        self.clock = clock
        self.limits = limits or RequestLimits()
        self.rate_limiter = rate_limiter or MintRateLimiter(0, 0)

    async def mint(
        self, user: HubUser, server: str, audience: str, scope: Any
    ) -> tuple[Minted, bool]:
        """Return ``(token, served_from_cache)`` or raise ``BrokerError``."""
        if not isinstance(audience, str) or not audience:
            raise BrokerError("invalid_request", 'audience is required, e.g. "fruit-api"')
        try:
            scopes = normalize_scope(scope)
        except ValueError as e:
            raise BrokerError("invalid_request", str(e)) from None
        self.limits.check(audience, scopes)
        self.policy.check(audience, scopes, user.name)
        key = (user.name, server, audience, scopes)
        cached = self.cache.get(key)
        if cached is not None:
            self._audit(user.name, server, cached, cached=True)
            return cached, True
        try:  # a cache miss: counted before Keycloak is asked
            self.rate_limiter.hit(user.name)
        except BrokerError as error:
            self.log.warning(
                "token-exchange: rate limited user=%s server=%s retry_after=%s",
                user.name,
                server or "default",
                error.retry_after,
            )
            raise
        subject_token = await self.fresh_access_token(user)
        try:
            body = await exchange_token(
                self.http,
                self.token_url,
                self.client_id,
                self.client_secret,
                subject_token,
                audience,
                scopes,
            )
        except BrokerError as error:
            if error.code == "scope_not_allowed":  # Keycloak produced no token for the audience
                raise self._not_granted(user.name, audience, scopes, scopes) from None
            raise
        granted = set(str(body.get("scope", "")).split())
        missing = tuple(s for s in scopes if s not in granted)
        if missing:
            raise self._not_granted(user.name, audience, missing, scopes)
        minted = Minted(
            access_token=body["access_token"],
            expires_at=self.clock() + float(body.get("expires_in", 0)),
            scope=" ".join(scopes),
            audience=audience,
        )
        self.cache.put(key, minted)
        self._audit(user.name, server, minted, cached=False)
        return minted, False

    async def fresh_access_token(self, user: HubUser) -> str:
        """The user's Keycloak access token, refreshed first if it expires soon.

        One refresh per user at a time: concurrent mints wait for the first refresh and then
        use its result. The rotated refresh token is saved before the new access token is used.
        """
        async with self.locks.hold(user.name):
            state = await user.get_auth_state()
            if not state or not state.get("access_token"):
                raise BrokerError(
                    "login_required",
                    f"the hub holds no Keycloak session for {user.name} (logged out or "
                    "never logged in): log in to the hub again.",
                )
            access_token = state["access_token"]
            if usable(token_expiry(access_token), self.refresh_margin, self.clock()):
                return access_token
            refresh_token = state.get("refresh_token")
            if not refresh_token:
                raise BrokerError(
                    "login_required",
                    f"{user.name}'s Keycloak token expired and the hub holds no refresh "
                    "token: log in to the hub again.",
                )
            token_info = await self.refresher(refresh_token)
            new_state = dict(state)
            new_state["access_token"] = token_info["access_token"]
            new_state["refresh_token"] = token_info.get("refresh_token") or refresh_token
            if token_info.get("id_token"):
                new_state["id_token"] = token_info["id_token"]
            new_state["token_response"] = token_info
            await user.save_auth_state(new_state)
            self.log.info("token-exchange: refreshed the Keycloak token of %s", user.name)
            return new_state["access_token"]

    def _not_granted(
        self, username: str, audience: str, missing: tuple[str, ...], asked: tuple[str, ...]
    ) -> BrokerError:
        return BrokerError(
            "scope_not_allowed",
            f"scope {echo(' '.join(missing))} is not granted to {username} for "
            f"{echo(audience)} (asked for: {echo(' '.join(asked))}): ask an admin for "
            f"{self.policy.describe(audience, missing)}.",
        )

    def forget(self, username: str) -> None:
        """Drop a user's cached tokens (called on logout)."""
        self.cache.forget_user(username)

    def _audit(self, username: str, server: str, minted: Minted, *, cached: bool) -> None:
        expires = datetime.fromtimestamp(minted.expires_at, UTC).isoformat(timespec="seconds")
        self.log.info(
            "token-exchange audit: user=%s server=%s audience=%s scope=%r expires_at=%s cached=%s",
            username,
            server or "default",
            minted.audience,
            minted.scope,
            expires,
            str(cached).lower(),
        )
