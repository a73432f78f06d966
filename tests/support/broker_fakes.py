"""A TokenBroker for unit tests: a fake Keycloak at TOKEN_URL (mock it with respx), the hub's
client, the default margins; a test passes only what it is about. Also the fakes the
broker's tests share: a clock, hub users, a refresher and Keycloak's token endpoint."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt

from apiregistry import ApiSpec, ScopeSpec
from hubbroker.policy import Policy
from hubbroker.service import TokenBroker

TOKEN_URL = "http://keycloak.test:8080/realms/demo/protocol/openid-connect/token"
NOW = 1_800_000_000.0


def make_broker(http: httpx.AsyncClient, apis: dict, **overrides: Any) -> TokenBroker:
    settings: dict[str, Any] = {
        "token_url": TOKEN_URL,
        "client_id": "jupyterhub",
        "client_secret": "hub-secret",
        "refresher": None,
        "cache_margin": 30,
        "refresh_margin": 60,
    }
    return TokenBroker(policy=Policy(apis), http=http, **{**settings, **overrides})


def registry(audience: str, roles: dict[str, str], realm: str = "demo") -> dict[str, ApiSpec]:
    """One API of the registry, ``roles`` mapping each scope it offers to its gate role."""
    scopes = {scope: ScopeSpec(scope, "", role, ()) for scope, role in roles.items()}
    return {audience: ApiSpec(audience, realm, ("jupyterhub-exchange",), "", scopes)}


def make_jwt(exp, **claims):
    return jwt.encode({"exp": int(exp), **claims}, "k", algorithm="HS256")


def exchange_form(request: httpx.Request) -> dict[str, str]:
    """The form fields of a token request the broker sent."""
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def minted_answer(number: int, scope: str, **extra: Any) -> httpx.Response:
    """Keycloak's answer to an exchange: access token ``MINTED-<number>`` for ``scope``."""
    body = {"access_token": f"MINTED-{number}", "expires_in": 300, "scope": scope, **extra}
    return httpx.Response(200, json=body)


class FreshUser:
    """A hub user (alice) whose Keycloak token is fresh: no refresh may happen. ``spawners``:
    her servers (handler tests that need the calling token's server)."""

    name = "alice"
    kind = "user"

    def __init__(self, spawners: dict[str, Any] | None = None) -> None:
        self.spawners = spawners or {}

    async def get_auth_state(self):
        return {"access_token": make_jwt(time.time() + 600)}

    async def save_auth_state(self, state):
        raise AssertionError("no refresh expected")


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


class FakeUser:
    """A JupyterHub user: auth_state in memory, every save recorded (also into ``events``)."""

    def __init__(self, name, state, events=None):
        self.name = name
        self.state = state
        self.saved = []
        self.events = events if events is not None else []

    async def get_auth_state(self):
        return dict(self.state) if self.state is not None else None

    async def save_auth_state(self, state):
        await asyncio.sleep(0)  # a real save awaits the database
        self.events.append(("save", (state or {}).get("refresh_token")))
        self.saved.append(state)
        self.state = state


class FakeRefresher:
    def __init__(self, events, clock, error=None, delay=0.01):
        self.events = events
        self.clock = clock
        self.error = error
        self.delay = delay
        self.calls = []

    async def __call__(self, refresh_token):
        self.calls.append(refresh_token)
        self.events.append(("refresh", refresh_token))
        await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        n = len(self.calls)
        return {
            "access_token": make_jwt(self.clock() + 300, n=n),
            "refresh_token": f"refresh-{n + 1}",
            "id_token": f"id-{n + 1}",
            "expires_in": 300,
        }


class Keycloak:
    """The token endpoint: records requests into ``events``; answers with ``self.answer``."""

    def __init__(self, events):
        self.events = events
        self.requests = []
        self.answer = None
        self.counter = 0

    def __call__(self, request):
        form = exchange_form(request)
        self.requests.append(form)
        self.events.append(("exchange", form["subject_token"]))
        if self.answer is not None:
            return self.answer
        self.counter += 1
        scope = f"profile email {form['scope']}"
        return minted_answer(self.counter, scope, token_type="Bearer")
