"""The chaos suite (issue 10): faults under load against the compose stack.

``chaos_users``: ``CHAOS_USERS`` (default 20) Keycloak users made for the run, in hub-users
and fruit-curators, each logged in to the hub through the real OAuth flow and with a running
server (a real container). ``load``: one worker per user inside that container, minting and
calling the fruit API in a loop for the whole module (tests/chaos/worker.py). The fault tests
add rows to ``FAULT_TABLE``, printed at the end of the run.
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from stackconf import settings as conf
from tests.chaos import faults
from tests.chaos.load import Load
from tests.compose.conftest import compose_stack  # noqa: F401 (fixture)
from tests.support import keycloak_users
from tests.support.keycloak_admin import new_password
from tests.support.login_flows import CookieCarrier, hub_session
from tests.support.servers import container_of, start_server
from tests.support.stack import Stack

CHAOS_USERS = int(os.environ.get("CHAOS_USERS", "20"))
GROUPS = ["hub-users", "fruit-curators"]

#: One row per fault: (fault, down s, recovered s, failed during, slowest answer s, failed
#: after, writes lost). down: from the fault until the part is back (restarted and healthy,
#: reconnected, space freed); recovered: from then until the first full iteration (a mint that
#: reached Keycloak, a read, a write) succeeded; slowest: the longest any call of the fault's
#: window waited for its answer.
FAULT_TABLE: list[tuple[str, ...]] = []
HEADERS = (
    "fault",
    "down s",
    "recovered s",
    "failed during the fault (by code)",
    "slowest s",
    "failed after",
    "writes lost",
)


@dataclass
class Chaos:
    stack: Stack
    sessions: dict[str, CookieCarrier]  # user -> hub session (cookies)
    containers: dict[str, str]  # user -> server container name


def _hub_user_started(stack: Stack, user: str) -> CookieCarrier:
    session = hub_session(stack, user)
    start_server(stack, user, browser=session)
    return session


@pytest.fixture(scope="module")
def chaos_users(compose_stack: Stack) -> Iterator[Chaos]:  # noqa: F811 (fixture)
    names = [f"chaos{i:02d}" for i in range(1, CHAOS_USERS + 1)]
    passwords = {name: new_password() for name in names}
    keycloak_users.users(
        compose_stack,
        create=[{"username": n, "password": passwords[n], "groups": GROUPS} for n in names],
    )
    secrets = {**compose_stack.secrets}
    secrets.update({f"DEMO_PASSWORD_{n.upper()}": passwords[n] for n in names})
    stack = dataclasses.replace(compose_stack, secrets=secrets)
    try:
        with ThreadPoolExecutor(max_workers=5) as pool:
            started = pool.map(lambda n: _hub_user_started(stack, n), names)
            sessions = dict(zip(names, started, strict=True))
        yield Chaos(stack, sessions, {n: container_of(n) for n in names})
    finally:
        _remove(compose_stack, names)


def _remove(stack: Stack, names: list[str]) -> None:
    """The chaos users (from the hub, by a hub admin, which stops their servers; and from
    Keycloak: a hub user is bound to one Keycloak account, so the next run's namesakes could
    not log in), their containers and volumes, and their fruits."""
    admin = hub_session(stack, "hubadmin")
    for name in names:
        gone = admin.request(
            "DELETE",
            f"{stack.public_url}/hub/api/users/{name}",
            headers={"X-XSRFToken": admin.cookies["_xsrf"]},
        )
        assert gone.status_code in (204, 404), f"could not delete hub user {name}: {gone.text}"
    keycloak_users.users(stack, delete=names)
    containers = [container_of(n) for n in names]
    subprocess.run(["docker", "rm", "-f", *containers], capture_output=True, check=False)
    volumes = [conf.get("USER_VOLUME_NAME").replace("{username}", n) for n in names]
    subprocess.run(["docker", "volume", "rm", *volumes], capture_output=True, check=False)
    subprocess.run(
        ["docker", "exec", faults.container("fruit-api"), "python", "-c", DELETE_CHAOS_FRUITS],
        capture_output=True,
        check=False,
    )


#: The chaos fruits, deleted in the fruit API's own database (thousands: not one by one).
DELETE_CHAOS_FRUITS = """
import os, sqlite3
db = sqlite3.connect(os.environ["FRUIT_API_DATABASE_URL"].removeprefix("sqlite:///"))
with db:
    db.execute("DELETE FROM fruits WHERE name LIKE 'chaos-%'")
"""


@pytest.fixture(scope="module")
def load(chaos_users: Chaos) -> Iterator[Load]:
    running = Load(chaos_users.containers, seed=random.randrange(10**6))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if not FAULT_TABLE:
        return
    rows = [HEADERS, *FAULT_TABLE]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    terminalreporter.section(f"faults under load ({CHAOS_USERS} users)")
    for row in rows:
        terminalreporter.write_line(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        )
