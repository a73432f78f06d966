"""TokenClient: asks the hub's token broker for short-lived access tokens, and caches them."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

from tokencontract.expiry import usable
from tokencontract.scopes import ScopeArg, normalize_scope

from .errors import (
    BrokerUnreachable,
    HubTokensError,
    IdpUnavailable,
    InvalidRequest,
    LoginRequired,
    NotInJupyterHub,
    error_from_response,
)
from .token import AccessToken

CacheKey = tuple[str, tuple[str, ...]]

#: One request to the hub: 10 s to connect (and to send), 30 s to wait for its answer. The
#: hub itself waits up to KEYCLOAK_TIMEOUT_SECONDS (10 s) for each call to Keycloak, and a
#: mint may make two (a refresh of the user's login, the exchange): the client waits longer,
#: so that a slow Keycloak comes back as the hub's ``idp_unavailable``, not as a silent hub.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, read=30.0)
#: Serve a cached token only while it has more than this many seconds left.
DEFAULT_CACHE_MARGIN = 30.0
#: How long to keep retrying a broker call that failed because the hub or Keycloak is down
#: (seconds from the first attempt; the last attempt may then take up to its own timeout).
DEFAULT_RETRY_SECONDS = 20.0
#: HTTP statuses retried: the hub restarting behind a proxy (502, 504), or unavailable (503,
#: which is also ``idp_unavailable``: Keycloak down). Nothing else is: every other error
#: answer (400, 401, 403, 413, 429, ...) would be the same if asked again.
RETRY_STATUSES = frozenset({502, 503, 504})
#: The waits between attempts: exponential from 0.5 s, doubling, at most 5 s, each plus a
#: random 0-0.5 s (jitter, so that notebooks restarted together do not retry in step):
#: about 0.5, 1, 2, 4, 5, 5 ... s. ``idp_unavailable`` waits at least its ``Retry-After``.
#: No wait goes past the budget.
BACKOFF = wait_exponential(multiplier=0.5, max=5.0) + wait_random(0, 0.5)


def retryable(error: BaseException) -> bool:
    """Whether a failed broker call may be tried again: no answer from the hub at all
    (:class:`BrokerUnreachable`: refused, reset, timed out), or an answer with a status of
    ``RETRY_STATUSES`` (the hub or a proxy in front of it restarting; ``idp_unavailable``)."""
    if isinstance(error, BrokerUnreachable):
        return True
    return isinstance(error, HubTokensError) and error.status in RETRY_STATUSES


def gave_up(error: HubTokensError, attempts: int, seconds: float) -> HubTokensError:
    """``error`` (the last attempt's), its message extended with how long the client tried,
    what is down and what to do."""
    if isinstance(error, IdpUnavailable):
        down = "Keycloak, the identity provider, is down or not answering"
        error.hint = (
            "Wait a minute and re-run this cell; if it persists, tell your hub admin that "
            "Keycloak is down."
        )
    else:
        down = "the hub is down or restarting"
        error.hint = (
            "Wait a minute and re-run this cell. If it still fails, check that the hub is "
            "running (or ask your hub admin); once it is back, if this cell still fails, "
            "restart your server from the hub's home page."
        )
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    said = error.message.rstrip()
    if not said.endswith((".", "!", "?")):
        said += "."
    error.message = f"{said} Gave up after {tries} over {seconds:.1f} s: {down}."
    error.args = (error.message,)
    error.attempts = attempts
    return error


def scope_names(scope: ScopeArg) -> tuple[str, ...]:
    """:func:`tokencontract.scopes.normalize_scope`, raising ``InvalidRequest`` for a bad scope."""
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

    Every call to the broker (``POST`` mint, ``GET`` listing; whatever the method) is retried
    when the hub did not answer, answered 502/503/504 (restarting), or said
    ``idp_unavailable`` (Keycloak down; its ``Retry-After`` is honoured): with exponential
    backoff and jitter (``BACKOFF``), for at most ``retry_seconds`` from the first attempt
    (0: no retry), each attempt bounded by ``timeout``. Repeating any broker call is safe: a
    listing reads, a ``DELETE`` forgets a cache (twice: the same), and a mint changes
    nothing on the hub but its cache: at worst it mints one more short-lived token (which
    counts against the user's rate limit). Then the last error is raised, saying how long
    the client tried, what is down and what to do. Other errors (400, 401, 403, 413, 429
    ...) are raised at once: asking again would get the same answer.
    """

    def __init__(
        self,
        hub_api_url: str | None = None,
        api_token: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        cache_margin: float = DEFAULT_CACHE_MARGIN,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        http_client: httpx.Client | None = None,
    ) -> None:
        hub_api_url = hub_api_url or os.environ.get("JUPYTERHUB_API_URL")
        api_token = api_token or os.environ.get("JUPYTERHUB_API_TOKEN")
        if not hub_api_url or not api_token:
            raise NotInJupyterHub()
        self.url = hub_api_url.rstrip("/") + "/token-exchange"
        self.grants_url = hub_api_url.rstrip("/") + "/grants"
        self._api_token = api_token
        self._http = http_client or httpx.Client(timeout=timeout)
        self._setup(cache_margin, retry_seconds)

    def _setup(self, cache_margin: float | None, retry_seconds: float | None) -> None:
        """The cache, the fetches in flight and the retries' budget (every client has them)."""
        self.cache_margin = DEFAULT_CACHE_MARGIN if cache_margin is None else cache_margin
        retry_seconds = DEFAULT_RETRY_SECONDS if retry_seconds is None else retry_seconds
        self.retry_seconds = max(0.0, float(retry_seconds))
        self._cache: dict[CacheKey, AccessToken] = {}
        #: Fetches in progress, per key: other threads wait for its token or its error.
        self._flights: dict[CacheKey, Future[AccessToken]] = {}
        self._lock = threading.Lock()
        # The retries' clock and sleep (tests replace both, so that retries take no time).
        self._clock: Callable[[], float] = time.monotonic
        self._sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:  # never shows the API token
        return f"<TokenClient url={self.url!r} cached={len(self._cache)}>"

    # -- public API ------------------------------------------------------------------

    def get(self, audience: str, scope: ScopeArg = None) -> AccessToken:
        """A token for ``audience`` with ``scope`` (space-separated string or list).

        Returns the cached token while it has more than ``cache_margin`` seconds left
        (no network call); otherwise asks the broker (with retries, see the class). One fetch
        per key at a time: threads asking for the same key meanwhile get its token, or its
        error, without asking again (so none waits longer than one fetch).
        """
        if not isinstance(audience, str) or not audience.strip():
            raise InvalidRequest("audience must be a non-empty string, e.g. 'fruit-api'.")
        key = (audience, scope_names(scope))
        token = self._cached(key)
        if token is not None:
            return token
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not leader:
            return flight.result()  # the fetch in progress: its token, or raises its error
        try:
            token = self._cached(key)  # another fetch may have ended since the check above
            if token is None:
                token = self._fetch(*key)
        except BaseException as error:
            with self._lock:
                del self._flights[key]
            shared = (
                error
                if isinstance(error, Exception)
                else HubTokensError("The token request was interrupted.")
            )
            flight.set_exception(shared)
            raise
        with self._lock:
            self._cache[key] = token
            del self._flights[key]
        flight.set_result(token)
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

    def forget(self) -> int:
        """Forget every cached token, here and in the broker (``DELETE``): the next ``get``
        of each reaches Keycloak. How many tokens the broker had cached for this server."""
        self.clear()
        forgotten = self._request("DELETE").get("forgotten", 0)
        return forgotten if isinstance(forgotten, int) else 0

    def grants(self) -> list[dict[str, Any]]:
        """Your job grants (docs/jobs.md): name, scopes, deadline, state and why it ended;
        never a token. Those Keycloak no longer holds are listed ended."""
        grants = self._request("GET", url=self.grants_url).get("grants")
        return grants if isinstance(grants, list) else []

    def start_grant(self, name: str, scopes: list[str], days: int) -> dict[str, Any]:
        """Start a job grant: ``confirm_url`` is Keycloak's sign-in and consent, for your
        browser (within ``expires_in`` seconds); the grant exists once you confirmed there."""
        body = {"name": name, "scopes": scopes, "days": days}
        return self._request("POST", body, url=self.grants_url)

    def revoke_grant(self, grant: str) -> dict[str, Any]:
        """Revoke your job grant ``grant`` (its name or id): at Keycloak, then on the hub;
        what it was. Making a grant needs a fresh sign-in in a browser: /hub/grants."""
        return self._request("DELETE", url=f"{self.grants_url}/{quote(grant, safe='')}")

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

    def _request(
        self, method: str, payload: dict[str, Any] | None = None, url: str | None = None
    ) -> dict[str, Any]:
        """One broker call (to ``url``, default the broker's), retried while the hub or
        Keycloak is down (see the class)."""
        if self.retry_seconds <= 0:
            return self._attempt(method, payload, url)
        start = self._clock()
        deadline = start + self.retry_seconds

        def wait(state: RetryCallState) -> float:
            seconds = BACKOFF(state)
            error = state.outcome.exception() if state.outcome else None
            retry_after = getattr(error, "retry_after", None)
            if retry_after is not None:
                seconds = max(seconds, float(retry_after))
            return max(0.0, min(seconds, deadline - self._clock()))

        def stop(state: RetryCallState) -> bool:
            return self._clock() >= deadline

        def give_up(state: RetryCallState) -> Any:
            error = state.outcome.exception() if state.outcome else None
            if not isinstance(error, HubTokensError):  # pragma: no cover - only those retry
                raise HubTokensError("The hub's token broker failed.")
            raise gave_up(error, state.attempt_number, self._clock() - start)

        retrying = Retrying(
            sleep=self._sleep,
            stop=stop,
            wait=wait,
            retry=retry_if_exception(retryable),
            retry_error_callback=give_up,
        )
        return retrying(self._attempt, method, payload, url)

    def _scrub(self, text: str) -> str:
        """``text`` without the API token (a JupyterHub token is 32 characters: a shorter one,
        in tests, is not replaced, lest every "t" in a message be)."""
        if len(self._api_token) < 8:
            return text
        return text.replace(self._api_token, "***")

    def _attempt(
        self, method: str, payload: dict[str, Any] | None, url: str | None = None
    ) -> dict[str, Any]:
        url = url or self.url
        headers = {"Authorization": f"token {self._api_token}", "Accept": "application/json"}
        try:
            response = self._http.request(method, url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            detail = self._scrub(str(exc)) or type(exc).__name__
            raise BrokerUnreachable(
                f"Could not reach the hub's token broker at {url}: {detail}."
            ) from None
        if response.status_code != 200:
            error = error_from_response(
                response.status_code, response.content, response.headers.get("Retry-After")
            )
            scrubbed = self._scrub(error.message)  # the hub never echoes it; a proxy's page?
            if scrubbed != error.message:
                error.message, error.args = scrubbed, (scrubbed,)
            raise error
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise HubTokensError(
                f"The hub answered {method} {url} with a body that is not a JSON object.",
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
    """The process-wide client used by ``hubtokens.get()`` and friends, created on first use
    (:func:`client_here`)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = client_here()
        return _default


def client_here() -> TokenClient:
    """In a hub's notebook server: the hub's broker (:class:`TokenClient`). Elsewhere: this
    machine's ``hubtokens login`` (:class:`hubtokens.laptop.LaptopClient`), if there is one;
    else :class:`NotInJupyterHub`."""
    try:
        return TokenClient()
    except NotInJupyterHub:
        try:  # only outside a hub: Authlib and keyring are not imported in a notebook server
            from .laptop import LaptopClient, LoginStore
        except ImportError:
            raise NotInJupyterHub() from None
        try:
            return LaptopClient(LoginStore())
        except LoginRequired:  # no hubtokens login on this machine either
            raise NotInJupyterHub() from None


def reset_default_client() -> None:
    """Close and forget the process-wide client (the next call creates a new one)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = None
