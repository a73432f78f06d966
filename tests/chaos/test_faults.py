"""Faults under load: each part of the compose stack killed (kill -9) or cut off while 20 users
mint tokens and read and write fruits, one fault at a time, in this order.

For each fault, while the part is down callers get answers with stable codes within a bounded
time (never a 500, never a hang); once the part is back the stack serves again by itself,
and calls started after it did so all succeed; every write the fruit API acknowledged is
still there; and no write it refused was applied. ``recovered`` is the start of the first
full iteration (a mint that reached Keycloak, a read, a write) that succeeded after the part
was back; ``failed after`` counts failed calls started later (must be 0).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.chaos import faults
from tests.chaos.conftest import FAULT_TABLE, Chaos
from tests.chaos.load import (
    TIMEOUT,
    Load,
    Record,
    acknowledged_writes,
    failures_by_code,
    refused_writes,
)
from tests.support.servers import mint_as_server

#: Every answer comes within the worker's bound; a timeout is a hang.
HANG = "timeout"
#: The most a part may take from back to serving again (seconds).
RECOVERY_BOUND = 180.0
#: How long calls are watched after the stack recovered (seconds): 20 workers make some
#: hundred calls in that time.
OBSERVE = 10.0
#: Calls started this close to now may not have answered yet: checked with the next fault.
IN_FLIGHT = 5.0
#: How long Keycloak stays cut off (the issue's 60 s).
CUT_SECONDS = 60.0
#: Codes callers may see while a part is down: the broker's (hubtokens), the fruit API's, the
#: proxy's (Traefik answers 502/503 when the API is away), no answer (the part's port closed).
STABLE_CODES = {
    "idp_unavailable",
    "broker_unreachable",
    "hub_unavailable",
    "temporarily_unavailable",
    "insufficient_storage",
    "unreachable",
    "http_502",
    "http_503",
    "http_504",
}


#: Codes a fault may add to STABLE_CODES. Traefik answers 404 for a moment after it restarts,
#: until its file provider has loaded the routes (its healthcheck passes before that): a known
#: gap, counted in the table, and never allowed after recovery.
MORE_CODES = {"Traefik kill -9": {"http_404"}}


@dataclass
class Outcome:
    fault_at: float
    back_at: float  # the part is back (restarted and healthy, reconnected, space freed)
    checks: Callable[[], None] | None = None  # fault-specific, after recovery


def fruits(chaos: Chaos) -> set[str]:
    """The usual fruits now, read through the API with a fresh token of a chaos user."""
    user = next(iter(chaos.containers))
    minted = mint_as_server(chaos.stack, user, "fruit-api", "fruits:read")
    assert minted.status_code == 200, minted.text
    response = httpx.get(
        f"{chaos.stack.public_url}/fruit-api/fruits/usual",
        headers={"Authorization": f"Bearer {minted.json()['access_token']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return set(response.json()["fruits"])


# -- the faults ------------------------------------------------------------------------------


def crash_and_restart(service: str) -> Outcome:
    """kill -9; the part is back when Docker restarted it and its healthcheck passes."""
    fault_at = time.time()
    killed = faults.crash(service)
    faults.wait_restarted(service, killed)
    return Outcome(fault_at, faults.wait_healthy(service))


def crash_hub(chaos: Chaos) -> Outcome:
    started = {u: faults.state(c)["StartedAt"] for u, c in chaos.containers.items()}
    outcome = crash_and_restart("hub")

    def servers_kept_and_no_new_login() -> None:
        for user, session in chaos.sessions.items():
            me = session.request(
                "GET",
                f"{chaos.stack.public_url}/hub/api/user",
                headers={"X-XSRFToken": session.cookies.get("_xsrf", "")},
            )
            assert me.status_code == 200, f"{user} must log in again after a hub restart: {me}"
            assert me.json()["servers"][""]["ready"], f"{user}'s server is not ready: {me.text}"
            now = faults.state(chaos.containers[user])
            assert now["Running"] and now["StartedAt"] == started[user], (
                f"{user}'s server container was restarted or stopped by the hub's restart"
            )

    outcome.checks = servers_kept_and_no_new_login
    return outcome


def cut_keycloak(chaos: Chaos) -> Outcome:
    fault_at = time.time()
    networks = faults.cut("keycloak")
    try:
        time.sleep(CUT_SECONDS / 2)
        retried = retried_mint_during_cut(chaos)
        time.sleep(max(0.0, fault_at + CUT_SECONDS - time.time()))
    finally:
        faults.reconnect("keycloak", networks)
    back_at = time.time()

    def the_client_retried_then_said_what_is_down() -> None:
        assert retried["error"] == "IdpUnavailable", retried
        assert retried["attempts"] >= 2, f"hubtokens did not retry: {retried}"
        assert "Keycloak" in retried["message"] or "identity provider" in retried["message"]
        assert retried["seconds"] < 60, f"the retries were not bounded: {retried}"

    return Outcome(fault_at, back_at, the_client_retried_then_said_what_is_down)


#: Run in a chaos user's server during the cut: the notebook library with its default retry
#: policy, after the broker forgot the cached tokens (so the mint must reach Keycloak).
RETRIED_MINT = """
import json, os, time
import httpx, hubtokens
from hubtokens.client import TokenClient
api = os.environ["JUPYTERHUB_API_URL"] + "/token-exchange"
auth = {"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}
httpx.delete(api, headers=auth, timeout=30)
client, started = TokenClient(retry_seconds=10), time.time()
try:
    client.get("fruit-api", "fruits:read")
    out = {"error": None}
except hubtokens.HubTokensError as e:
    out = {"error": type(e).__name__, "message": str(e), "attempts": getattr(e, "attempts", 0)}
out["seconds"] = time.time() - started
print(json.dumps(out))
"""


def retried_mint_during_cut(chaos: Chaos) -> dict:
    container = next(iter(chaos.containers.values()))
    return json.loads(faults.docker("exec", container, "python", "-c", RETRIED_MINT))


def disk_full(chaos: Chaos, load: Load) -> Outcome:
    fault_at = time.time()
    left = faults.fill_disk()
    assert left == 0, f"the fruit API's disk is not full ({left} blocks left)"
    time.sleep(20)
    full_until = time.time()
    faults.free_disk()
    back_at = time.time()

    def refused_while_full_and_reads_kept_working() -> None:
        during = load.between(fault_at + 2, full_until)
        writes = [r for r in during if r.op == "write"]
        reads = [r for r in during if r.op == "read"]
        assert writes and all(r.code == "insufficient_storage" for r in writes), (
            f"writes on a full disk must get 507 insufficient_storage: {failures_by_code(writes)}"
        )
        assert reads and all(r.ok for r in reads), f"reads failed: {failures_by_code(reads)}"

    return Outcome(fault_at, back_at, refused_while_full_and_reads_kept_working)


FAULTS: dict[str, Callable[..., Outcome]] = {
    "fruit API kill -9": lambda chaos, load: crash_and_restart("fruit-api"),
    "Traefik kill -9": lambda chaos, load: crash_and_restart("traefik"),
    "hub kill -9": lambda chaos, load: crash_hub(chaos),
    "Postgres kill -9": lambda chaos, load: crash_and_restart("postgres"),
    "Keycloak kill -9": lambda chaos, load: crash_and_restart("keycloak"),
    "Keycloak cut 60 s": lambda chaos, load: cut_keycloak(chaos),
    "fruit API disk full": disk_full,
}

#: Writes made while the drill's small disk served: checked there, absent from the real one.
drill_writes: set[str] = set()


@pytest.fixture(scope="module")
def warmed(chaos_users: Chaos, load: Load) -> Load:
    """The load has run clean for a while before the first fault."""
    assert load.wait_for_full_success(time.time(), RECOVERY_BOUND), "the load never succeeded"
    time.sleep(OBSERVE)
    assert all(load.alive().values()), f"workers died: {load.problems}"
    return load


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault(name: str, chaos_users: Chaos, warmed: Load) -> None:
    load = warmed
    drill = name == "fruit API disk full"
    if drill:
        swapped_at = time.time()
        faults.small_disk_fruit_api()
        assert load.wait_for_full_success(time.time(), RECOVERY_BOUND)
        drill_from = swapped_at
    outcome = FAULTS[name](chaos_users, load)
    recovered_at = load.wait_for_full_success(outcome.back_at, RECOVERY_BOUND)
    assert recovered_at is not None, (
        f"after {name} the stack did not serve a full iteration within {RECOVERY_BOUND:.0f} s: "
        f"{failures_by_code(load.between(outcome.back_at, time.time()))}"
    )
    time.sleep(OBSERVE)
    if outcome.checks:
        outcome.checks()
    during = load.between(outcome.fault_at, recovered_at)
    after = load.between(recovered_at, time.time() - IN_FLIGHT)
    if drill:
        # Records first, then the fruits: every write in the records was answered before the read.
        on_drill_disk = [r for r in load.snapshot() if r.t >= drill_from]
        present = fruits(chaos_users)
        faults.normal_fruit_api()
        assert load.wait_for_full_success(time.time(), RECOVERY_BOUND)
        # While compose swapped the disks, the old container still answered for a moment: what
        # it acknowledged is on the normal disk, so a write is lost only when on neither.
        lost = acknowledged_writes(on_drill_disk) - present - fruits(chaos_users)
        half_applied = refused_writes(on_drill_disk) & present
        drill_writes.update(acknowledged_writes(load.between(drill_from, time.time())))
    else:
        everything = load.snapshot()
        present = fruits(chaos_users)
        lost = acknowledged_writes(everything) - drill_writes - present
        half_applied = refused_writes(everything) & present

    failed_after = failures_by_code(after)
    failed_during = failures_by_code(during)
    window = during + after
    FAULT_TABLE.append(
        (
            name,
            f"{outcome.back_at - outcome.fault_at:.1f}",
            f"{recovered_at - outcome.back_at:.1f}",
            ", ".join(f"{k} {v}" for k, v in sorted(failed_during.items())) or "none",
            f"{max((r.ms for r in window), default=0) / 1000:.1f}",
            str(sum(failed_after.values())),
            str(len(lost)),
        )
    )
    unstable = {r.code for r in during if not r.ok} - STABLE_CODES - MORE_CODES.get(name, set())
    assert not unstable, f"{name}: answers without a stable code: {unstable}"
    assert not [r for r in window if r.status == 500], f"{name}: a 500 reached a caller"
    slow = [r for r in window if r.code == HANG or r.ms > TIMEOUT * 1000]
    assert not slow, f"{name}: {len(slow)} calls hung ({slow[:3]})"
    assert not failed_after, f"{name}: calls failed after recovery: {failed_after}"
    assert not lost, f"{name}: acknowledged writes lost: {sorted(lost)[:10]}"
    assert not half_applied, f"{name}: refused writes applied: {sorted(half_applied)[:10]}"
    assert all(load.alive().values()), f"workers died: {load.problems}"


def test_idp_unavailable_came_with_retry_after(warmed: Load) -> None:
    """Every ``idp_unavailable`` the workers saw carried the broker's Retry-After."""
    refusals: list[Record] = [r for r in warmed.snapshot() if r.code == "idp_unavailable"]
    assert refusals, "no idp_unavailable seen: the Keycloak faults did not reach the broker"
    assert all(r.retry_after for r in refusals), "an idp_unavailable came without Retry-After"
