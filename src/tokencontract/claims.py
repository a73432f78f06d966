"""The one place a JWT is read without verification.

For inspection only (when to refresh, which roles to show, what to put in an error
message, what a notebook displays): never base an access decision on these claims. The
APIs verify tokens themselves (signature, issuer, audience, expiry).

Standard library only: a JWS in compact form is three base64url parts, the first the JOSE
header and the second the claims, each a JSON object (RFC 7515 section 7.1, RFC 7519 section 7).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def _part(token: str | None, index: int) -> dict[str, Any]:
    if not isinstance(token, str) or not token:
        return {}
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    segment = parts[index]
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def unverified_claims(token: str | None) -> dict[str, Any]:
    """The payload of ``token`` decoded WITHOUT verifying anything (signature, expiry,
    audience). Empty when ``token`` is empty or not a JWT."""
    return _part(token, 1)


def unverified_header(token: str | None) -> dict[str, Any]:
    """The JOSE header of ``token`` (``alg``, ``typ``, ``kid``...), not verified. Empty when
    ``token`` is empty or not a JWT."""
    return _part(token, 0)
