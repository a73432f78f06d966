"""A swarm of several Docker engines on this one machine, for `make test-swarm` (root only).

This host's engine is the manager; each worker is another `dockerd` in a network namespace
of its own (`ip netns`), with a veth on a bridge the suite makes (``BRIDGE``, 10.231.0.0/24)
and its own host name (a UTS namespace), data and exec roots under ``ROOT``. Docker in Docker
does not work here (privileged containers are refused), and these are real engines: Swarm
schedules, pulls from the stack's registry and carries overlay traffic between them as
between hosts.

- ``up``: the engines, and an Ansible inventory of them (``ROOT/inventory.yml``);
- ``deploy``: the Ansible play playbooks/swarm.yml forms the swarm and deploys the stack, then
  runs again and must change nothing;
- ``down``: removes everything ``up`` and the play made here: the swarm, the daemons, the
  namespaces, the bridge, the firewall rule, the data.

    python -m tests.swarm.nodes up|deploy|down
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

WORKERS = int(os.environ.get("SWARM_TEST_WORKERS", "2"))
BRIDGE = "jhks0"
PREFIX = "10.231.0"
MANAGER_ADDRESS = f"{PREFIX}.1"
ROOT = Path(os.environ.get("SWARM_TEST_ROOT", "/var/tmp/jhk-swarm-nodes"))
INVENTORY = ROOT / "inventory.yml"  # JSON, which YAML reads
REPO = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
#: Bridged traffic between the nodes (VXLAN, Swarm's gossip) passes the host's FORWARD chain,
#: whose policy Docker sets to DROP: let it through on the suite's bridge only.
FORWARD_RULE = ["DOCKER-USER", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"]


@dataclass(frozen=True)
class Worker:
    number: int

    @property
    def name(self) -> str:
        return f"swarm-worker-{self.number}"

    @property
    def netns(self) -> str:
        return f"jhks{self.number}"

    @property
    def address(self) -> str:
        return f"{PREFIX}.{self.number + 1}"

    @property
    def folder(self) -> Path:
        return ROOT / self.name

    @property
    def socket(self) -> str:
        return f"unix://{self.folder / 'docker.sock'}"

    def docker(self, *args: str, check: bool = True) -> str:
        return sh(DOCKER, "-H", self.socket, *args, check=check)


def workers() -> list[Worker]:
    return [Worker(n) for n in range(1, WORKERS + 1)]


def sh(*argv: str, check: bool = True) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed: {result.stderr.strip()[-400:]}")
    return result.stdout.strip()


def node_sockets() -> dict[str, str]:
    """Each node's host name -> how to reach its engine (the manager: this host's)."""
    return {worker.name: worker.socket for worker in workers()}


def up() -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise SystemExit("make test-swarm makes network namespaces and daemons: run it as root")
    state = json.loads(sh(DOCKER, "info", "--format", "{{json .Swarm}}"))
    if state.get("LocalNodeState") == "active":
        raise SystemExit(
            "this engine is already in a swarm; `python -m tests.swarm.nodes down` (or `docker "
            "swarm leave --force`) first"
        )
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{MANAGER_ADDRESS}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    sh("iptables", "-I", *FORWARD_RULE)
    for worker in workers():
        start(worker)
    INVENTORY.write_text(json.dumps(inventory(), indent=2))
    print(f"{len(workers()) + 1} engines up; inventory: {INVENTORY}")


def inventory() -> dict:
    """This host (the manager) and the workers, each reached through its own engine."""
    local = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,  # has the Docker SDK (community.docker)
    }
    return {
        "all": {
            "children": {
                "swarm_managers": {
                    "hosts": {
                        "manager": {
                            **local,
                            "swarm_advertise_addr": MANAGER_ADDRESS,
                            "swarm_repo_dir": str(REPO),
                        }
                    }
                },
                "swarm_workers": {
                    "hosts": {
                        worker.name: {
                            **local,
                            "swarm_advertise_addr": worker.address,
                            "swarm_docker_host": worker.socket,
                        }
                        for worker in workers()
                    }
                },
            }
        }
    }


def deploy() -> None:
    """The play, twice: the second run must change nothing (PLAY RECAP: changed=0)."""
    for run in ("first", "second"):
        started = time.monotonic()
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(INVENTORY),
                str(REPO / "playbooks" / "swarm.yml"),
            ],
            env={
                **os.environ,
                "ANSIBLE_CONFIG": str(REPO / "playbooks" / "ansible.cfg"),
                "ANSIBLE_NOCOLOR": "1",
                "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            },
            capture_output=True,
            text=True,
            check=False,
        )
        recap = result.stdout[result.stdout.rfind("PLAY RECAP") :]
        # The play's last task lists swarm-runtime's steps (YAML: "- 'swarm-runtime: ...'").
        steps = re.findall(r"^\s*- '?(swarm-runtime: [^'\n]*)", result.stdout, re.MULTILINE)
        print(f"{run} run of playbooks/swarm.yml: {time.monotonic() - started:.0f} s")
        print("\n".join(f"  {step}" for step in steps), recap, sep="\n")
        if result.returncode != 0:
            print(result.stdout[-6000:], result.stderr[-2000:])
            raise SystemExit(f"the {run} run of playbooks/swarm.yml failed")
        if run == "second" and re.search(r"changed=[1-9]", recap):
            changed = re.findall(r"^changed: .*$", result.stdout, flags=re.MULTILINE)
            raise SystemExit(f"the second run changed something: {changed}")
    print(sh(DOCKER, "node", "ls"))


def start(worker: Worker) -> None:
    ns, veth = worker.netns, f"{worker.netns}-h"
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    sh("ip", "link", "set", veth, "master", BRIDGE, "up")
    inside = ["ip", "netns", "exec", ns]
    sh(*inside, "ip", "addr", "add", f"{worker.address}/24", "dev", "eth0")
    sh(*inside, "ip", "link", "set", "eth0", "up")
    sh(*inside, "ip", "link", "set", "lo", "up")
    sh(*inside, "ip", "route", "add", "default", "via", MANAGER_ADDRESS)
    worker.folder.mkdir(parents=True, exist_ok=True)
    # nsenter, not `ip netns exec` (which hides the cgroup mounts dockerd needs); unshare
    # gives the engine a host name of its own (the node's name in `docker node ls`).
    daemon = (
        f"hostname {worker.name} && exec nsenter --net=/var/run/netns/{ns} dockerd "
        f"--data-root {worker.folder / 'data'} --exec-root {worker.folder / 'exec'} "
        f"--pidfile {worker.folder / 'dockerd.pid'} -H {worker.socket} "
        "--bridge none --iptables=false"
    )
    log = (worker.folder / "dockerd.log").open("ab")
    subprocess.Popen(  # noqa: S602 (our own fixed command)
        ["unshare", "--uts", "sh", "-c", daemon],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while worker.docker("info", "--format", "{{.ID}}", check=False) == "":
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{worker.name}'s dockerd did not start: {worker.folder}/dockerd.log"
            )
        time.sleep(0.5)


def down() -> None:
    for worker in workers():
        worker.docker("swarm", "leave", "--force", check=False)
    sh(DOCKER, "swarm", "leave", "--force", check=False)
    # The bridge Swarm made on this host for its containers' way out (docker swarm init).
    sh(DOCKER, "network", "rm", "docker_gwbridge", check=False)
    for worker in workers():
        stop(worker)
        sh("ip", "netns", "del", worker.netns, check=False)
        sh("ip", "link", "del", f"{worker.netns}-h", check=False)
    sh("ip", "link", "del", BRIDGE, check=False)
    while sh("iptables", "-D", *FORWARD_RULE, check=False) == "" and rule_present():
        pass
    shutil.rmtree(ROOT, ignore_errors=True)


def rule_present() -> bool:
    return subprocess.run(["iptables", "-C", *FORWARD_RULE], capture_output=True).returncode == 0


def stop(worker: Worker) -> None:
    pidfile = worker.folder / "dockerd.pid"
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.3)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)
    # Mounts the daemon left (overlay layers, netns files) under its roots.
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(str(worker.folder))
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "up":
        up()
    elif command == "deploy":
        deploy()
    elif command == "down":
        down()
    else:
        raise SystemExit("usage: python -m tests.swarm.nodes up|deploy|down")
