"""Validate bearer JWTs issued by Keycloak against its JWKS (PyJWT)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import jwt

from fruit_api.settings import Settings
from hubtokens.errors import echo
from hubtokens.jwt_claims import unverified_claims

log = logging.getLogger("fruit_api")

#: The ``typ`` claim of a Keycloak access token (ID tokens say ``ID``, refresh tokens
#: ``Refresh``, compared case-insensitively).
ACCESS_TOKEN_TYPE = "Bearer"  # noqa: S105 (a token type, not a secret)


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
    """Checks signature (algorithm allowlist), ``iss``, ``exp``, ``nbf``, ``iat``; then that
    the token is an access token (``typ`` Bearer), minted for this API alone (``aud``: this
    API and nothing else) and requested by an allowed client (``azp``)."""

    def __init__(self, settings: Settings, keys: SigningKeySource) -> None:
        self.settings = settings
        self.keys = keys

    def validate(self, token: str | None) -> dict[str, Any]:
        """Return the token's claims, or raise ``TokenError`` / ``KeysUnavailableError``.

        Messages name the part that failed ("the issuer's signing keys"), never an internal
        URL: the JWKS URL may be a back-channel address; the log has it.
        """
        s = self.settings
        if not token:
            raise TokenError("no bearer token: send Authorization: Bearer <token>")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError("malformed token: not a JWT") from None
        alg = header.get("alg")
        if alg not in s.algorithms:
            # echo(): the header is the caller's, a message quotes a bounded part of it only.
            raise TokenError(
                f"algorithm {echo(alg)} is not allowed; this API accepts {', '.join(s.algorithms)}"
            )
        try:
            key = self.keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as e:
            log.warning("cannot fetch the signing keys from %s: %s", s.jwks_url, e)
            raise KeysUnavailableError("cannot fetch the issuer's signing keys") from e
        except jwt.PyJWKClientError:
            raise TokenError(
                f"signing key {echo(header.get('kid'))} is not one of the issuer's keys: "
                f"the token was not issued by {s.issuer}"
            ) from None
        except jwt.InvalidTokenError:
            raise TokenError("malformed token: not a JWT") from None
        except (jwt.PyJWTError, ValueError) as e:  # not JSON, or no usable key in the set
            log.warning("the signing keys from %s are unusable: %s", s.jwks_url, e)
            raise KeysUnavailableError("cannot read the issuer's signing keys") from e
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(s.algorithms),
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                # aud is checked below, after typ: an ID token is refused as one.
                options={"require": ["exp", "iss", "aud"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token is not valid yet (nbf or iat in the future)") from None
        except jwt.InvalidIssuerError:
            iss = unverified_claims(token).get("iss")  # only to explain the error
            raise TokenError(f"issuer {echo(iss)} is not {s.issuer}") from None
        except jwt.InvalidSignatureError:
            raise TokenError("signature invalid") from None
        except jwt.MissingRequiredClaimError as e:
            raise TokenError(f"token has no {e.claim} claim") from None
        except jwt.InvalidTokenError as e:
            raise TokenError(f"invalid token: {e}") from None
        self._check_type(claims)
        self._check_audience(claims)
        self._check_authorized_party(claims)
        self._check_scope(claims)
        return claims

    @staticmethod
    def _check_type(claims: dict[str, Any]) -> None:
        """Only access tokens: Keycloak's ID tokens (``typ`` ID) and refresh tokens
        (``Refresh``) are signed by the same issuer but are not meant for APIs."""
        typ = claims.get("typ")
        if typ is None:
            raise TokenError(
                f"token has no typ claim: this API accepts only access tokens "
                f"(typ {ACCESS_TOKEN_TYPE})"
            )
        if not isinstance(typ, str) or typ.lower() != ACCESS_TOKEN_TYPE.lower():
            raise TokenError(
                f"token type (typ) is {echo(typ)}, not {ACCESS_TOKEN_TYPE}: this API accepts "
                "only access tokens, not ID or refresh tokens"
            )

    @staticmethod
    def _check_scope(claims: dict[str, Any]) -> None:
        """``scope``, when present, is a space-separated string (RFC 9068) or a list of
        strings: anything else (null, a number, an object) is refused, never guessed at."""
        if "scope" not in claims:
            return
        scope = claims["scope"]
        if isinstance(scope, str):
            return
        if isinstance(scope, list) and all(isinstance(s, str) for s in scope):
            return
        raise TokenError(
            f"token scope claim {echo(scope)} is malformed: this API expects a space-separated "
            "string of scopes"
        )

    def _check_audience(self, claims: dict[str, Any]) -> None:
        """``aud`` is this API, alone (a string, or a list of exactly one entry)."""
        audience = self.settings.audience
        aud = claims["aud"]
        auds = [aud] if isinstance(aud, str) else aud
        if not isinstance(auds, list) or not all(isinstance(a, str) for a in auds):
            raise TokenError(f"token audience {echo(aud)} is malformed")
        if audience not in auds:
            raise TokenError(f"token audience is {echo(aud)}, this API is {audience}")
        if len(auds) > 1:
            raise TokenError(
                f"token has {len(auds)} audiences ({echo(', '.join(auds))}): this API "
                f"accepts only tokens minted for {audience} alone"
            )

    def _check_authorized_party(self, claims: dict[str, Any]) -> None:
        """``azp`` (the client that asked for the token) is allowed, when a list is set."""
        parties = self.settings.authorized_parties
        if not parties:
            return
        azp = claims.get("azp")
        allowed = ", ".join(parties)
        if azp is None:
            raise TokenError(
                f"token has no azp claim (the client that requested it): this API accepts "
                f"tokens requested by {allowed}"
            )
        if azp not in parties:
            raise TokenError(
                f"token was requested by client {echo(azp)} (azp), not by {allowed}: "
                "get a token for this API from the hub"
            )
