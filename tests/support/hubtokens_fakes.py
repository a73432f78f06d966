"""A fake of the hub's broker for the ``hubtokens`` client's and command's unit tests
(httpx.MockTransport): the broker's listing, the server's API token, a client on the fake."""

from __future__ import annotations

import json
import threading
import time

import httpx
import jwt

from hubtokens import TokenClient

HUB = "http://hub.test:8081/hub/api"
LISTING = {  # the shape of the broker's GET answer
    "audiences": {
        "fruit-api": {
            "description": "The fruit API",
            "scopes": {
                "fruits:read": {
                    "description": "read",
                    "role": "fruit-reader",
                    "granted": True,
                    "jobs": {"allowed": True, "max_days": 7},
                }
            },
        }
    }
}
API_TOKEN = "jupyterhub-api-token-SECRET-123"


class FakeBroker:
    """Mints a new JWT per POST; records every request."""

    def __init__(self, expires_in=300, delay=0.0):
        self.expires_in = expires_in
        self.delay = delay
        self.requests: list[httpx.Request] = []
        self.error: tuple[int, bytes] | None = None
        self.listing = LISTING
        self._lock = threading.Lock()

    def posts(self):
        return [r for r in self.requests if r.method == "POST"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            n = len(self.requests)
        if self.delay:
            time.sleep(self.delay)
        if self.error:
            return httpx.Response(self.error[0], content=self.error[1])
        assert request.url == f"{HUB}/token-exchange"
        assert request.headers["Authorization"] == f"token {API_TOKEN}"
        if request.method == "GET":
            return httpx.Response(200, json=self.listing)
        body = json.loads(request.content)
        value = jwt.encode(
            {"n": n, "aud": body["audience"], "scope": body.get("scope", "")},
            "k" * 32,
            algorithm="HS256",
        )
        return httpx.Response(
            200,
            json={
                "access_token": value,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "expires_at": "2030-01-01T00:00:00Z",
                "audience": body["audience"],
                "scope": body.get("scope", ""),
            },
        )


def fast(client):
    """Retries in virtual time: a sleep advances the client's clock and takes no time
    (tests/unit/test_client_retry.py tests the retries themselves)."""
    now = [0.0]
    client._clock = lambda: now[0]
    client._sleep = lambda seconds: now.__setitem__(0, now[0] + seconds)
    return client


def make_client(broker, **kwargs):
    http = httpx.Client(transport=httpx.MockTransport(broker))
    return fast(TokenClient(HUB, API_TOKEN, http_client=http, **kwargs))
