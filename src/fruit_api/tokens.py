"""Validate bearer JWTs issued by Keycloak against its JWKS (PyJWT)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import jwt

from fruit_api.settings import Settings
from tokencontract.claims import unverified_claims
from tokencontract.errors import echo

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


#: Seconds between two attempts to fetch the signing keys while fetching fails: the
#: ``Retry-After`` of a 503 for a token whose key the API could not fetch.
KEYS_RETRY_AFTER = 10


def _in_thread(refresh: Callable[[], None]) -> None:
    threading.Thread(target=refresh, name="fruit-api-keys-refresh", daemon=True).start()


class IssuerKeys:
    """The issuer's signing keys by key id (``kid``), fetched from its JWKS, and kept while
    the issuer cannot be reached. A ``SigningKeySource``; ``client`` fetches the key set
    (``fetch_data``: a ``jwt.PyJWKClient``, whose own caches are not used).

    - The key set is refreshed when older than ``lifespan`` seconds, in the background: the
      current keys keep serving meanwhile, and a key the issuer dropped stops being accepted
      then.
    - A token naming a key that is not in the set makes a refresh at once (the issuer may
      have rotated its keys), at most once per ``cooldown``: made-up key ids cannot make the
      API call Keycloak on every request.
    - A refresh that fails (Keycloak down or cut off, or answering something that is not a
      key set) changes nothing: the last good keys keep serving, and the next attempt waits
      ``retry_interval``. Only a token whose key was never fetched fails then, with the
      fetch's error (PyJWKClientConnectionError, or PyJWKSetError for an unreadable answer):
      the validator answers 503, not 401, since the key may well exist.
    """

    def __init__(
        self,
        client: jwt.PyJWKClient,
        *,
        lifespan: float = 300,
        cooldown: float = 30,
        retry_interval: float = KEYS_RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
        background: Callable[[Callable[[], None]], None] = _in_thread,
    ) -> None:
        self.client = client
        self.lifespan, self.cooldown, self.retry_interval = lifespan, cooldown, retry_interval
        self._clock, self._background = clock, background
        self._lock = threading.Lock()  # one fetch at a time
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # the last fetch that succeeded
        self._tried_at: float | None = None  # the last fetch, whatever its outcome
        #: the last fetch's failure (the error class and message), None if it succeeded
        self._error: tuple[type[jwt.PyJWTError], str] | None = None
        self._refreshing = False

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str):
            raise jwt.PyJWKClientError("the token names no signing key (kid)")
        return self.get_signing_key(kid)

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        if self._keys and not self._refreshing and self._stale():
            self._refreshing = True
            try:
                self._background(self._refresh_stale)
            except RuntimeError:  # no thread to be had: the next call tries again
                self._refreshing = False
        key = self._keys.get(kid)
        if key is None:  # unknown: never fetched yet, or a key the issuer has just added
            with self._lock:
                if self._may_try(after_success=self.cooldown):
                    self._fetch()
            key = self._keys.get(kid)
        if key is not None:
            return key
        if self._error is not None:  # the keys cannot be fetched: cannot tell
            error_class, message = self._error
            raise error_class(message)
        raise jwt.PyJWKClientError(f"no signing key {kid!r} in the issuer's key set")

    def _may_try(self, *, after_success: float) -> bool:
        """Whether a fetch may be made now: ``after_success`` seconds after one that
        succeeded, ``retry_interval`` after one that failed."""
        if self._tried_at is None:
            return True
        wait = self.retry_interval if self._error is not None else after_success
        return self._clock() - self._tried_at >= wait

    def _stale(self) -> bool:
        fetched = self._fetched_at
        if fetched is not None and self._clock() - fetched < self.lifespan:
            return False
        return self._may_try(after_success=0)

    def _refresh_stale(self) -> None:
        try:
            with self._lock:
                if self._stale():
                    self._fetch()
        finally:
            self._refreshing = False

    def _fetch(self) -> None:
        """Fetch the key set (holding ``_lock``); on failure keep the keys held."""
        try:
            keys = _signing_keys(self.client.fetch_data())
        except Exception as e:  # whatever the fetch met: keep the keys held
            error_class = (
                jwt.PyJWKClientConnectionError
                if isinstance(e, jwt.PyJWKClientConnectionError)
                else jwt.PyJWKSetError
            )
            self._error = (error_class, str(e) or type(e).__name__)
            if self._keys:
                age = self._clock() - (self._fetched_at or 0)
                log.warning(
                    "cannot refresh the signing keys from %s (%s): still accepting the %d "
                    "keys fetched %.0f s ago; next attempt in %.0f s",
                    self.client.uri,
                    e,
                    len(self._keys),
                    age,
                    self.retry_interval,
                )
        else:
            self._keys, self._error = keys, None
            self._fetched_at = self._clock()
        self._tried_at = self._clock()


def _signing_keys(data: Any) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by key id; PyJWKSetError if it holds none."""
    if not isinstance(data, dict):
        raise jwt.PyJWKSetError("the JWKS endpoint did not return a JSON object")
    keys = {
        key.key_id: key
        for key in jwt.PyJWKSet.from_dict(data).keys
        if key.public_key_use in ("sig", None) and key.key_id
    }
    if not keys:
        raise jwt.PyJWKSetError("the JWKS endpoint returned no signing key")
    return keys


def make_jwks_client(settings: Settings) -> IssuerKeys:
    """The production key source: Keycloak's JWKS, refreshed every 5 minutes, kept while
    Keycloak cannot be reached (``IssuerKeys``)."""
    return IssuerKeys(
        jwt.PyJWKClient(settings.jwks_url, cache_keys=False, cache_jwk_set=False, timeout=5)
    )


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
