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

from hubbroker.authstates import AuthStates
from hubbroker.cache import CacheKey, Minted, TokenCache
from hubbroker.errors import BrokerError
from hubbroker.exchange import exchange_token
from hubbroker.guards import MintRateLimiter, RequestLimits
from hubbroker.policy import Policy
from hubbroker.singleflight import KeyedLocks, SingleFlight
from tokencontract.claims import unverified_claims
from tokencontract.errors import echo
from tokencontract.expiry import usable
from tokencontract.scopes import normalize_scope

Refresher = Callable[[str], Awaitable[dict[str, Any]]]
#: ``still_allowed(username, token_info)``: whether the user may still use the hub, judged
#: from a refresh's answer (KeycloakAuthenticator.still_allowed reads its groups claim).
AllowedCheck = Callable[[str, dict[str, Any]], Awaitable[bool]]

#: The auth_state key that binds a hub user to its Keycloak account (the ``sub``); it is the
#: only key kept at logout (see ``logged_out_state``).
SUB_KEY = "keycloak_sub"


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


def has_session(state: dict[str, Any] | None) -> bool:
    """Whether an auth_state holds a Keycloak session: an access token. A logged-out user's
    state is None or only ``{SUB_KEY: sub}`` (``logged_out_state``)."""
    return bool(state and state.get("access_token"))


def logged_out_state(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a user's auth_state becomes at logout or revocation: no token, only the Keycloak
    ``sub`` the hub user is bound to (KeycloakAuthenticator refuses a login of the same
    username by another account). JupyterHub keeps no other per-user field that the
    authenticator can read at login and that survives logout, so the sub stays here,
    encrypted like the rest; nothing reads a token from a state without ``access_token``."""
    sub = (state or {}).get(SUB_KEY)
    return {SUB_KEY: sub} if sub else None


def logged_out(username: str) -> BrokerError:
    return BrokerError(
        "login_required",
        f"the hub holds no Keycloak session for {username} (logged out or never logged in): "
        "log in to the hub again.",
    )


def revoked_meanwhile(username: str) -> BrokerError:
    return BrokerError(
        "login_required",
        f"you logged out while this token was minted: log in again (the hub revoked {username}'s "
        "session meanwhile; nothing was kept).",
    )


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

    Revocation: ``revoke(username)`` (logout, a user no longer allowed) bumps the user's
    *epoch* and drops their cached tokens. A mint records the epoch when it starts; a mint or
    refresh that finishes under another epoch neither caches nor saves anything and answers
    ``login_required``; a cache hit also needs the user's auth_state to still hold a session.
    ``still_allowed`` (optional) is asked after each refresh of the user's Keycloak token:
    False revokes the user. Epochs live in memory (one hub process), from 0 per user.
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
        still_allowed: AllowedCheck | None = None,
    ) -> None:
        self.policy = policy
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresher = refresher
        self.http = http or httpx.AsyncClient(timeout=10.0)
        self.refresh_margin = refresh_margin
        self.cache = TokenCache(margin=cache_margin, clock=clock)
        self.locks = KeyedLocks()  # per user: one refresh of their Keycloak token at a time
        self.flights = SingleFlight()  # per cache key and epoch: one exchange at a time
        self.auth_states = AuthStates()  # decrypted once per change, not once per token
        self.log = log or logging.getLogger("hubbroker")
        self.clock = clock
        self.limits = limits or RequestLimits()
        self.rate_limiter = rate_limiter or MintRateLimiter(0, 0)
        self.still_allowed = still_allowed
        self._epochs: dict[str, int] = {}

    def epoch(self, username: str) -> int:
        """How many times the user was revoked since the hub started."""
        return self._epochs.get(username, 0)

    def held(self, username: str, server: str) -> list[Minted]:
        """The tokens one server of a user holds now (the cache: minted for it, usable)."""
        return self.cache.held_by(username, server)

    def forget(self, username: str, server: str) -> int:
        """Drop the tokens cached for one server of a user (``DELETE`` on the broker: "mint
        afresh next time", e.g. after an admin changed the user's roles)."""
        dropped = self.cache.forget_server(username, server)
        self.log.info(
            "token-exchange: forgot user=%s server=%s cached_tokens_dropped=%d",
            username,
            server,
            dropped,
        )
        return dropped

    def revoke(self, username: str) -> int:
        """Revoke what the broker holds for a user, at once (no await): bump the epoch (mints
        and refreshes in flight will neither cache nor save) and drop the cached tokens.
        Returns how many cached tokens were dropped. The caller clears auth_state."""
        self._epochs[username] = self.epoch(username) + 1
        dropped = self.cache.forget_user(username)
        self.auth_states.forget(username)
        self.log.info(
            "token-exchange: revoked user=%s epoch=%d cached_tokens_dropped=%d",
            username,
            self._epochs[username],
            dropped,
        )
        return dropped

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
        epoch = self.epoch(user.name)
        cached = await self._cached(user, server, key, epoch)
        if cached is not None:
            return cached, True
        # Single flight: of the callers that miss the same key at once, one exchanges and the
        # others get its token (or its error): one exchange per key per token lifetime,
        # however many clients ask when a token expires.
        minted, ran = await self.flights.run(
            (key, epoch), lambda: self._mint(user, server, key, epoch)
        )
        if not ran:
            self._audit(user.name, server, minted, cached=True)
        return minted, not ran

    async def _cached(self, user: HubUser, server: str, key: CacheKey, epoch: int) -> Minted | None:
        """The cached token of ``key`` if the user still holds a session, else None."""
        cached = self.cache.get(key, epoch)
        if cached is None:
            return None
        # The hub must still hold the user's Keycloak session (a logout, even one this
        # broker did not see, clears it): one auth_state read per hit.
        if not has_session(await self.auth_states.read(user)):
            self.revoke(user.name)
            raise logged_out(user.name)
        if self.epoch(user.name) != epoch:  # revoked while auth_state was read
            raise revoked_meanwhile(user.name)
        self._audit(user.name, server, cached, cached=True)
        return cached

    async def _mint(self, user: HubUser, server: str, key: CacheKey, epoch: int) -> Minted:
        """A cache miss: exchange at Keycloak (after the rate limit), cache and audit."""
        _user, _server, audience, scopes = key
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
        subject_token = await self.fresh_access_token(user, epoch)
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
        now = self.clock()
        minted = Minted(
            access_token=body["access_token"],
            expires_at=now + float(body.get("expires_in", 0)),
            scope=" ".join(scopes),
            audience=audience,
            minted_at=now,
        )
        if self.epoch(user.name) != epoch:  # logout (or revocation) while Keycloak answered
            self.log.warning(
                "token-exchange: user=%s revoked during a mint: token dropped", user.name
            )
            raise revoked_meanwhile(user.name)
        self.cache.put(key, minted, epoch)
        self._audit(user.name, server, minted, cached=False)
        return minted

    async def fresh_access_token(self, user: HubUser, epoch: int | None = None) -> str:
        """The user's Keycloak access token, refreshed first if it expires soon.

        One refresh per user at a time: concurrent mints wait for the first refresh and then
        use its result. The rotated refresh token is saved before the new access token is used.
        ``epoch`` (default: the current one) is the revocation epoch the caller started under:
        a refresh that ends under another epoch saves nothing (login_required); a refresh
        whose token ``still_allowed`` refuses revokes the user.
        """
        if epoch is None:
            epoch = self.epoch(user.name)
        async with self.locks.hold(user.name):
            if self.epoch(user.name) != epoch:
                raise revoked_meanwhile(user.name)
            state = await self.auth_states.read(user)
            if not state or not has_session(state):
                raise logged_out(user.name)
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
            allowed = True
            if self.still_allowed is not None:
                allowed = await self.still_allowed(user.name, token_info)
            if self.epoch(user.name) != epoch:  # revoked during the refresh: save nothing
                self.log.warning(
                    "token-exchange: user=%s revoked during a refresh: not saved", user.name
                )
                raise revoked_meanwhile(user.name)
            if not allowed:
                self.revoke(user.name)
                await user.save_auth_state(logged_out_state(state))
                self.log.warning(
                    "token-exchange: user=%s is no longer allowed on the hub (Keycloak groups): "
                    "revoked",
                    user.name,
                )
                raise BrokerError(
                    "login_required",
                    f"{user.name} is no longer allowed to use this hub (Keycloak groups "
                    "changed): the hub ended the session; ask a hub admin for approval, then "
                    "log in again.",
                )
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
