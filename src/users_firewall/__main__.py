"""``users-firewall run|apply|check|remove``: keep the users network's rules on the host.

Runs as the compose service ``users-firewall`` (root with only NET_ADMIN, in the host's network
namespace). ``run`` applies the rules (users_firewall.rules), re-applies them when they went
missing (a host firewall reload, a Docker restart), checked every
USERS_FIREWALL_CHECK_SECONDS, and removes them when stopped (SIGTERM: ``docker compose down``),
so that no rule outlives the stack. ``check`` is the healthcheck: the hub starts only once the
rules are in place. Settings: docs/configuration.md.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading

from stackconf import settings as conf
from users_firewall.rules import (
    TRAEFIK_PORTS,
    UsersNetwork,
    forward_rules,
    hooks,
    input_rules,
    restore_input,
)

log = logging.getLogger("users_firewall")

#: iptables front ends, in the order tried: the one whose DOCKER-USER chain exists is Docker's.
BACKENDS = ("iptables-nft", "iptables-legacy")


class FirewallError(RuntimeError):
    pass


def _iptables(backend: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [backend, "-w", *args] if stdin is None else [backend, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def docker_backend() -> str:
    """The iptables front end Docker programs (where its DOCKER-USER chain is)."""
    errors = []
    for backend in BACKENDS:
        result = _iptables(backend, "-S", "DOCKER-USER")
        if result.returncode == 0:
            return backend
        errors.append(f"{backend}: {result.stderr.strip() or result.returncode}")
    raise FirewallError(
        "Docker's DOCKER-USER chain was found in no iptables front end ("
        + "; ".join(errors)
        + "). This service needs a Docker engine that manages iptables (dockerd --iptables, the "
        "default) with the nftables front end (Debian 11+, Ubuntu 20.10+), and the capability "
        "NET_ADMIN in the host's network namespace (compose/compose.yml, users-firewall)."
    )


def _run_or_fail(backend: str, *args: str, stdin: str | None = None) -> None:
    result = _iptables(backend, *args, stdin=stdin)
    if result.returncode != 0:
        raise FirewallError(f"`{backend} {' '.join(args)}` failed: {result.stderr.strip()}")


def apply(net: UsersNetwork, backend: str) -> None:
    """Replace our chains' rules at once, then hook them in (first) where they are not yet."""
    _run_or_fail(f"{backend}-restore", "--noflush", stdin=restore_input(net))
    for chain, rule in hooks(net):
        if _iptables(backend, "-C", chain, *rule).returncode != 0:
            _run_or_fail(backend, "-I", chain, "1", *rule)


def missing(net: UsersNetwork, backend: str) -> list[str]:
    """Each hook and rule that is not in place, as text (empty: all in place)."""
    wanted = [
        *hooks(net),
        *((net.forward_chain, rule) for rule in forward_rules(net)),
        *((net.input_chain, rule) for rule in input_rules(net)),
    ]
    return [
        f"{chain} {' '.join(rule)}"
        for chain, rule in wanted
        if _iptables(backend, "-C", chain, *rule).returncode != 0
    ]


def remove(net: UsersNetwork, backend: str) -> None:
    """Unhook and delete our chains (what is already gone is fine)."""
    for chain, rule in hooks(net):
        while _iptables(backend, "-C", chain, *rule).returncode == 0:
            _run_or_fail(backend, "-D", chain, *rule)
    for chain in (net.forward_chain, net.input_chain):
        if _iptables(backend, "-S", chain).returncode == 0:
            _run_or_fail(backend, "-F", chain)
            _run_or_fail(backend, "-X", chain)


def run(net: UsersNetwork, backend: str, every: float) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    apply(net, backend)
    log.info(
        "users network %s, bridge %s: hub %s:%d and Traefik %s:%s reachable, nothing "
        "else on the bridge, not the host, not link-local; internet egress %s (%s)",
        net.subnet,
        net.bridge,
        net.hub,
        net.hub_port,
        net.traefik,
        TRAEFIK_PORTS,
        "on" if net.internet_egress else "off",
        backend,
    )
    while not stop.wait(every):
        gone = missing(net, backend)
        if gone:
            log.warning("%d rules were missing (%s, ...): applying again", len(gone), gone[0])
            apply(net, backend)
    remove(net, backend)
    log.info("stopped: rules of bridge %s removed", net.bridge)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="users-firewall", description=__doc__)
    parser.add_argument("command", choices=["run", "apply", "check", "remove", "show"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        net = UsersNetwork.from_env()
        if args.command == "show":  # what would be applied; needs no rights
            print(restore_input(net), end="")
            return 0
        backend = docker_backend()
        if args.command == "run":
            run(net, backend, conf.get_float("USERS_FIREWALL_CHECK_SECONDS"))
        elif args.command == "apply":
            apply(net, backend)
        elif args.command == "remove":
            remove(net, backend)
        else:
            gone = missing(net, backend)
            for rule in gone:
                print(f"missing: {rule}", file=sys.stderr)
            return 1 if gone else 0
    except (conf.SettingError, FirewallError) as error:
        print(f"users-firewall: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
