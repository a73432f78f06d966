"""One test tree, several suites; each suite needs a different thing to run against.

- unit (tests/unit): nothing; our code, with fakes for Keycloak and the hub.
- fuzz (tests/fuzz): nothing; generated and mutated inputs (hypothesis, schemathesis) against
  our code, with bounded budgets; every crash found stays as a regression example.
- integration (tests/integration): the native stack (`make up RUNTIME=native`); the idp
  tests and the research hub reach Keycloak's admin API and start processes on this machine.
- e2e (tests/e2e): a running stack of either runtime, and Debian's Chromium. Those marked
  runtime_neutral test what every runtime serves from the same code (Keycloak's and the
  hub's pages, the broker, the fruit API): CI runs them once, on the compose stack, and the
  native run only the others (STACK_TESTS in the Makefile).
- compose (tests/compose): the compose stack; containers, networks, volumes.
- deploy (tests/deploy): a deployment made by the Ansible playbooks (playbooks/tests/run.sh).
- security (tests/security): attacks against the compose stack; each passes only when the
  attack fails.
- chaos (tests/chaos): faults under load against the compose stack (parts killed, Keycloak
  cut off, a full disk), a killed idpctl apply, and backup/restore; it hurts the stack and
  puts it back, so it runs last, in a pytest run of its own (`make test-chaos`).
- swarm (tests/swarm): the swarm runtime on three engines made on this machine (`make
  test-swarm`: tests/swarm/nodes.py makes them and removes them after).

Only one stack can run at a time (they share ports), so the suites run apart: one pytest
invocation per stack, the marker selecting its suites (`make test-unit`, `make test-stack`,
`make test-compose`, which runs the security suite too, `make test-deploy`). Every test gets
its folder's marker here; a bare `pytest` runs the unit suite only (testpaths in
pyproject.toml). Stack suites never skip: without their stack they fail and say how to start
it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stackconf import localhost_names
from tests.support import chromium
from tests.support.stack import Stack, running_stack

localhost_names.install()  # auth.localhost, reader.localhost: the loopback (RFC 6761)

TESTS = Path(__file__).resolve().parent
SUITES = (
    "unit",
    "fuzz",
    "integration",
    "e2e",
    "compose",
    "deploy",
    "security",
    "chaos",
    "swarm",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = item.path.relative_to(TESTS).parts[0]
        if suite not in SUITES:
            raise pytest.UsageError(f"{item.path}: a test belongs in one of {SUITES}")
        item.add_marker(suite)


@pytest.fixture(scope="session")
def stack() -> Stack:
    """The running stack (`make up`); a clear failure, never a skip, when it is not up."""
    try:
        return running_stack()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return chromium.launch_args(browser_type_launch_args)
