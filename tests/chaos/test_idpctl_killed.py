"""An ``idpctl apply`` killed midway (kill -9 of its container) leaves Keycloak in a state the
next apply converges from, with no duplicate objects.

The research realm (idp/realms/research, off by default in the stack) is applied from scratch,
so that the apply has dozens of objects to create; its container is killed after a few of them
were applied. Then apply runs again to the end, plan shows no changes, and no name appears
twice among the realm's clients, client scopes, groups, realm roles and users. The realm is
deleted afterwards.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter

import pytest

from compose_runtime import cli as compose_runtime
from stackconf.settings import StackSettings
from tests.chaos import faults
from tests.support import keycloak_users
from tests.support.stack import Stack

REALM = "research"
CONTAINER = "jhk-chaos-idpctl"
KILL_AFTER = 4  # applied changes


def idpctl(command: str, *, name: str | None = None) -> subprocess.Popen:
    settings = StackSettings.from_env()
    named = ["--name", name] if name else []
    return subprocess.Popen(
        [
            *compose_runtime.compose_command(settings),
            *["run", "--rm", "--no-deps", *named, "-e", f"IDP_REALMS={REALM}"],
            *["-e", "PYTHONUNBUFFERED=1", "idp", "idpctl", command, "--idp-dir", "/srv/idp"],
        ],
        env=compose_runtime.compose_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out


def delete_realm(stack: Stack) -> None:
    [(status, _)] = keycloak_users.calls(stack, ("DELETE", f"/{REALM}"))
    assert status in (204, 404), f"could not delete realm {REALM}: HTTP {status}"


@pytest.fixture
def no_research_realm(compose_stack: Stack):  # noqa: F811 (fixture from tests/chaos/conftest)
    delete_realm(compose_stack)
    yield compose_stack
    delete_realm(compose_stack)
    subprocess.run(["docker", "rm", "-f", CONTAINER], capture_output=True, check=False)


def test_apply_killed_midway_converges(no_research_realm: Stack) -> None:
    stack = no_research_realm
    killed = idpctl("apply", name=CONTAINER)
    assert killed.stdout is not None
    planned, applied, seen = 0, 0, []
    for line in killed.stdout:
        seen.append(line.rstrip())
        if match := re.search(r"Plan for \S+: (\d+) to create", line):
            planned = int(match.group(1))
        if "applied:" in line:
            applied += 1
            if applied == KILL_AFTER:
                faults.docker("kill", "--signal", "KILL", CONTAINER)
                break
    killed.wait(timeout=60)
    assert applied == KILL_AFTER and planned > 2 * KILL_AFTER, "\n".join(seen[-20:])

    code, out = finish(idpctl("apply"))
    assert code == 0, out
    assert re.search(rf"Applied \d+ change\(s\) to realm {REALM}", out), out
    code, out = finish(idpctl("plan"))
    assert code == 0 and f"Realm {REALM}: no changes." in out, out

    kinds = {
        "clients": ("clientId", f"/{REALM}/clients"),
        "client scopes": ("name", f"/{REALM}/client-scopes"),
        "groups": ("name", f"/{REALM}/groups"),
        "realm roles": ("name", f"/{REALM}/roles"),
        "users": ("username", f"/{REALM}/users?max=1000"),
    }
    answers = keycloak_users.calls(stack, *[("GET", path) for _, path in kinds.values()])
    for (kind, (key, _)), (status, body) in zip(kinds.items(), answers, strict=True):
        assert status == 200 and isinstance(body, list), f"{kind}: HTTP {status}"
        twice = [name for name, n in Counter(item[key] for item in body).items() if n > 1]
        assert not twice, f"duplicate {kind} after a killed apply: {twice}"
