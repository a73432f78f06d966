"""Validate bearer JWTs issued by Keycloak against its JWKS (PyJWT)."""

from __future__ import annotations

from typing import Any, Protocol

import jwt

from fruit_api.settings import Settings
from hubtokens.jwt_claims import unverified_claims


class TokenError(Exception):
    """The token is missing or invalid; ``message`` says what is wrong, never the token."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeysUnavailableError(Exception):
    """The issuer's JWKS could not be fetched: our problem, not the caller's."""


class SigningKeySource(Protocol):
    """What we need from ``jwt.PyJWKClient``; tests inject a local one."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


def make_jwks_client(settings: Settings) -> jwt.PyJWKClient:
    """The production key source: Keycloak's JWKS, key set cached for 5 minutes."""
    return jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=10)


class TokenValidator:
    """Checks signature (algorithm allowlist), ``iss``, ``aud``, ``exp``, ``nbf``, ``iat``."""

    def __init__(self, settings: Settings, keys: SigningKeySource) -> None:
        self.settings = settings
        self.keys = keys

    def validate(self, token: str | None) -> dict[str, Any]:
        """Return the token's claims, or raise ``TokenError`` / ``KeysUnavailableError``."""
        s = self.settings
        if not token:
            raise TokenError("no bearer token: send Authorization: Bearer <token>")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError("malformed token: not a JWT") from None
        alg = header.get("alg")
        if alg not in s.algorithms:
            raise TokenError(
                f"algorithm {alg} is not allowed; this API accepts {', '.join(s.algorithms)}"
            )
        try:
            key = self.keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as e:
            raise KeysUnavailableError(f"cannot fetch signing keys from {s.jwks_url}") from e
        except jwt.PyJWKClientError:
            raise TokenError(
                f"signing key {header.get('kid')} is not one of the issuer's keys "
                f"({s.jwks_url}): the token was not issued by {s.issuer}"
            ) from None
        except jwt.InvalidTokenError:
            raise TokenError("malformed token: not a JWT") from None
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=list(s.algorithms),
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token is not valid yet (nbf or iat in the future)") from None
        except jwt.InvalidAudienceError:
            aud = unverified_claims(token).get("aud")  # only to explain the error
            raise TokenError(f"token audience is {aud}, this API is {s.audience}") from None
        except jwt.InvalidIssuerError:
            iss = unverified_claims(token).get("iss")  # only to explain the error
            raise TokenError(f"issuer {iss} is not {s.issuer}") from None
        except jwt.InvalidSignatureError:
            raise TokenError("signature invalid") from None
        except jwt.MissingRequiredClaimError as e:
            raise TokenError(f"token has no {e.claim} claim") from None
        except jwt.InvalidTokenError as e:
            raise TokenError(f"invalid token: {e}") from None
