"""The one rule for "is this token still usable": used by the notebook client's cache, the
broker's cache and the broker's decision to refresh the user's Keycloak token."""

from __future__ import annotations


def usable(expires_at: float, margin: float, now: float) -> bool:
    """True while a token expiring at ``expires_at`` has more than ``margin`` seconds left
    at ``now`` (both in epoch seconds)."""
    return expires_at - now > margin
