"""The one place a JWT is read without verification.

For inspection only (when to refresh, which roles to show, what to put in an error
message, what a notebook displays): never base an access decision on these claims. The
APIs verify tokens themselves (signature, issuer, audience, expiry).
"""

from __future__ import annotations

from typing import Any

import jwt


def unverified_claims(token: str | None) -> dict[str, Any]:
    """The payload of ``token`` decoded WITHOUT verifying anything (signature, expiry,
    audience). Empty when ``token`` is empty or not a JWT."""
    if not isinstance(token, str) or not token:
        return {}
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}
