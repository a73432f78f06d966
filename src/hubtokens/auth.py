"""HubTokenAuth: one auth object for both ``httpx`` and ``requests``.

Each request asks the client's cache for a token, so tokens renew by themselves and a
cell never needs to be re-run because a token expired. On a 401 answer the token is
dropped from the cache, a fresh one fetched, and the request retried once.

``requests`` is not imported here: the ``requests`` side only uses the objects that
``requests`` passes in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from typing import Any

import httpx

from tokencontract.scopes import ScopeArg

from .client import TokenClient, default_client, scope_names
from .token import AccessToken


class HubTokenAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` for ``audience``/``scope``, renewed as needed.

    httpx: ``httpx.Client(auth=HubTokenAuth("fruit-api", "fruits:read"))``.
    requests: ``requests.get(url, auth=HubTokenAuth("fruit-api", "fruits:read"))``.
    Without ``client``, the process-wide default client (env-configured) is used.
    """

    def __init__(
        self, audience: str, scope: ScopeArg = None, client: TokenClient | None = None
    ) -> None:
        self.audience = audience
        self.scope = " ".join(scope_names(scope))
        self._client = client

    def __repr__(self) -> str:
        return f"<HubTokenAuth audience={self.audience!r} scope={self.scope!r}>"

    @property
    def client(self) -> TokenClient:
        return self._client or default_client()

    def token(self) -> AccessToken:
        """The current token (from the cache unless near expiry)."""
        return self.client.get(self.audience, self.scope)

    def renew(self, rejected: AccessToken) -> AccessToken | None:
        """Drop ``rejected`` and fetch another; ``None`` if the broker gives the same one."""
        self.client.invalidate(self.audience, self.scope, rejected)
        fresh = self.token()
        return None if fresh.value == rejected.value else fresh

    # -- httpx -----------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.token()
        request.headers["Authorization"] = token.bearer()
        response = yield request
        if response.status_code == 401:
            fresh = self.renew(token)
            if fresh is not None:
                request.headers["Authorization"] = fresh.bearer()
                yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # The token client is synchronous: keep its (rare) network calls off the event loop.
        token = await asyncio.to_thread(self.token)
        request.headers["Authorization"] = token.bearer()
        response = yield request
        if response.status_code == 401:
            fresh = await asyncio.to_thread(self.renew, token)
            if fresh is not None:
                request.headers["Authorization"] = fresh.bearer()
                yield request

    # -- requests (requests.auth.AuthBase semantics) -----------------------------------

    def __call__(self, r: Any) -> Any:
        token = self.token()
        r.headers["Authorization"] = token.bearer()
        r.register_hook("response", self._requests_retry_on_401)
        return r

    def _requests_retry_on_401(self, response: Any, **kwargs: Any) -> Any:
        if response.status_code != 401:
            return response
        sent = response.request
        rejected = sent.headers.get("Authorization", "")
        token = self.token()
        if token.bearer() == rejected:  # still the rejected one: renew it
            token = self.renew(token)
            if token is None:
                return response
        # Same approach as requests' HTTPDigestAuth: resend on the same connection adapter,
        # which does not run response hooks again, so this retries exactly once.
        response.content  # noqa: B018 - consume the body so the connection can be reused
        response.close()
        retry = sent.copy()
        retry.headers["Authorization"] = token.bearer()
        new_response = response.connection.send(retry, **kwargs)
        new_response.history.append(response)
        new_response.request = retry
        return new_response
