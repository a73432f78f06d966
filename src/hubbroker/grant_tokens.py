"""API tokens minted within a job grant (docs/jobs.md), never beyond it.

Keycloak 26 takes no offline token as the subject of a token exchange; what it supports is a
refresh of the grant's offline token narrowed by ``scope``: the access token holds only the
scopes asked for (each one an optional client scope of the job-grants client, so Keycloak
itself refuses any other with ``invalid_scope``), its audience is their API, and the user's
roles are checked again at every refresh (tests/integration/test_job_grants_keycloak.py).
Keycloak rotates the offline token at each refresh and ends the grant if an old one is used
again: one refresh per grant at a time (``KeyedLocks``), and the new token is stored before
the minted one is handed out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from apiregistry import ApiSpec
from hubbroker.cache import Minted
from hubbroker.errors import BrokerError
from hubbroker.grants import (
    ACTIVE,
    DEADLINE_PASSED,
    EXPIRED,
    REVOKED,
    Grant,
    GrantStore,
    job_scopes,
)
from hubbroker.service import token_expiry
from hubbroker.singleflight import KeyedLocks
from tokencontract.errors import echo
from tokencontract.expiry import usable

#: Why a grant ended, as the grants page and the job's error say it.
ENDED_AT_KEYCLOAK = (
    "Keycloak ended its offline session (revoked in Keycloak's account or admin console, "
    "or the account was disabled)"
)
log = logging.getLogger("hubbroker")

REVOKED_BY_OWNER = "revoked by its owner"
ENDED_BY_BLOCK = "the account was blocked (Access requests page)"
ENDED_BY_DELETION = "the hub user was deleted"

MAKE_ANOTHER = "make a new grant on the hub's Job grants page (/hub/grants)"


class GrantGone(Exception):
    """Keycloak no longer knows the grant's offline token (``invalid_grant``)."""


def check_within(grant: Grant, audience: str, scopes: tuple[str, ...], apis: dict) -> None:
    """Raise ``not_granted_to_job`` unless every scope is one the grant holds, for its API."""
    if not scopes:
        raise BrokerError("invalid_request", "name at least one scope of the grant.")
    offered = job_scopes(apis)

    def held(scope: str) -> bool:
        return scope in grant.scopes and scope in offered and offered[scope][0].name == audience

    outside = [scope for scope in scopes if not held(scope)]
    if outside:
        raise BrokerError(
            "not_granted_to_job",
            f"the job grant {grant.name!r} holds {' '.join(grant.scopes)}, not "
            f"{echo(' '.join(outside))} for {echo(audience)}: ask only for what it holds, or "
            f"{MAKE_ANOTHER}",
        )


def ended(grant: Grant) -> BrokerError:
    return BrokerError(
        "grant_ended",
        f"the job grant {grant.name!r} has ended ({grant.state}: {grant.reason}): {MAKE_ANOTHER}",
    )


class GrantTokens:
    """Mint within grants (each token cached until ``margin`` seconds before it expires), check
    them against Keycloak, end them.

    ``keycloak``: the job-grants client's calls (``GrantFlow``): ``refresh(offline_token,
    scopes)``, Keycloak's token response for a refresh narrowed to ``scopes``, or
    ``GrantGone``; ``revoke(offline_token)``, RFC 7009; ``alive(offline_token)``, whether
    Keycloak still holds the grant (None: it did not say). ``encrypt``/``decrypt``: the hub's
    (JUPYTERHUB_CRYPT_KEY).
    """

    def __init__(
        self,
        keycloak: Any,
        encrypt: Callable[[Any], Awaitable[bytes]],
        decrypt: Callable[[bytes], Awaitable[Any]],
        margin: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keycloak = keycloak
        self.encrypt, self.decrypt = encrypt, decrypt
        self.margin, self.clock = margin, clock
        self.locks = KeyedLocks()
        self.cache: dict[tuple[str, str, tuple[str, ...]], Minted] = {}

    async def check(self, store: GrantStore, user: str) -> list[Grant]:
        """The user's grants (``GrantStore.list``), after ending those Keycloak no longer
        holds (revoked in its account or admin console, the account disabled or deleted)."""
        held = []  # (grant, its offline token) for each active grant
        for grant in store.list(user):
            sealed = store.token(user, grant.id) if grant.state == ACTIVE else None
            if sealed is not None:
                held.append((grant, await self.decrypt(sealed)))
        verdicts = await asyncio.gather(*(self.keycloak.alive(offline) for _, offline in held))
        for (grant, _), alive in zip(held, verdicts, strict=True):
            if alive is False:
                await self.end(store, grant, REVOKED, ENDED_AT_KEYCLOAK)
        return store.list(user)

    async def mint(
        self,
        store: GrantStore,
        user: str,
        grant_id: str,
        audience: str,
        scopes: tuple[str, ...],
        apis: dict[str, ApiSpec],
    ) -> Minted:
        """A token of ``audience`` with ``scopes`` (sorted) within the user's grant."""
        grant = store.get(user, grant_id)
        if grant is None:
            raise BrokerError(
                "grant_ended", f"there is no job grant {echo(grant_id)!r}: {MAKE_ANOTHER}"
            )
        if grant.state == EXPIRED and store.token(user, grant.id) is not None:
            await self._expire(store, grant)
        if grant.state != ACTIVE:
            self.forget(grant.id)
            raise ended(grant)
        check_within(grant, audience, scopes, apis)
        key = (grant.id, audience, scopes)
        async with self.locks.hold(grant.id):
            if grant.deadline <= self.clock():  # passed while this mint waited
                await self._expire(store, grant)
                raise ended(store.get(user, grant.id) or grant)
            cached = self.cache.get(key)
            if cached is not None and usable(cached.expires_at, self.margin, self.clock()):
                return cached
            minted = await self._refresh(store, grant, audience, scopes)
            self.cache[key] = minted
            return minted

    async def _expire(self, store: GrantStore, grant: Grant) -> None:
        encrypted = store.token(grant.user, grant.id)
        offline = await self.decrypt(encrypted) if encrypted is not None else None
        await self.end(store, grant, EXPIRED, DEADLINE_PASSED, offline)

    async def _refresh(
        self, store: GrantStore, grant: Grant, audience: str, scopes: tuple[str, ...]
    ) -> Minted:
        encrypted = store.token(grant.user, grant.id)
        if encrypted is None:  # ended meanwhile (revoked from the page)
            raise ended(store.get(grant.user, grant.id) or grant)
        try:
            body = await self.keycloak.refresh(await self.decrypt(encrypted), scopes)
        except GrantGone:
            await self.end(store, grant, REVOKED, ENDED_AT_KEYCLOAK)
            raise ended(store.get(grant.user, grant.id) or grant) from None
        store.keep_token(grant.user, grant.id, await self.encrypt(body["refresh_token"]))
        held = set(str(body.get("scope", "")).split())
        lost = [scope for scope in scopes if scope not in held]
        if lost:
            raise BrokerError(
                "scope_not_allowed",
                f"Keycloak no longer grants {' '.join(lost)} to this user (their roles "
                f"changed since the job grant {grant.name!r} was made).",
            )
        now = self.clock()
        expires_at = token_expiry(body["access_token"]) or now + float(body["expires_in"])
        return Minted(body["access_token"], expires_at, " ".join(scopes), audience, now)

    async def revoke_grant(self, store: GrantStore, grant: Grant, reason: str) -> None:
        """End the grant at Keycloak (RFC 7009: its offline session only), then on the hub.
        ``BrokerError`` when Keycloak did not answer: the grant is kept, to try again."""
        encrypted = store.token(grant.user, grant.id)
        if encrypted is not None:
            await self.keycloak.revoke(await self.decrypt(encrypted))
        self.forget(grant.id)
        store.end(grant.user, grant.id, REVOKED, reason)

    async def end_all(self, store: GrantStore, user: str, reason: str) -> int:
        """End every active grant of ``user`` (blocked, deleted): on the hub in any case, at
        Keycloak when it answers. How many there were."""
        active = [grant for grant in store.list(user) if grant.state == ACTIVE]
        for grant in active:
            encrypted = store.token(user, grant.id)
            offline = await self.decrypt(encrypted) if encrypted is not None else None
            await self.end(store, grant, REVOKED, reason, offline)
        return len(active)

    async def end(
        self, store: GrantStore, grant: Grant, state: str, reason: str, offline: str | None = None
    ) -> None:
        """End the grant on the hub; with its offline token, at Keycloak too (best effort:
        the hub has forgotten the token either way)."""
        self.forget(grant.id)
        store.end(grant.user, grant.id, state, reason)
        if offline is not None:
            try:
                await self.keycloak.revoke(offline)
            except BrokerError as error:  # Keycloak ends it at its offline maximum anyway
                log.warning("job grant %s: Keycloak did not revoke it: %s", grant.id, error.code)

    def forget(self, grant_id: str) -> int:
        """Drop the tokens minted within the grant; how many there were."""
        keys = [key for key in self.cache if key[0] == grant_id]
        for key in keys:
            del self.cache[key]
        return len(keys)
