"""TokenClient: asks the hub's token broker for short-lived access tokens, and caches them."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .errors import (
    BrokerUnreachable,
    HubTokensError,
    InvalidRequest,
    NotInJupyterHub,
    error_from_response,
)
from .expiry import usable
from .scopes import ScopeArg, normalize_scope
from .token import AccessToken

CacheKey = tuple[str, tuple[str, ...]]

DEFAULT_TIMEOUT = 10.0
#: Serve a cached token only while it has more than this many seconds left.
DEFAULT_CACHE_MARGIN = 30.0


def scope_names(scope: ScopeArg) -> tuple[str, ...]:
    """:func:`hubtokens.scopes.normalize_scope`, raising ``InvalidRequest`` for a bad scope."""
    try:
        return normalize_scope(scope)
    except ValueError as e:
        raise InvalidRequest(str(e)) from None


class TokenClient:
    """A client of the hub's token broker (``{JUPYTERHUB_API_URL}/token-exchange``).

    ``hub_api_url`` and ``api_token`` default to the ``JUPYTERHUB_API_URL`` and
    ``JUPYTERHUB_API_TOKEN`` environment variables that JupyterHub sets in every
    single-user server. Tokens are cached in memory per ``(audience, scope)`` and reused
    while more than ``cache_margin`` seconds remain. Safe to share between threads.
    """

    def __init__(
        self,
        hub_api_url: str | None = None,
        api_token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        cache_margin: float = DEFAULT_CACHE_MARGIN,
        http_client: httpx.Client | None = None,
    ) -> None:
        hub_api_url = hub_api_url or os.environ.get("JUPYTERHUB_API_URL")
        api_token = api_token or os.environ.get("JUPYTERHUB_API_TOKEN")
        if not hub_api_url or not api_token:
            raise NotInJupyterHub()
        self.url = hub_api_url.rstrip("/") + "/token-exchange"
        self.cache_margin = cache_margin
        self._api_token = api_token
        self._http = http_client or httpx.Client(timeout=timeout)
        self._cache: dict[CacheKey, AccessToken] = {}
        self._key_locks: dict[CacheKey, threading.Lock] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the API token
        return f"<TokenClient url={self.url!r} cached={len(self._cache)}>"

    # -- public API ------------------------------------------------------------------

    def get(self, audience: str, scope: ScopeArg = None) -> AccessToken:
        """A token for ``audience`` with ``scope`` (space-separated string or list).

        Returns the cached token while it has more than ``cache_margin`` seconds left
        (no network call); otherwise asks the broker. One fetch per key at a time.
        """
        if not isinstance(audience, str) or not audience.strip():
            raise InvalidRequest("audience must be a non-empty string, e.g. 'fruit-api'.")
        key = (audience, scope_names(scope))
        token = self._cached(key)
        if token is not None:
            return token
        with self._key_lock(key):
            token = self._cached(key)  # another thread may have fetched it meanwhile
            if token is None:
                token = self._fetch(*key)
                with self._lock:
                    self._cache[key] = token
            return token

    def invalidate(self, audience: str, scope: ScopeArg = None, token: AccessToken | None = None):
        """Drop the cached token for ``(audience, scope)``.

        With ``token``, drop it only if it is still the cached one (so a token another
        thread already renewed is kept).
        """
        key = (audience, scope_names(scope))
        with self._lock:
            if token is None or self._cache.get(key) == token:
                self._cache.pop(key, None)

    def clear(self) -> None:
        """Forget every cached token."""
        with self._lock:
            self._cache.clear()

    def available(self) -> dict[str, Any]:
        """The broker's listing of what this user may request (``GET`` on the broker)::

            {"audiences": {"fruit-api": {"description": "...", "scopes": {
                "fruits:read": {"description": "...", "role": "fruit-reader", "granted": True}}}}}

        ``granted`` says whether the user holds the scope's role now (a hint; Keycloak
        decides at mint time).
        """
        return self._request("GET")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TokenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------

    def _cached(self, key: CacheKey) -> AccessToken | None:
        with self._lock:
            token = self._cache.get(key)
        if token is not None and usable(
            token.expires_at.timestamp(), self.cache_margin, time.time()
        ):
            return token
        return None

    def _key_lock(self, key: CacheKey) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _fetch(self, audience: str, scopes: tuple[str, ...]) -> AccessToken:
        scope = " ".join(scopes)
        payload: dict[str, str] = {"audience": audience}
        if scope:
            payload["scope"] = scope
        body = self._request("POST", payload)
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise HubTokensError("The hub's answer has no access_token.", status=200)
        return AccessToken(
            value=value,
            audience=str(body.get("audience") or audience),
            scope=str(body.get("scope") if body.get("scope") is not None else scope),
            expires_at=_expiry(body),
        )

    def _request(self, method: str, payload: dict[str, str] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"token {self._api_token}", "Accept": "application/json"}
        try:
            response = self._http.request(method, self.url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            detail = str(exc).replace(self._api_token, "***") or type(exc).__name__
            raise BrokerUnreachable(
                f"Could not reach the hub's token broker at {self.url}: {detail}."
            ) from None
        if response.status_code != 200:
            raise error_from_response(
                response.status_code, response.content, response.headers.get("Retry-After")
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise HubTokensError(
                f"The hub answered {method} {self.url} with a body that is not a JSON object.",
                status=response.status_code,
            )
        return body


def _expiry(body: dict[str, Any]) -> datetime:
    """Expiry from ``expires_in`` (immune to clock skew), else from ``expires_at``."""
    expires_in = body.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        return datetime.now(UTC) + timedelta(seconds=expires_in)
    try:
        moment = datetime.fromisoformat(str(body.get("expires_at")))
    except ValueError:
        raise HubTokensError(
            "The hub's answer has neither expires_in nor a valid expires_at.", status=200
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_default: TokenClient | None = None
_default_lock = threading.Lock()


def default_client() -> TokenClient:
    """The process-wide client used by ``hubtokens.get()`` and friends, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = TokenClient()
        return _default


def reset_default_client() -> None:
    """Close and forget the process-wide client (the next call creates a new one)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = None
