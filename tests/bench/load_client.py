"""The load benchmark's clients: notebook servers calling the broker, one scenario at a time.

Code in a notebook server calls the broker at the server's ``$JUPYTERHUB_API_URL`` with its
``$JUPYTERHUB_API_TOKEN``, from the server's own address (the broker answers nothing else).
So this module runs where the servers are, with the standard library and httpx only:

- native: ``bench_load`` imports it and runs every server's client in one event loop (the
  servers are local processes, on loopback like the benchmark);
- compose: ``bench_load`` runs it inside each user's container (``docker exec -i <container>
  python -c <this file>``), for that container's own server, its job on stdin as one JSON line.

A job: ``scenario`` (steady, herd, cold), ``start_at`` (epoch seconds: every container begins
at the same moment), ``seconds`` (steady), ``clients`` (herd: requests at once per server),
``seed``, ``timeout`` (a bound on every call: a caller never waits longer), ``fruit_api``, and
``servers`` (``api_url``, ``token``; default: the one server whose environment this runs in).
The answer: one JSON line, the calls (``op``, ``ms``, ``code``: ``ok``, the broker's or API's
error code, ``timeout`` or ``unreachable``), and ``problems`` (setup steps that failed).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time

import httpx

AUDIENCE = "fruit-api"
SCOPE = "fruits:read"


def error_code(response: httpx.Response) -> str:
    if response.status_code < 400:
        return "ok"
    try:
        body = response.json()
    except ValueError:
        return f"http_{response.status_code}"
    code = body.get("error") or body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else f"http_{response.status_code}"


class Client:
    """One server's calls, as code in it makes them, each recorded in ``calls``."""

    def __init__(self, http: httpx.AsyncClient, server: dict, fruit_api: str, calls: list):
        self.http = http
        self.broker = server["api_url"].rstrip("/") + "/token-exchange"
        self.headers = {
            "Authorization": "token " + server["token"],
            "Content-Type": "application/json",
        }
        self.fruit_api = fruit_api.rstrip("/")
        self.calls = calls
        self.body = json.dumps({"audience": AUDIENCE, "scope": SCOPE}).encode()

    async def _timed(self, op: str, request, record: bool = True) -> httpx.Response | None:
        started = time.perf_counter()
        response = None
        try:
            response = await request
            code = error_code(response)
        except httpx.TimeoutException:
            code = "timeout"
        except httpx.HTTPError:
            code = "unreachable"
        if record:
            ms = (time.perf_counter() - started) * 1000
            self.calls.append({"op": op, "ms": ms, "code": code})
        return response if code == "ok" else None

    async def mint(self) -> str | None:
        response = await self._timed(
            "mint", self.http.post(self.broker, content=self.body, headers=self.headers)
        )
        return response.json()["access_token"] if response is not None else None

    async def forget(self) -> bool:
        """Drop this server's cached tokens in the broker (untimed setup); whether it worked."""
        request = self.http.delete(self.broker, headers=self.headers)
        return await self._timed("forget", request, record=False) is not None

    async def read(self, access_token: str) -> None:
        headers = {"Authorization": f"Bearer {access_token}"}
        await self._timed("read", self.http.get(f"{self.fruit_api}/fruits/usual", headers=headers))


async def _until(start_at: float) -> None:
    await asyncio.sleep(max(0.0, start_at - time.time()))


async def steady(clients: list[Client], job: dict) -> None:
    """Every server mints and reads with the token, one round every 2-10 s, not in step."""
    rng = random.Random(job.get("seed", 11))
    seconds = float(job["seconds"])
    await _until(job["start_at"])
    end = time.monotonic() + seconds

    async def one(client: Client, delay: float, pauses: random.Random) -> None:
        await asyncio.sleep(delay)
        while time.monotonic() < end:
            token = await client.mint()
            if token:
                await client.read(token)
            await asyncio.sleep(min(pauses.uniform(2, 10), max(0.0, end - time.monotonic())))

    await asyncio.gather(
        *(one(c, rng.uniform(0, min(10.0, seconds)), random.Random(rng.random())) for c in clients)
    )


async def herd(clients: list[Client], job: dict, problems: list[str]) -> None:
    """Every server's cached tokens dropped, then ``clients`` requests per server at once."""
    forgotten = await asyncio.gather(*(c.forget() for c in clients))
    if not all(forgotten):
        problems.append(f"DELETE token-exchange failed for {forgotten.count(False)} servers")
        return
    await _until(job["start_at"])
    await asyncio.gather(*(c.mint() for c in clients for _ in range(int(job["clients"]))))


async def cold(clients: list[Client], job: dict) -> None:
    """Every server's first mint at once."""
    await _until(job["start_at"])
    await asyncio.gather(*(c.mint() for c in clients))


async def run(job: dict) -> dict:
    """Run one job; its calls and problems."""
    calls: list[dict] = []
    problems: list[str] = []
    servers = job.get("servers") or [
        {"api_url": os.environ["JUPYTERHUB_API_URL"], "token": os.environ["JUPYTERHUB_API_TOKEN"]}
    ]
    fruit_api = job.get("fruit_api") or os.environ["FRUIT_API_URL"]
    limits = httpx.Limits(max_connections=4 * len(servers) * int(job.get("clients", 1)))
    async with httpx.AsyncClient(timeout=float(job["timeout"]), limits=limits) as http:
        clients = [Client(http, s, fruit_api, calls) for s in servers]
        if job["scenario"] == "steady":
            await steady(clients, job)
        elif job["scenario"] == "herd":
            await herd(clients, job, problems)
        elif job["scenario"] == "cold":
            await cold(clients, job)
        else:
            problems.append(f"unknown scenario {job['scenario']!r}")
    return {"calls": calls, "problems": problems}


if __name__ == "__main__":
    answer = asyncio.run(run(json.loads(sys.stdin.readline())))
    sys.stdout.write(json.dumps(answer) + "\n")
