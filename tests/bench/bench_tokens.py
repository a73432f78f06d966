"""Latency benchmark of the token broker against the running stack (native runtime only).

Run with ``python -m tests.bench.bench_tokens [--quick] [--json PATH]`` from the repository
root after ``make up RUNTIME=native``. Sequential, one client, after a short warm-up; per case
it reports p50, p99 and mean latency in milliseconds and requests per second (n / summed
latency).

The broker answers only a running server's own JupyterHub API token, sent from that server's
address to ``$JUPYTERHUB_API_URL/token-exchange``. So the bench logs ``reader`` in once (a
fresh Keycloak session for the broker), starts reader's server (it is left running), reads
the server process's environment and calls the hub exactly as code in that server would: at
its ``$JUPYTERHUB_API_URL``, from loopback, with its ``$JUPYTERHUB_API_TOKEN``. Under the
compose runtime the hub's API is on Docker networks only (and Traefik's public entrypoint
refuses the broker's path), so the bench refuses to run there.

Cases, all as reader's server asking for ``fruit-api`` / ``fruits:read``:

  a  ``TokenClient.get`` served from the notebook-side in-process cache (no network);
  b  ``POST {api}/token-exchange`` served from the broker's cache (same token and body);
  c  an uncached mint: ``POST {api}/token-exchange`` right after ``DELETE {api}/token-exchange``
     (untimed) made the broker forget the tokens it cached for this server;
  d  ``GET {api}/user`` with the same token at the same URL: the floor for anything that
     crosses the hub, back to back (as b); d' the same call in c's rounds (as c);
  e  the same RFC 8693 exchange sent straight to Keycloak by the broker's exchange client,
     as the broker sends it: at the hub's back-channel token URL (KEYCLOAK_INTERNAL_URL, not
     through Traefik), with a subject token of the hub's login shape (the hub client's
     ``openid profile email``), over one kept-alive connection.

Like for like: b, c and d send the same server token from the same client to the same hub,
so they pay the same hub-side costs (token lookup, JupyterHub's activity update, which it
writes at most once per 30 s per token); c and e send the same exchange to the same URL.
c, d' and e are measured in the same rounds (one of each per round, in an order that
rotates), spaced by the broker's rate limit: a call after a pause costs more than one in a
back-to-back loop (measured: the hub floor 2.5 ms after a pause against 1.3 ms in a loop), so
the parts of c are measured under c's own conditions. b and d are both back-to-back loops.

Ratios (on p50): b/d is what a broker cache hit costs relative to the cheapest authenticated
hub call; c/(d'+e) is what an uncached mint costs relative to the sum of its two unavoidable
parts (crossing the hub, and Keycloak's exchange), measured alike.

Case c checks that each token it got was issued during the run and that all are distinct (so
a cache hit can never pass for a mint).
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from hubtokens.client import TokenClient
from native_runtime.settings import Settings as NativeSettings
from stackconf import settings as conf
from tests.bench import tables
from tests.bench.stack import bench_stack
from tests.support.login_flows import hub_session, keycloak_tokens
from tests.support.servers import server_environment, start_server
from tests.support.stack import Stack

USER = "reader"
AUDIENCE = "fruit-api"
SCOPE = "fruits:read"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
#: Get a new Keycloak subject token for case e when the current one has less than this left.
SUBJECT_TOKEN_MARGIN_S = 30.0

#: (iterations, warm-up) per case; c's are rounds of one uncached mint and one direct
#: exchange (e), one round per second or so (the broker's per-user rate limit). 100 samples
#: or more for a p99 that is not simply the slowest sample.
FULL = {"a": (20000, 1000), "b": (1000, 20), "c": (150, 5), "d": (1000, 20)}
QUICK = {"a": (2000, 100), "b": (50, 5), "c": (8, 2), "d": (50, 5)}
#: Fewer samples than this: p99 is not printed (it would be the slowest sample).
P99_MIN_SAMPLES = 100
#: The subject token's scopes: those the hub's login asks for (hub/jupyterhub_config.py).
HUB_LOGIN_SCOPE = "openid profile email"

LABELS = {
    "a": "a notebook cache (TokenClient.get)",
    "b": "b broker cache (POST token-exchange)",
    "c": "c uncached mint (POST after DELETE)",
    "d": "d hub floor (GET /hub/api/user)",
    "d'": "d' hub floor, in c's rounds",
    "e": "e Keycloak exchange (direct)",
}


#: Why the bench does not run under compose, and what to do instead (one line).
NATIVE_ONLY = (
    "the broker cannot be reached from this host under the {runtime} runtime (the hub's API "
    "is on Docker networks only and Traefik's public entrypoint refuses the broker's path): "
    "run `make up RUNTIME=native`, then the bench (`make bench RUNTIME=native`); the load "
    "benchmark of issue 11 will run inside user containers."
)


class BenchError(Exception):
    """A request in the benchmark did not give the expected answer."""


@dataclass
class Result:
    n: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    rps: float


def summarize(samples_ns: list[int]) -> Result:
    ms = [s / 1e6 for s in samples_ns]
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
    return Result(
        n=len(ms),
        p50_ms=statistics.median(ms),
        p99_ms=p99,
        mean_ms=statistics.fmean(ms),
        rps=len(ms) / (sum(ms) / 1000),
    )


def timed(call: Callable[[], Any], n: int, warmup: int) -> list[int]:
    """Run ``call`` ``warmup`` times untimed, then ``n`` times; per-call nanoseconds."""
    for _ in range(warmup):
        call()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        call()
        samples.append(clock() - start)
    return samples


def expect(response: httpx.Response, status: int, what: str) -> httpx.Response:
    if response.status_code != status:
        raise BenchError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response


# -- setup: reader's running server, as the broker's only caller ----------------------------


@dataclass(frozen=True)
class Server:
    """Where and with what a notebook server calls the hub: its $JUPYTERHUB_API_URL (e.g.
    ``http://127.0.0.1:8081/hub/api``) and its $JUPYTERHUB_API_TOKEN."""

    api_url: str
    token: str = field(repr=False)  # never printed

    @property
    def origin(self) -> str:
        """``scheme://host:port`` of the API URL: the base URL of the bench's HTTP client."""
        url = urlsplit(self.api_url)
        return f"{url.scheme}://{url.netloc}"

    @property
    def api_path(self) -> str:
        """The API URL's path (``/hub/api``), for requests relative to ``origin``."""
        return urlsplit(self.api_url).path.rstrip("/")

    @property
    def broker_path(self) -> str:
        return f"{self.api_path}/token-exchange"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


def own_server(stack: Stack, username: str) -> Server:
    """Log ``username`` in to the hub (once: a fresh Keycloak session for the broker), start
    their server if needed, and read its API URL and token from the server process."""
    browser = hub_session(stack, username)
    try:
        start_server(stack, username, browser=browser)
    finally:
        browser.http.close()
    env = server_environment(username)
    return Server(api_url=env["JUPYTERHUB_API_URL"], token=env["JUPYTERHUB_API_TOKEN"])


# -- the cases ------------------------------------------------------------------------------


def bench_notebook_cache(server: Server, n: int, warmup: int) -> list[int]:
    with TokenClient(hub_api_url=server.api_url, api_token=server.token) as client:
        first = client.get(AUDIENCE, SCOPE)  # fills the cache (one real mint)

        def call() -> None:
            if client.get(AUDIENCE, SCOPE) is not first:
                raise BenchError("TokenClient.get did not serve its cached token")

        return timed(call, n, warmup)


def exchange_body() -> bytes:
    return json.dumps({"audience": AUDIENCE, "scope": SCOPE}).encode()


def bench_broker_cache(hub: httpx.Client, server: Server, n: int, warmup: int) -> list[int]:
    headers = {**server.auth(), "Content-Type": "application/json"}
    body = exchange_body()
    path = server.broker_path

    def call() -> None:
        expect(hub.post(path, content=body, headers=headers), 200, f"POST {path}")

    return timed(call, n, warmup)


def mint_spacing() -> float:
    """Seconds between uncached mints that keep one user under the broker's per-user limit
    (TOKEN_EXCHANGE_RATE per minute, TOKEN_EXCHANGE_BURST per 10 s; 0 turns it off)."""
    rate, burst = conf.get_int("TOKEN_EXCHANGE_RATE"), conf.get_int("TOKEN_EXCHANGE_BURST")
    if rate <= 0:
        return 0.0
    return max(60 / rate, 10 / burst if burst > 0 else 0.0) * 1.05


def bench_uncached_mint(
    hub: httpx.Client, server: Server, direct: DirectExchange, n: int, warmup: int
) -> tuple[list[int], list[int], list[int]]:
    """``warmup + n`` rounds, spaced to stay under the broker's rate limit; each round one
    uncached mint (c: the ``POST`` right after a ``DELETE``, untimed, made the broker forget
    what it cached for this server), one hub floor call (d') and one direct exchange at
    Keycloak (e), in an order that rotates, so that all three meet the hub and Keycloak in
    the same state (after the same pause). Returns (c, d', e) samples, the first ``warmup``
    rounds not measured."""
    body = exchange_body()
    headers = {**server.auth(), "Content-Type": "application/json"}
    path = server.broker_path
    mints: list[int] = []
    exchanges: list[int] = []
    minted: set[str] = set()
    started = int(time.time()) - 1  # JWT iat has one-second resolution
    stale = 0
    clock = time.perf_counter_ns
    pause = mint_spacing()
    rounds = warmup + n

    def mint() -> int:
        nonlocal stale
        expect(hub.delete(path, headers=server.auth()), 200, f"DELETE {path}")
        start = clock()
        response = hub.post(path, content=body, headers=headers)
        elapsed = clock() - start
        access_token = expect(response, 200, f"POST {path}").json()["access_token"]
        minted.add(access_token)
        stale += issued_at(access_token) < started
        return elapsed

    def floor() -> int:
        start = clock()
        expect(hub.get(f"{server.api_path}/user", headers=server.auth()), 200, "GET /user")
        return clock() - start

    calls = {"c": mint, "d": floor, "e": direct}
    orders = ("cde", "dec", "ecd")
    floors: list[int] = []
    for i in range(rounds):
        time.sleep(pause)  # outside the measurement: stay under the broker's rate limit
        took = {case: calls[case]() for case in orders[i % len(orders)]}
        if i >= warmup:
            mints.append(took["c"])
            floors.append(took["d"])
            exchanges.append(took["e"])
    if stale:
        raise BenchError(
            f"{stale} of {rounds} mints right after DELETE {path} returned a token issued "
            "before this run: the broker served them from its cache although it was told to "
            "forget this server's tokens, so case c would not be uncached."
        )
    if len(minted) != rounds:  # a cache hit would have returned an earlier token
        raise BenchError(
            f"{rounds} mints right after DELETE {path} returned only {len(minted)} distinct "
            "access tokens: some were served from the broker's cache, so case c is not uncached."
        )
    return mints, floors, exchanges


def issued_at(jwt: str) -> int:
    """The ``iat`` claim of a JWT, read without verifying it (only to tell fresh from cached)."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["iat"])
    except (IndexError, KeyError, TypeError, ValueError) as e:
        raise BenchError(f"the minted access token is not a JWT with iat: {e}") from None


def bench_hub_floor(hub: httpx.Client, server: Server, n: int, warmup: int) -> list[int]:
    headers = server.auth()
    path = f"{server.api_path}/user"

    def call() -> None:
        expect(hub.get(path, headers=headers), 200, f"GET {path}")

    return timed(call, n, warmup)


def backchannel_token_url(stack: Stack) -> str:
    """Keycloak's token endpoint where the native hub's broker calls it (the runtime gives the
    hub KEYCLOAK_INTERNAL_URL: Keycloak on loopback, not through Traefik)."""
    internal = NativeSettings.from_env().keycloak_internal_url.rstrip("/")
    return f"{internal}/realms/{stack.realm}/protocol/openid-connect/token"


class DirectExchange:
    """Case e: one exchange sent straight to Keycloak by the broker's exchange client, as the
    broker sends it (``__call__`` returns its nanoseconds); the subject token (the hub login's
    shape) is renewed, untimed, before it gets too old."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.auth = ("jupyterhub-exchange", stack.secrets["JUPYTERHUB_EXCHANGE_CLIENT_SECRET"])
        self.token_url = backchannel_token_url(stack)
        self.http = httpx.Client(timeout=30.0)
        self.subject = ""
        self.good_until = 0.0

    def _renew_if_needed(self) -> None:
        if time.monotonic() < self.good_until:
            return
        got_at = time.monotonic()
        tokens = keycloak_tokens(self.stack, USER, scope=HUB_LOGIN_SCOPE)
        self.subject = tokens["access_token"]
        self.good_until = got_at + float(tokens["expires_in"]) - SUBJECT_TOKEN_MARGIN_S

    def __call__(self) -> int:
        self._renew_if_needed()
        data = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": self.subject,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": AUDIENCE,
            "scope": SCOPE,
        }
        start = time.perf_counter_ns()
        response = self.http.post(self.token_url, data=data, auth=self.auth)
        elapsed = time.perf_counter_ns() - start
        expect(response, 200, f"token exchange at {self.token_url}")
        return elapsed

    def close(self) -> None:
        self.http.close()


# -- report ---------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value:.4f}" if value < 10 else f"{value:.2f}"


def table(results: dict[str, Result]) -> str:
    header = ("case", "n", "p50 ms", "p99 ms", "mean ms", "req/s, 1 client")
    rows = [
        (
            LABELS[k],
            str(r.n),
            ms(r.p50_ms),
            ms(r.p99_ms) if r.n >= P99_MIN_SAMPLES else "-",
            ms(r.mean_ms),
            f"{r.rps:.0f}",
        )
        for k, r in sorted(results.items())
    ]
    return tables.render(header, rows)


def ratios(results: dict[str, Result]) -> dict[str, float]:
    p50 = {k: r.p50_ms for k, r in results.items()}
    return {"b/d": p50["b"] / p50["d"], "c/(d'+e)": p50["c"] / (p50["d'"] + p50["e"])}


def run(stack: Stack, quick: bool) -> tuple[Server, dict[str, Result]]:
    counts = QUICK if quick else FULL
    server = own_server(stack, USER)
    samples: dict[str, list[int]] = {}
    with httpx.Client(base_url=server.origin, timeout=30.0) as hub:
        # c first, right after login, so no mint pays for refreshing the user's login.
        direct = DirectExchange(stack)
        try:
            rounds = bench_uncached_mint(hub, server, direct, *counts["c"])
            samples["c"], samples["d'"], samples["e"] = rounds
        finally:
            direct.close()
        samples["b"] = bench_broker_cache(hub, server, *counts["b"])
        samples["d"] = bench_hub_floor(hub, server, *counts["d"])
    samples["a"] = bench_notebook_cache(server, *counts["a"])
    return server, {k: summarize(v) for k, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_tokens",
        description="Latency of the token broker (cached, uncached) against hub and Keycloak.",
    )
    parser.add_argument("--quick", action="store_true", help="few iterations (CI smoke test)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    stack = bench_stack("bench_tokens", native_only=NATIVE_ONLY)

    started = time.perf_counter()
    try:
        server, results = run(stack, args.quick)
    except (BenchError, AssertionError, httpx.HTTPError) as e:
        print(f"bench_tokens: failed against {stack.public_url}: {e}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started

    r = ratios(results)
    mode = "quick" if args.quick else "full"
    print(
        f"Token broker benchmark (native): {server.api_url} as {USER}'s server, "
        f"{AUDIENCE} {SCOPE!r}, {mode}"
    )
    print("sequential, one client, after warm-up; req/s = n / summed latency\n")
    print(table(results))
    print()
    print(f"b/d      = {r['b/d']:.2f}  a broker cache hit costs this many hub floor calls (p50)")
    mint_ratio = r["c/(d'+e)"]
    print(
        f"c/(d'+e) = {mint_ratio:.2f}  an uncached mint vs. crossing the hub plus Keycloak's "
        "exchange (p50; 1.0 = the broker adds nothing)"
    )
    print(f"\ntook {elapsed:.1f} s")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "public_url": stack.public_url,
                    "runtime": stack.runtime,
                    "hub_api_url": server.api_url,
                    "user": USER,
                    "audience": AUDIENCE,
                    "scope": SCOPE,
                    "mode": mode,
                    "elapsed_s": round(elapsed, 3),
                    "cases": {k: asdict(v) for k, v in sorted(results.items())},
                    "ratios_p50": r,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
