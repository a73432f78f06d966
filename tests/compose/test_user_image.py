"""The user's image holds the notebook client and what it shares, never the hub's broker.

What code in a notebook can import is what an attacker in a notebook can read: the broker
(``hubbroker``), idpctl and the runtimes stay out of the image (docs/architecture.md), while the
client works there (the positive control: the same probe, for a package that must be there).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.compose.conftest import docker

pytestmark = pytest.mark.compose

PROBE = """
import importlib, json, sys
out = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        out[name] = "imported"
    except ModuleNotFoundError as e:
        out[name] = "missing: " + str(e.name)
print(json.dumps(out))
"""

#: In the image: the client, what it shares, the server extension, the settings, the firewall.
PRESENT = ["hubtokens", "tokencontract", "userserver", "stackconf", "users_firewall.server"]
#: Never in the image.
ABSENT = [
    "hubbroker",
    "hubaccounts",
    "apiregistry",
    "idpctl",
    "fruit_api",
    "docker_api_filter",
    "native_runtime",
    "compose_runtime",
    "swarm_runtime",
    "hubspawners",
]


def test_the_user_image_holds_the_client_and_not_the_broker(reader_container: str) -> None:
    # In a running user server, as its user: what notebook code can import.
    result = docker("exec", reader_container, "python", "-c", PROBE, *PRESENT, *ABSENT)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert {name: found[name] for name in PRESENT} == dict.fromkeys(PRESENT, "imported")
    assert {name: found[name] for name in ABSENT} == {name: f"missing: {name}" for name in ABSENT}


def test_only_the_commands_of_its_packages_are_on_the_path(reader_container: str) -> None:
    """pyproject.toml declares every program's command; the image keeps those whose package
    it holds (images/pip/drop-absent-scripts.py): `idpctl` in a terminal is "not found", not a
    traceback. The client's command is there (the positive control)."""
    scripts = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    package = {name: target.split(".")[0] for name, target in scripts["project"]["scripts"].items()}
    present = sorted(
        name for name, pkg in package.items() if pkg in {p.split(".")[0] for p in PRESENT}
    )
    absent = sorted(name for name, pkg in package.items() if pkg in ABSENT)
    assert (
        "hubtokens" in present and "idpctl" in absent and len(present) + len(absent) == len(package)
    )
    lookup = (
        'for c in "$@"; do command -v "$c" >/dev/null && echo "$c found" || echo "$c none"; done'
    )
    result = docker("exec", reader_container, "sh", "-c", lookup, "sh", *present, *absent)
    assert result.returncode == 0, result.stderr
    found = dict(line.split() for line in result.stdout.splitlines())
    assert found == {**dict.fromkeys(present, "found"), **dict.fromkeys(absent, "none")}
