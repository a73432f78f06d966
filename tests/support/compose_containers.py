"""The compose stack's containers, seen from the host: ``docker`` (a failure raises), a
service's one container (by compose's labels), its state, and a crash (kill -9 of its main
process). Used by the chaos suite (tests/chaos/faults.py) and the benchmarks."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import yaml

from tests.support.stack import REPO

COMPOSE_FILE = REPO / "compose" / "compose.yml"
#: compose.yml's own project name (its ``name:``), whose labels find the containers.
PROJECT = yaml.safe_load(COMPOSE_FILE.read_text())["name"]


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} failed: {result.stderr.strip()}")
    return result.stdout


def container(service: str) -> str:
    """The ID of the stack's (one) container of ``service``."""
    ids = docker(
        "ps",
        "-aq",
        "--filter",
        f"label=com.docker.compose.project={PROJECT}",
        "--filter",
        f"label=com.docker.compose.service={service}",
    ).split()
    if len(ids) != 1:
        raise AssertionError(f"expected one {service} container, found {len(ids)}")
    return ids[0]


def state(container_id: str) -> dict:
    return json.loads(docker("inspect", container_id))[0]["State"]


def crash(service: str) -> str:
    """kill -9 the service's main process; returns the StartedAt of the killed run."""
    cid = container(service)
    current = state(cid)
    os.kill(current["Pid"], signal.SIGKILL)
    return current["StartedAt"]
