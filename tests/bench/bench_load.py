"""Load benchmark (issue 11): many users' notebook servers minting at once, either runtime.

Run with ``make bench-load [RUNTIME=compose]`` (``python -m tests.bench.bench_load [--users N]
...`` from the repository root against a running stack). A script that prints tables, not a
test; it exits 1 when a scenario had an error or broke a single-flight count.

Setup: ``--users`` Keycloak users (``loadNNN``, in hub-users and fruit-curators) are created
through Keycloak's admin API and removed afterwards (hub users, servers, homes and Keycloak
accounts). Each logs in to the hub through the real OAuth flow (httpx through Keycloak's login
form) and starts a server:

- native, ``HUB_SPAWNER=standin`` (``make bench-load``): a stand-in process of a few MB per
  server (``tests/bench/standin_server.py``, started by the hub like a real one, with its own
  ``$JUPYTERHUB_API_TOKEN``), 200 by default; ``HUB_SPAWNER=local``: real Jupyter servers;
- compose: real servers, containers made by the hub's DockerSpawner, 40 by default.

The servers' clients (``tests.bench.load_client``) call the hub's broker exactly as code in
each server would: at its ``$JUPYTERHUB_API_URL``, with its token, from its address
(``tests.bench.runtimes``: in the benchmark's process on loopback, or inside each container).

Scenarios, one table each (latency p50/p95/p99, throughput, errors by code, the requests the
hub sent to Keycloak, CPU and peak RSS of the hub, Keycloak and, on compose, Postgres):

  steady   every user mints (``POST token-exchange``) and reads ``/fruits/usual`` with the
           token, one round every 2-10 s (uniform), for ``--steady-seconds``;
  herd     every user's cached tokens are dropped (``DELETE``, untimed) at a moment when every
           user's Keycloak token also needs refreshing (the benchmark waits for it: tokens live
           ``accessTokenLifespan``, the broker refreshes ``TOKEN_REFRESH_MARGIN`` before), then
           ``--herd-clients`` clients per user ask at once for the same token. Asserted: one
           exchange per (user, server, audience, scope) and at most one refresh per user;
  cold     the hub is killed (kill -9; supervisord or Docker's restart policy starts it again,
           servers keep running), then every user's first mint at once: the restarted hub
           knows no server's token yet.

Keycloak requests are counted in the hub's log: broker exchanges (audit lines with
``cached=false``), broker refreshes and JupyterHub's own refreshes (OAuthenticator's line).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import yaml

from stackconf import settings as conf
from tests.bench import runtimes, tables
from tests.bench.measures import HubLog, Sampler, Usage, available_mb, rss_mb
from tests.bench.runtimes import LoadError, LoadRuntime
from tests.bench.stack import bench_stack
from tests.support import keycloak_users
from tests.support.keycloak_admin import new_password
from tests.support.login_flows import hub_session
from tests.support.servers import server_processes, start_server
from tests.support.stack import Stack

GROUPS = ["hub-users", "fruit-curators"]
PREFIX = "load"
#: A call that takes longer than this is an error (``timeout``), never a hang.
TIMEOUT_S = 60.0
#: The demo realm: its ``accessTokenLifespan`` says when the users' Keycloak tokens expire.
REALM_FILE = conf.REPO / "idp" / "realms" / "demo" / "realm.yml"


#: Hub users deleted at once at the end (each waits for its server's route to leave Traefik).
DELETE_WORKERS = 16


# -- the servers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    user: str
    api_url: str  # $JUPYTERHUB_API_URL
    token: str = field(repr=False)  # $JUPYTERHUB_API_TOKEN, never printed
    logged_in_at: float = 0.0  # when the hub got the user's Keycloak tokens (epoch s)
    standin: bool = False
    home: str = ""  # the home folder the hub made for the server ($HOME), removed after
    pid: int = 0  # the server's process (the host's pid, also for a container's)
    container: str = ""  # compose: the server's container


def log_in_and_start(stack: Stack, user: str) -> float:
    """Log ``user`` in (the real OAuth flow) and start their server; when the hub got the
    user's Keycloak tokens."""
    browser = hub_session(stack, user)
    logged_in_at = time.time()
    try:
        start_server(stack, user, browser=browser)
    finally:
        browser.http.close()
    return logged_in_at


def make_users(stack: Stack, names: list[str], workers: int) -> tuple[Stack, list[Server], float]:
    """Create, log in and start these users; returns the stack (with their passwords), their
    servers and the seconds it took."""
    passwords = {n: new_password() for n in names}
    started = time.monotonic()
    # Hub users left by an interrupted run are bound to Keycloak accounts that no longer
    # exist: the hub would refuse the new accounts' logins (docs/security.md).
    delete_hub_users(stack, names)
    keycloak_users.users(
        stack, create=[{"username": n, "password": passwords[n], "groups": GROUPS} for n in names]
    )
    secrets = {**stack.secrets, **{f"DEMO_PASSWORD_{n.upper()}": passwords[n] for n in names}}
    stack = replace(stack, secrets=secrets)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        times = pool.map(lambda n: log_in_and_start(stack, n), names)
        logged_in = dict(zip(names, times, strict=True))
    found = server_processes(names)
    missing = sorted(set(names) - set(found))
    if missing:
        raise LoadError(f"no server process found for {len(missing)} users: {missing[:5]}")
    servers = [
        Server(
            user=n,
            api_url=found[n].env["JUPYTERHUB_API_URL"],
            token=found[n].env["JUPYTERHUB_API_TOKEN"],
            logged_in_at=logged_in[n],
            standin="standin_server.py" in found[n].cmdline,
            home=found[n].env.get("HOME", ""),
            pid=found[n].pid,
            container=conf.get("USER_CONTAINER_NAME").format(username=n),
        )
        for n in names
    ]
    return stack, servers, time.monotonic() - started


def delete_hub_users(stack: Stack, names: list[str]) -> None:
    """Delete these hub users, if they exist (which stops their servers)."""
    admin = hub_session(stack, "hubadmin")
    headers = {"X-XSRFToken": admin.cookies["_xsrf"]}

    def delete(name: str) -> None:  # stops the server first: seconds each (its route's removal)
        admin.request("DELETE", f"{stack.public_url}/hub/api/users/{name}", headers=headers)

    with ThreadPoolExecutor(max_workers=DELETE_WORKERS) as pool:
        list(pool.map(delete, names))
    admin.http.close()


def remove_users(stack: Stack, runtime: LoadRuntime, names: list[str], homes: list[str]) -> None:
    """Delete the benchmark's hub users (which stops their servers), their homes and Keycloak
    accounts."""
    delete_hub_users(stack, names)
    runtime.remove_homes(names, homes)
    keycloak_users.users(stack, delete=names)


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Call:
    op: str  # mint | read
    ms: float
    code: str  # "ok" or the error code


@dataclass
class Outcome:
    name: str
    seconds: float
    calls: list[Call]
    keycloak: dict[str, Counter[str]]
    usage: dict[str, Usage]
    problems: list[str] = field(default_factory=list)


def run_scenario(
    name: str, runtime: LoadRuntime, log: HubLog, servers: list[Server], job: dict
) -> Outcome:
    """Run one scenario's job (``tests.bench.load_client``) for every server, timed from the
    clients' common start."""
    log.mark()
    sampler = Sampler(runtime.pids)
    started = time.time() + runtime.lead_s(servers)
    with sampler.running(start_at=started) as usage:
        answer = runtime.run_job({**job, "start_at": started, "timeout": TIMEOUT_S}, servers)
        seconds = time.time() - started
    time.sleep(0.5)  # the hub's last log lines
    calls = [Call(c["op"], c["ms"], c["code"]) for c in answer["calls"]]
    return Outcome(name, seconds, calls, log.since_mark(), usage, list(answer["problems"]))


def refresh_due(servers: list[Server]) -> float:
    """When (epoch s) every user's Keycloak token, got at login, needs a refresh."""
    lifespan = float(yaml.safe_load(REALM_FILE.read_text())["accessTokenLifespan"])
    margin = conf.get_float("TOKEN_REFRESH_MARGIN")
    return max(s.logged_in_at for s in servers) + lifespan - margin + 2


# -- report ---------------------------------------------------------------------------------


def percentile(values: list[float], p: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def report(outcome: Outcome) -> str:
    header = ("op", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "per s", "errors by code")
    rows = []
    for op in ("mint", "read"):
        calls = [c for c in outcome.calls if c.op == op]
        if not calls:
            continue
        ms = [c.ms for c in calls]
        errors = Counter(c.code for c in calls if c.code != "ok")
        rows.append(
            (
                op,
                str(len(calls)),
                f"{percentile(ms, 50):.1f}",
                f"{percentile(ms, 95):.1f}",
                f"{percentile(ms, 99):.1f}",
                f"{max(ms):.1f}",
                f"{len(calls) / outcome.seconds:.1f}",
                ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none",
            )
        )
    lines = [f"== {outcome.name} ({outcome.seconds:.1f} s) ==", tables.render(header, rows)]
    exchanges, refreshes = outcome.keycloak["exchange"], outcome.keycloak["refresh"]
    lines.append(
        f"Keycloak requests by the hub: {sum(exchanges.values())} exchanges, "
        f"{sum(refreshes.values())} refreshes (most per user: exchanges "
        f"{max(exchanges.values(), default=0)}, refreshes {max(refreshes.values(), default=0)})"
    )
    lines.append(
        "; ".join(
            f"{part}: CPU {u.cpu_s:.1f} s ({100 * u.cpu_s / outcome.seconds:.0f}% of one core), "
            f"peak RSS {u.peak_rss_mb:.0f} MB"
            for part, u in outcome.usage.items()
        )
    )
    lines += [f"PROBLEM: {p}" for p in outcome.problems]
    return "\n".join(lines)


def check(
    outcome: Outcome, servers: list[Server], *, herd: bool = False, refresh_due: bool = False
) -> None:
    """Record what went wrong: any error; in the herd, other than one exchange per user's
    (server, audience, scope), or more than one refresh per user (``refresh_due``: exactly
    one, every user's Keycloak token needed one)."""
    errors = Counter(c.code for c in outcome.calls if c.code != "ok")
    if errors:
        outcome.problems.append(f"errors: {dict(errors)}")
    if not herd:
        return
    exchanges, refreshes = outcome.keycloak["exchange"], outcome.keycloak["refresh"]
    users = {s.user for s in servers}
    if set(exchanges) != users or set(exchanges.values()) != {1}:
        outcome.problems.append(
            f"expected one exchange per user's (server, audience, scope): "
            f"{sum(exchanges.values())} exchanges for {len(users)} users, most per user "
            f"{max(exchanges.values(), default=0)}"
        )
    if max(refreshes.values(), default=0) > 1:
        outcome.problems.append(f"users refreshed more than once: {refreshes.most_common(3)}")
    if refresh_due and set(refreshes) != users:
        outcome.problems.append(
            f"every user's Keycloak token was due for a refresh, but {len(users - set(refreshes))}"
            " users were not refreshed"
        )


def capacity(servers: list[Server]) -> str:
    """What the servers take in memory, and how many more of them this machine holds."""
    each = sum(rss_mb(s.pid) for s in servers) / len(servers)
    more = int(available_mb() / each) if each else 0
    return (
        f"servers: {each:.0f} MB resident each (with their kernels); this machine's available "
        f"memory holds about {more} more of them, {len(servers) + more} in all"
    )


# -- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_load",
        description="Many users' servers minting at once: steady, herd, cold start.",
    )
    parser.add_argument(
        "--users", type=int, help="users (default: 200 native, 40 compose: real containers)"
    )
    parser.add_argument("--steady-seconds", type=float, default=120.0)
    parser.add_argument("--herd-clients", type=int, default=3, help="clients per user (3)")
    parser.add_argument("--login-workers", type=int, default=8, help="logins at once (8)")
    parser.add_argument(
        "--no-refresh-wait",
        action="store_true",
        help="run the herd at once instead of waiting until every user's Keycloak token "
        "needs a refresh (then it measures exchanges only)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    stack = bench_stack("bench_load")
    runtime = runtimes.for_runtime(stack.runtime)
    users = args.users or (200 if stack.runtime == "native" else 40)
    log = runtime.hub_log()
    names = [f"{PREFIX}{i:03d}" for i in range(1, users + 1)]
    outcomes: list[Outcome] = []
    servers: list[Server] = []

    def scenario(name: str, job: dict, **checks: bool) -> None:
        outcome = run_scenario(name, runtime, log, servers, job)
        check(outcome, servers, **checks)
        outcomes.append(outcome)
        print(report(outcome) + "\n", flush=True)

    try:
        stack, servers, setup_s = make_users(stack, names, args.login_workers)
        kind = (
            "stand-in servers (HUB_SPAWNER=standin)"
            if all(s.standin for s in servers)
            else ("real Jupyter servers")
        )
        print(
            f"Load benchmark ({stack.runtime}): {len(servers)} users, each logged in through "
            f"Keycloak with a running server; {kind}; {len(servers)} users ready in "
            f"{setup_s:.0f} s ({args.login_workers} at a time). {os.cpu_count()} CPUs.",
            flush=True,
        )
        print(capacity(servers) + "\n", flush=True)

        scenario(
            f"steady: {len(servers)} users, a mint and a read every 2-10 s, "
            f"{args.steady_seconds:.0f} s",
            {"scenario": "steady", "seconds": args.steady_seconds},
        )
        if not args.no_refresh_wait:
            wait = refresh_due(servers) - time.time()
            if wait > 0:
                print(f"(waiting {wait:.0f} s until every user's Keycloak token needs a refresh)")
                time.sleep(wait)
        scenario(
            f"herd: {len(servers)} users x {args.herd_clients} clients at once, cache dropped"
            + ("" if args.no_refresh_wait else ", every Keycloak token due for a refresh"),
            {"scenario": "herd", "clients": args.herd_clients},
            herd=True,
            refresh_due=not args.no_refresh_wait,
        )
        killed_at = time.monotonic()
        runtime.kill_hub()
        back_s = runtimes.wait_for_hub(stack.public_url, killed_at)
        scenario(
            f"cold start: {len(servers)} first mints at once after a hub kill -9 "
            f"(hub back in {back_s:.1f} s)",
            {"scenario": "cold"},
        )
    except (LoadError, AssertionError, httpx.HTTPError) as e:
        print(f"bench_load: failed: {e}", file=sys.stderr)
        return 1
    finally:
        print(f"removing the {len(names)} benchmark users ...", flush=True)
        remove_users(stack, runtime, names, [s.home for s in servers])

    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "scenario": o.name,
                        "seconds": o.seconds,
                        "calls": len(o.calls),
                        "errors": dict(Counter(c.code for c in o.calls if c.code != "ok")),
                        "keycloak": {k: sum(v.values()) for k, v in o.keycloak.items()},
                        "problems": o.problems,
                    }
                    for o in outcomes
                ],
                indent=2,
            )
            + "\n"
        )
    return 1 if any(o.problems for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
