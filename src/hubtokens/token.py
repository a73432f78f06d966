"""The access token object: carries the secret but never shows it."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from tokencontract.claims import unverified_claims
from tokencontract.expiry import usable

#: Claims shown by the notebook view; all are safe to display.
DISPLAY_CLAIMS = ("sub", "preferred_username", "aud", "azp", "scope", "iat", "exp")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, eq=True, repr=False)
class AccessToken:
    """A short-lived access token for one API (``audience``) and some scopes.

    ``repr()``, ``str()`` and the notebook view never show the secret, so a token can be
    printed or displayed in a shared notebook. Take the secret deliberately with
    :attr:`value` or :meth:`bearer`.
    """

    value: str = field(repr=False)
    audience: str
    scope: str
    expires_at: datetime

    def __post_init__(self) -> None:
        if self.expires_at.tzinfo is None:
            raise ValueError("expires_at must be a timezone-aware datetime")

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes as a set."""
        return frozenset(self.scope.split())

    @property
    def expires_in(self) -> float:
        """Seconds left before expiry (negative once expired)."""
        return (self.expires_at - _now()).total_seconds()

    def expired(self, leeway: float = 0) -> bool:
        """True if the token expires within ``leeway`` seconds (or already has)."""
        return not usable(self.expires_at.timestamp(), leeway, _now().timestamp())

    def bearer(self) -> str:
        """The ``Authorization`` header value: ``"Bearer <token>"``."""
        return f"Bearer {self.value}"

    @cached_property
    def claims(self) -> dict[str, Any]:
        """The token's payload, decoded WITHOUT verifying its signature.

        For inspection only (who, which audience, which scopes, when): never base an
        access decision on these claims; the API verifies the token. Empty for a token
        that is not a JWT. See :func:`tokencontract.claims.unverified_claims`.
        """
        return unverified_claims(self.value)

    def _summary(self) -> str:
        left = self.expires_in
        when = f"in {left:.0f}s" if left > 0 else "expired"
        return f"expires_at={_iso(self.expires_at)} ({when})"

    def __repr__(self) -> str:
        return f"<AccessToken audience={self.audience!r} scope={self.scope!r} {self._summary()}>"

    __str__ = __repr__

    def _repr_html_(self) -> str:
        claims = self.claims
        rows = []
        for name in DISPLAY_CLAIMS:
            if name not in claims:
                continue
            value = claims[name]
            if name in ("iat", "exp") and isinstance(value, int | float):
                value = _iso(datetime.fromtimestamp(value, UTC))
            elif isinstance(value, list):
                value = " ".join(str(v) for v in value)
            rows.append(f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>")
        caption = html.escape(
            f"AccessToken for {self.audience} ({self._summary()}); signature not verified here"
        )
        return f"<table><caption>{caption}</caption>{''.join(rows)}</table>"
