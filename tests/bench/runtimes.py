"""Where the load benchmark's parts are, per runtime: the processes to sample, the hub's log,
how the hub is killed, and where the servers' clients run (``tests.bench.load_client``).

- native: the hub and Keycloak are supervisord's programs; servers are local processes (stand-in
  or real), their clients run in the benchmark's own event loop, on loopback as the servers.
- compose: the hub, Keycloak and Postgres are containers (their processes are the host's too,
  sampled from /proc); servers are real containers (DockerSpawner), and each one's client runs
  inside it (``docker exec``), since the broker answers a server only from its own address.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from native_runtime.cli import _ctl
from native_runtime.settings import Settings
from stackconf import settings as conf
from tests.bench import load_client
from tests.bench.measures import ContainerLog, FileLog, HubLog, descendants
from tests.support.compose_containers import container, crash, docker, state

#: How long before the clients' common start every container's client is started.
COMPOSE_LEAD_S = 8.0


class LoadError(Exception):
    """The benchmark could not run (setup failed)."""


class NativeLoad:
    def __init__(self) -> None:
        self.settings = Settings.from_env()

    def _pid(self, program: str) -> int | None:
        answer = _ctl(self.settings, "pid", program).stdout.strip()
        return int(answer) if answer.isdigit() and answer != "0" else None

    def pids(self) -> dict[str, list[int]]:
        """The hub's process (not its servers), and Keycloak's whole tree (kc.sh, its JVM)."""
        hub, keycloak = self._pid("jupyterhub"), self._pid("keycloak")
        return {"hub": [hub] if hub else [], "keycloak": descendants(keycloak) if keycloak else []}

    def hub_log(self) -> HubLog:
        return HubLog(FileLog(self.settings.logs_dir / "jupyterhub.log"))

    def kill_hub(self) -> None:
        """kill -9 the hub; supervisord starts it again, its servers keep running."""
        hub = self._pid("jupyterhub")
        if hub is None:
            raise LoadError("the hub is not running under supervisord")
        os.kill(hub, signal.SIGKILL)

    def run_job(self, job: dict, servers: list) -> dict:
        job = {
            **job,
            "fruit_api": conf.get("FRUIT_API_PUBLIC_URL"),
            "servers": [{"api_url": s.api_url, "token": s.token} for s in servers],
        }
        return asyncio.run(load_client.run(job))

    def lead_s(self, servers: list) -> float:
        return 0.5

    def remove_homes(self, names: list[str], homes: list[str]) -> None:
        for home in homes:
            if Path(home).name in names:
                shutil.rmtree(home, ignore_errors=True)


class ComposeLoad:
    def pids(self) -> dict[str, list[int]]:
        """The hub's process, and the whole trees of Keycloak and Postgres (both databases)."""
        found = {}
        for part, service in (("hub", "hub"), ("keycloak", "keycloak"), ("postgres", "postgres")):
            pid = state(container(service)).get("Pid") or 0
            found[part] = ([pid] if part == "hub" else descendants(pid)) if pid else []
        return found

    def hub_log(self) -> HubLog:
        return HubLog(ContainerLog(container("hub")))

    def kill_hub(self) -> None:
        """kill -9 the hub's main process; Docker's restart policy starts it again, and the
        servers (containers of their own) keep running."""
        crash("hub")

    def lead_s(self, servers: list) -> float:
        return COMPOSE_LEAD_S + len(servers) / 20  # docker exec starts about 20 a second here

    def run_job(self, job: dict, servers: list) -> dict:
        """Each server's client inside its container, for that server alone; the answers
        merged."""
        source = Path(load_client.__file__).read_text()

        def one(index_server: tuple[int, object]) -> dict:
            index, server = index_server
            own = {**job, "seed": job.get("seed", 11) * 1000 + index}
            done = subprocess.run(
                ["docker", "exec", "-i", server.container, "python", "-c", source],
                input=json.dumps(own) + "\n",
                capture_output=True,
                text=True,
                timeout=float(job.get("seconds", 0)) + 10 * float(job["timeout"]) + 120,
                check=False,
            )
            try:
                return json.loads(done.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                problem = f"{server.user}: client exited {done.returncode}: {done.stderr[-400:]}"
                return {"calls": [], "problems": [problem]}

        with ThreadPoolExecutor(max_workers=len(servers)) as pool:
            answers = list(pool.map(one, enumerate(servers)))
        return {
            "calls": [c for a in answers for c in a["calls"]],
            "problems": [p for a in answers for p in a["problems"]],
        }

    def remove_homes(self, names: list[str], homes: list[str]) -> None:
        """The users' home volumes (their containers are gone with their servers)."""
        volumes = [conf.get("USER_VOLUME_NAME").format(username=n) for n in names]
        docker("volume", "rm", "--force", *volumes, check=False)


LoadRuntime = NativeLoad | ComposeLoad


def for_runtime(runtime: str) -> LoadRuntime:
    return NativeLoad() if runtime == "native" else ComposeLoad()


def wait_for_hub(public_url: str, since: float, timeout: float = 120.0) -> float:
    """Seconds from ``since`` (monotonic) until the hub's health check answers again."""
    deadline = since + timeout
    time.sleep(1)
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{public_url}/hub/health", timeout=2).status_code == 200:
                return time.monotonic() - since
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise LoadError(f"the hub did not answer within {timeout:.0f} s of its kill -9")
