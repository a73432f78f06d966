"""Job grants (docs/jobs.md): what a user gives unattended work, held by the hub.

A grant has a name, scopes (each one whose ``jobs:`` policy in idp/apis.yml allows it; a
scope names its API, since a scope belongs to one API of its realm) and a deadline within the
shortest ``max_days`` of its scopes. Keycloak holds it as an offline session of the job-grants
client (apiregistry.JOBS_CLIENT), which the user opened with a fresh sign-in and the consent
screen; the hub holds that session's offline token, encrypted with JUPYTERHUB_CRYPT_KEY, in a
table of its own database (``GrantStore``), and never gives it to any container.
"""

from __future__ import annotations

import re
import secrets
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Column, Float, LargeBinary, MetaData, String, Table, Text, select, update
from sqlalchemy.orm import Session

from apiregistry import ApiSpec, ScopeSpec
from hubbroker.errors import BrokerError
from tokencontract.errors import echo

#: A grant's name: what the user, the job list and the audit log call it.
GRANT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
DAY = 86400
#: A grant's states: active until revoked (by the user, an admin or Keycloak) or its deadline.
ACTIVE, REVOKED, EXPIRED = "active", "revoked", "expired"
DEADLINE_PASSED = "its deadline passed"

METADATA = MetaData()
#: The databases (engines) whose table this process made or found.
_TABLES_MADE: weakref.WeakSet[Any] = weakref.WeakSet()
GRANTS = Table(
    "hubbroker_job_grants",
    METADATA,
    Column("id", String(32), primary_key=True),
    Column("username", String(255), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("scopes", Text, nullable=False),  # space-separated
    Column("created_at", Float, nullable=False),
    Column("deadline", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    # The offline token, encrypted (jupyterhub.crypto); emptied when the grant ends.
    Column("offline_token", LargeBinary, nullable=True),
)


@dataclass(frozen=True)
class GrantRequest:
    """What a user asks for: checked against the policy by ``plan_grant``."""

    name: str
    scopes: tuple[str, ...]  # sorted
    days: int

    @property
    def keycloak_scope(self) -> str:
        """The authorization request's ``scope``: an offline session holding these scopes."""
        return " ".join(("openid", "offline_access", *self.scopes))


@dataclass(frozen=True)
class Grant:
    """A grant as the hub lists it (never its token)."""

    id: str
    user: str
    name: str
    scopes: tuple[str, ...]
    created_at: float
    deadline: float
    state: str
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "deadline": self.deadline,
            "state": self.state,
            "reason": self.reason,
        }


def job_scopes(apis: dict[str, ApiSpec]) -> dict[str, tuple[ApiSpec, ScopeSpec]]:
    """Every scope a grant may hold (its ``jobs:`` policy allows it): scope -> its API and it."""
    return {name: (api, scope) for api in apis.values() for name, scope in api.job_scopes.items()}


def plan_grant(
    apis: dict[str, ApiSpec], name: str, scopes: Iterable[str], days: Any
) -> GrantRequest:
    """Check a request against the policy; ``BrokerError`` naming the cause and the fix."""
    if not isinstance(name, str) or not GRANT_NAME.fullmatch(name):
        raise BrokerError(
            "invalid_request",
            f"grant name {echo(str(name))!r}: use 1 to 64 lower-case letters, digits, . _ - "
            "(starting with a letter or digit)",
        )
    allowed = job_scopes(apis)
    wanted = sorted(set(scopes))
    if not wanted:
        offered = ", ".join(sorted(allowed)) or "none: no scope of this hub allows jobs"
        raise BrokerError("invalid_request", f"choose at least one scope (offered: {offered})")
    refused = [scope for scope in wanted if scope not in allowed]
    if refused:
        raise BrokerError(
            "scope_not_allowed",
            f"scope {echo(refused[0])} may not be granted to jobs (idp/apis.yml gives it no "
            f"jobs: policy); scopes that may: {', '.join(sorted(allowed)) or 'none'}",
        )
    longest = min(allowed[scope][1].jobs.max_days for scope in wanted)
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise BrokerError(
            "invalid_request", f"days must be a whole number, got {echo(str(days))}"
        ) from None
    if not 1 <= days <= longest:
        shortest = min(wanted, key=lambda scope: allowed[scope][1].jobs.max_days)
        raise BrokerError(
            "invalid_request",
            f"a grant of {', '.join(wanted)} may last 1 to {longest} day(s) ({shortest}: "
            f"at most {longest} in idp/apis.yml), got {days}",
        )
    return GrantRequest(name, tuple(wanted), days)


def missing_scopes(token_scope: str, request: GrantRequest) -> list[str]:
    """The scopes of ``request`` that Keycloak left out of the grant's token (the user lacks
    their roles): empty when the grant holds everything asked for."""
    held = set(token_scope.split())
    return [scope for scope in request.scopes if scope not in held]


class GrantStore:
    """The hub's table of grants, in its own database (the session JupyterHub handlers use)."""

    def __init__(self, db: Session, clock: Any = time.time) -> None:
        self.db, self.clock = db, clock
        bind = db.get_bind()
        if bind not in _TABLES_MADE:  # once per database per process
            METADATA.create_all(bind, checkfirst=True)
            _TABLES_MADE.add(bind)

    def _grant(self, row: Any) -> Grant:
        return Grant(
            row.id,
            row.username,
            row.name,
            tuple(row.scopes.split()),
            row.created_at,
            row.deadline,
            row.state,
            row.reason,
        )

    def add(self, user: str, request: GrantRequest, encrypted_token: bytes) -> Grant:
        now = self.clock()
        grant = Grant(
            secrets.token_hex(8),
            user,
            request.name,
            request.scopes,
            now,
            now + request.days * DAY,
            ACTIVE,
        )
        self.db.execute(
            GRANTS.insert().values(
                id=grant.id,
                username=user,
                name=grant.name,
                scopes=" ".join(grant.scopes),
                created_at=grant.created_at,
                deadline=grant.deadline,
                state=ACTIVE,
                reason="",
                offline_token=encrypted_token,
            )
        )
        self.db.commit()
        return grant

    def list(self, user: str) -> list[Grant]:
        """The user's grants, newest first; an active one past its deadline shows expired."""
        rows = self.db.execute(
            select(GRANTS).where(GRANTS.c.username == user).order_by(GRANTS.c.created_at.desc())
        )
        grants = [self._grant(row) for row in rows]
        now = self.clock()
        return [
            replace(g, state=EXPIRED, reason=DEADLINE_PASSED)
            if g.state == ACTIVE and g.deadline <= now
            else g
            for g in grants
        ]

    def active_named(self, user: str, name: str) -> Grant | None:
        return next((g for g in self.list(user) if g.name == name and g.state == ACTIVE), None)

    def get(self, user: str, grant_id: str) -> Grant | None:
        """The user's grant of that id (another user's is None), as ``list`` shows it."""
        return next((g for g in self.list(user) if g.id == grant_id), None)

    def keep_token(self, user: str, grant_id: str, encrypted_token: bytes) -> None:
        """Store the offline token Keycloak rotated to (while the grant is active)."""
        self.db.execute(
            update(GRANTS)
            .where(GRANTS.c.username == user, GRANTS.c.id == grant_id, GRANTS.c.state == ACTIVE)
            .values(offline_token=encrypted_token)
        )
        self.db.commit()

    def token(self, user: str, grant_id: str) -> bytes | None:
        """The encrypted offline token of the user's grant (None once it ended)."""
        row = self.db.execute(
            select(GRANTS.c.offline_token).where(GRANTS.c.username == user, GRANTS.c.id == grant_id)
        ).first()
        return row.offline_token if row is not None else None

    def end(self, user: str, grant_id: str, state: str, reason: str) -> bool:
        """Mark the user's grant ended and drop its token; False if there is no such grant."""
        result = self.db.execute(
            update(GRANTS)
            .where(GRANTS.c.username == user, GRANTS.c.id == grant_id)
            .values(state=state, reason=reason, offline_token=None)
        )
        self.db.commit()
        return bool(result.rowcount)
