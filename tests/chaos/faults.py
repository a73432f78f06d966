"""How the chaos suite hurts the compose stack, and how it sees a part come back.

- ``crash``: SIGKILL to the container's main process, sent from the host (kill -9, as the
  kernel's OOM killer or a crash would). Not ``docker kill``: Docker counts that as a manual
  stop and its restart policy would not bring the part back; a crash is what the policy is for.
- ``cut`` / ``reconnect``: the container leaves every network it is on and joins them again
  (with its service name as alias): a network cut, with the process still running.
- the disk-full drill (``small_disk_fruit_api``): the fruit API's data volume shares the host's
  disk, which a test must not fill; so for the drill the same fruit-api service runs with its
  /data on a small tmpfs (tests/chaos/small-disk.yml), which the drill fills.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from compose_runtime import cli as compose_runtime
from stackconf.settings import StackSettings
from tests.support.compose_containers import (
    container,
    crash,  # noqa: F401 (the chaos tests call faults.crash)
    docker,
    state,
)

SMALL_DISK = Path(__file__).parent / "small-disk.yml"


def wait_restarted(service: str, killed_started_at: str, timeout: float = 120.0) -> float:
    """When Docker's restart policy has the service running again (a new StartedAt)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        current = state(container(service))
        if current["Running"] and current["StartedAt"] != killed_started_at:
            return time.time()
        time.sleep(0.2)
    raise AssertionError(f"{service} was not restarted within {timeout:.0f} s of its crash")


def wait_healthy(service: str, timeout: float = 240.0) -> float:
    """When the service's healthcheck passes (at once if it has none and runs)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        current = state(container(service))
        health = current.get("Health", {}).get("Status")
        if current["Running"] and health in (None, "healthy"):
            return time.time()
        time.sleep(0.5)
    raise AssertionError(f"{service} did not become healthy within {timeout:.0f} s")


def cut(service: str) -> list[str]:
    """Take the service off every network it is on (its process keeps running); returns
    the networks, for ``reconnect``."""
    cid = container(service)
    networks = sorted(json.loads(docker("inspect", cid))[0]["NetworkSettings"]["Networks"])
    for network in networks:
        docker("network", "disconnect", network, cid)
    return networks


def reconnect(service: str, networks: list[str]) -> None:
    """Put the service back on ``networks``, reachable by its service name again."""
    cid = container(service)
    for network in networks:
        docker("network", "connect", "--alias", service, network, cid)


def run_compose(*args: str, extra_files: tuple[Path, ...] = ()) -> None:
    """``docker compose`` as compose-runtime runs it, with extra (override) files."""
    settings = StackSettings.from_env()
    command = compose_runtime.compose_command(settings)
    files = [arg for f in extra_files for arg in ("-f", str(f))]
    result = subprocess.run(
        [*command, *files, *args],
        env=compose_runtime.compose_env(settings),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"docker compose {' '.join(args)} failed: {result.stderr[-800:]}")


def small_disk_fruit_api() -> None:
    run_compose("up", "-d", "--no-deps", "--wait", "fruit-api", extra_files=(SMALL_DISK,))


def normal_fruit_api() -> None:
    run_compose("up", "-d", "--no-deps", "--wait", "fruit-api")


#: Run in the fruit API's container: fill /data until the disk is full (ENOSPC).
FILL = """
import errno, os
with open("/data/filler", "wb") as f:
    try:
        while True:
            f.write(b"\\0" * 65536)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
print(os.statvfs("/data").f_bavail)
"""


def fill_disk() -> int:
    """Fill the fruit API's /data; returns the blocks left (0 when full)."""
    return int(docker("exec", container("fruit-api"), "python", "-c", FILL).strip() or -1)


def free_disk() -> None:
    docker("exec", container("fruit-api"), "rm", "-f", "/data/filler")


def until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return time.time()
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
