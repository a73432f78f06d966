"""What user containers may reach, as iptables rules (pure: no I/O, unit-tested).

User containers share one Docker bridge, the users network, with the hub and Traefik. Docker
itself drops traffic between containers of that bridge (it is created with inter-container
communication off, ``enable_icc=false``), which would also cut the hub and Traefik off. These
rules, evaluated first (Docker's ``DOCKER-USER`` chain), let through exactly:

- the hub and Traefik to any user container (spawn checks, the proxy), and the answers;
- a user container to the hub's API port and to Traefik's entrypoints for users (the broker,
  the fruit API) — not to Traefik's API entrypoint, nor to another user container;

and refuse, from a user container: any other container of the bridge, link-local addresses
(169.254.0.0/16: cloud metadata services), the host itself (the ``INPUT`` chain: every address
of the host, the bridge's gateway included), and, when internet egress is off, anything off
the bridge. Refused packets get an ICMP "administratively prohibited" answer, so that code in a
notebook fails at once with "No route to host" instead of hanging.

Our rules live in two chains of our own, named after the bridge (one pair per stack on an
engine), which ``iptables-restore --noflush`` replaces as a whole; two jumps hook them in.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from stackconf import settings as conf

#: Traefik's entrypoints for user containers: the public one (compose/traefik/traefik.yml,
#: entryPoints.http) and, behind TLS, its plain twin for the users network (entryPoints.internal
#: of the TLS overlay's configuration, playbooks/roles/stack/templates/traefik-tls.yml.j2).
TRAEFIK_USER_PORTS = (8000, 8001)
#: Link-local addresses: cloud metadata services (169.254.169.254) and the like.
LINK_LOCAL = "169.254.0.0/16"
TRAEFIK_PORTS = ",".join(map(str, TRAEFIK_USER_PORTS))
REFUSE = ["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]
#: Linux interface names: at most 15 characters, no slash or whitespace.
BRIDGE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


@dataclass(frozen=True)
class UsersNetwork:
    bridge: str
    subnet: ipaddress.IPv4Network
    hub: ipaddress.IPv4Address
    hub_port: int
    traefik: ipaddress.IPv4Address
    internet_egress: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> UsersNetwork:
        """From USERS_BRIDGE, USERS_SUBNET, USERS_HUB_ADDRESS, USERS_TRAEFIK_ADDRESS,
        HUB_CONNECT_URL (its port) and USERS_INTERNET_EGRESS; a clear error when they do not
        fit together."""
        bridge = conf.get("USERS_BRIDGE", env)
        if not BRIDGE_NAME.match(bridge):
            raise conf.SettingError(
                f"USERS_BRIDGE must be a Linux interface name (1-15 letters, digits, '.', '_' "
                f"or '-'), got {bridge!r}"
            )
        try:
            subnet = ipaddress.IPv4Network(conf.get("USERS_SUBNET", env))
        except ValueError as error:
            raise conf.SettingError(f"USERS_SUBNET must be an IPv4 network: {error}") from None
        addresses = {}
        for name in ("USERS_HUB_ADDRESS", "USERS_TRAEFIK_ADDRESS"):
            try:
                address = ipaddress.IPv4Address(conf.get(name, env))
            except ValueError as error:
                raise conf.SettingError(f"{name} must be an IPv4 address: {error}") from None
            if address not in subnet or address in (subnet.network_address, subnet[1]):
                raise conf.SettingError(
                    f"{name}={address} must be a host address of USERS_SUBNET={subnet} other "
                    f"than its gateway {subnet[1]}: change one of the two"
                )
            addresses[name] = address
        if addresses["USERS_HUB_ADDRESS"] == addresses["USERS_TRAEFIK_ADDRESS"]:
            raise conf.SettingError("USERS_HUB_ADDRESS and USERS_TRAEFIK_ADDRESS must differ")
        hub_url = urlsplit(conf.get("HUB_CONNECT_URL", env))
        return cls(
            bridge=bridge,
            subnet=subnet,
            hub=addresses["USERS_HUB_ADDRESS"],
            hub_port=hub_url.port or (443 if hub_url.scheme == "https" else 80),
            traefik=addresses["USERS_TRAEFIK_ADDRESS"],
            internet_egress=conf.get_bool("USERS_INTERNET_EGRESS", env),
        )

    @property
    def forward_chain(self) -> str:
        return f"{self.bridge}-forward"

    @property
    def input_chain(self) -> str:
        return f"{self.bridge}-input"


def hooks(net: UsersNetwork) -> list[tuple[str, list[str]]]:
    """The jumps into our chains: (built-in or Docker's chain, rule), each inserted first once."""
    return [
        ("DOCKER-USER", ["-i", net.bridge, "-j", net.forward_chain]),
        ("INPUT", ["-i", net.bridge, "-j", net.input_chain]),
    ]


def forward_rules(net: UsersNetwork) -> list[list[str]]:
    """Traffic routed or bridged from the users network (DOCKER-USER, before Docker's own)."""
    same = ["-i", net.bridge, "-o", net.bridge]
    rules = [
        [*same, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        [*same, "-s", f"{net.hub}/32", "-j", "ACCEPT"],
        [*same, "-s", f"{net.traefik}/32", "-j", "ACCEPT"],
        [*same, "-d", f"{net.hub}/32", "-p", "tcp", "--dport", str(net.hub_port), "-j", "ACCEPT"],
        [
            *same,
            *("-d", f"{net.traefik}/32", "-p", "tcp", "-m", "multiport", "--dports", TRAEFIK_PORTS),
            *("-j", "ACCEPT"),
        ],
        [*same, *REFUSE],
        ["-i", net.bridge, "-d", LINK_LOCAL, *REFUSE],
    ]
    if not net.internet_egress:
        rules.append(["-i", net.bridge, "!", "-o", net.bridge, *REFUSE])
    return [*rules, ["-j", "RETURN"]]


def input_rules(net: UsersNetwork) -> list[list[str]]:
    """Traffic from the users network to the host itself: only answers to the host's own."""
    return [
        ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        REFUSE,
    ]


def restore_input(net: UsersNetwork) -> str:
    """``iptables-restore --noflush`` input that (re)creates and fills our two chains only."""
    lines = ["*filter", f":{net.forward_chain} - [0:0]", f":{net.input_chain} - [0:0]"]
    lines += [" ".join(["-A", net.forward_chain, *rule]) for rule in forward_rules(net)]
    lines += [" ".join(["-A", net.input_chain, *rule]) for rule in input_rules(net)]
    return "\n".join([*lines, "COMMIT", ""])
