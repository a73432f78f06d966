"""A user server's own firewall (swarm runtime): iptables rules in the server's network namespace.

On compose, user containers share one bridge on one host, and the users firewall
(users_firewall.rules) filters that bridge from the host. On swarm the users network is an
overlay whose traffic never passes a host chain we could hook, so each user server filters its
own traffic instead. The image's entrypoint (images/singleuser/server-firewall.sh) starts as
root with only the capabilities this needs, applies these rules, then becomes the user (uid
1000) with no capability left and no way to gain one: the notebook's code cannot change them.
The Docker API filter admits a user service only in that form (docker_api_filter.services).

What a user server may do, the same policy as compose's:

- **on the users network**: open connections to the hub's API port and Traefik's entrypoints
  for users (HUB_CONNECT_URL's port, 8000 and 8001) only; accept connections on its own
  server port (JUPYTERHUB_SERVICE_URL's) only, from the hub and Traefik. A server cannot
  open a connection to another server: the one would have to go to a hub or Traefik port, the
  other accepts only its server port;
- **never**: link-local addresses (169.254.0.0/16, cloud metadata services), its node (the
  default route's gateway: the node's docker_gwbridge address), the swarm's nodes at their
  swarm addresses (SWARM_NODE_ADDRESSES: the stack's registry is there), and the ports of
  Swarm itself on any address (2377 cluster management, 7946 gossip, 4789 VXLAN: a forged
  VXLAN packet would put frames on an overlay network);
- **elsewhere** (the internet): when USERS_INTERNET_EGRESS.

IPv6: everything but loopback is refused. Refused packets get an ICMP "administratively
prohibited" answer (a local connect fails at once), as on compose.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from stackconf import settings as conf
from users_firewall.rules import LINK_LOCAL, REFUSE, TRAEFIK_PORTS

#: Swarm's own ports (Docker's "Open protocols and ports between the hosts" of a swarm).
SWARM_TCP_PORTS = "2377,7946"
SWARM_UDP_PORTS = "4789,7946"
#: Absolute paths: the entrypoint runs this as root, with a PATH it does not trust.
IPTABLES_RESTORE = "/usr/sbin/iptables-restore"
IP6TABLES_RESTORE = "/usr/sbin/ip6tables-restore"
ROUTE_TABLE = "/proc/net/route"
#: The server's port when JUPYTERHUB_SERVICE_URL names none (DockerSpawner's default).
DEFAULT_SERVER_PORT = 8888
#: The user a user server starts as, and the only capabilities it starts with (Docker's names):
#: what setting the rules (NET_ADMIN) and becoming uid 1000 with an empty bounding set (SETUID,
#: SETGID, SETPCAP) need. The hub's SwarmSpawner asks for these; the Docker API filter admits a
#: user service with exactly these.
START_USER = "0"
START_CAPABILITIES = ("CAP_NET_ADMIN", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID")
#: The environment the entrypoint passes (and the Docker API filter requires, with the values
#: of its own settings): the names the rules are made from, and nothing else.
SETTINGS = ("USERS_SUBNET", "USERS_INTERNET_EGRESS", "HUB_CONNECT_URL", "SWARM_NODE_ADDRESSES")


class ServerFirewallError(RuntimeError):
    pass


def _port(url: str) -> int | None:
    parts = urlsplit(url)
    try:
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


@dataclass(frozen=True)
class ServerFirewall:
    subnet: ipaddress.IPv4Network
    hub_port: int
    server_port: int
    refused: tuple[ipaddress.IPv4Network, ...]
    internet_egress: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str], gateway: ipaddress.IPv4Address | None):
        """From the settings in SETTINGS, JUPYTERHUB_SERVICE_URL (the hub sets it) and the
        default route's gateway; a clear error naming the setting when one is wrong."""
        try:
            subnet = ipaddress.IPv4Network(conf.get("USERS_SUBNET", env))
        except ValueError as error:
            raise conf.SettingError(f"USERS_SUBNET must be an IPv4 network: {error}") from None
        hub_port = _port(conf.get("HUB_CONNECT_URL", env))
        if hub_port is None:
            raise conf.SettingError("HUB_CONNECT_URL must be an http(s) URL with a valid port")
        service_url = env.get("JUPYTERHUB_SERVICE_URL", "")
        server_port = _port(service_url) if service_url else DEFAULT_SERVER_PORT
        if server_port is None:
            raise conf.SettingError(
                f"JUPYTERHUB_SERVICE_URL {service_url!r} has no valid port (the hub sets it)"
            )
        refused = []
        for item in conf.get_list("SWARM_NODE_ADDRESSES", env):
            try:
                refused.append(ipaddress.IPv4Network(item))
            except ValueError as error:
                raise conf.SettingError(
                    f"SWARM_NODE_ADDRESSES must list IPv4 addresses or networks: {error}"
                ) from None
        if gateway is not None:
            refused.append(ipaddress.IPv4Network(gateway))
        return cls(
            subnet=subnet,
            hub_port=hub_port,
            server_port=server_port,
            refused=tuple(dict.fromkeys(refused)),
            internet_egress=conf.get_bool("USERS_INTERNET_EGRESS", env),
        )


def default_gateway(route_table: str) -> ipaddress.IPv4Address | None:
    """The default route's gateway in /proc/net/route's text (None when there is none)."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "00000000" and fields[2] != "00000000":
            return ipaddress.IPv4Address(int(fields[2], 16).to_bytes(4, "little"))
    return None


def rules(fw: ServerFirewall) -> tuple[list[list[str]], list[list[str]]]:
    """(INPUT rules, OUTPUT rules) of the server's network namespace, in order."""
    users = str(fw.subnet)
    inbound = [
        ["-i", "lo", "-j", "ACCEPT"],
        ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        ["-s", users, "-p", "tcp", "--dport", str(fw.server_port), "-j", "ACCEPT"],
        REFUSE,
    ]
    outbound = [
        ["-o", "lo", "-j", "ACCEPT"],
        ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        *(["-d", str(net), *REFUSE] for net in fw.refused),
        ["-d", LINK_LOCAL, *REFUSE],
        ["-p", "tcp", "-m", "multiport", "--dports", SWARM_TCP_PORTS, *REFUSE],
        ["-p", "udp", "-m", "multiport", "--dports", SWARM_UDP_PORTS, *REFUSE],
        ["-d", users, "-p", "tcp", "--dport", str(fw.hub_port), "-j", "ACCEPT"],
        ["-d", users, "-p", "tcp", "-m", "multiport", "--dports", TRAEFIK_PORTS, "-j", "ACCEPT"],
        ["-d", users, *REFUSE],
    ]
    if not fw.internet_egress:
        outbound.append(REFUSE)
    return inbound, outbound


def restore_input(fw: ServerFirewall) -> str:
    """``iptables-restore`` input replacing the whole filter table (a new namespace's is empty)."""
    inbound, outbound = rules(fw)
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [" ".join(["-A", "INPUT", *rule]) for rule in inbound]
    lines += [" ".join(["-A", "OUTPUT", *rule]) for rule in outbound]
    return "\n".join([*lines, "COMMIT", ""])


#: IPv6: loopback only (the overlay networks carry IPv4).
RESTORE_INPUT_V6 = "\n".join(
    [
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT DROP [0:0]",
        "-A INPUT -i lo -j ACCEPT",
        "-A OUTPUT -o lo -j ACCEPT",
        "COMMIT",
        "",
    ]
)


def apply(fw: ServerFirewall) -> None:
    for command, text in (
        (IPTABLES_RESTORE, restore_input(fw)),
        (IP6TABLES_RESTORE, RESTORE_INPUT_V6),
    ):
        result = subprocess.run([command], input=text, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServerFirewallError(
                f"{command} failed ({result.returncode}): {result.stderr.strip()[-300:]}; the "
                "server needs the capability NET_ADMIN at its start (the hub's SwarmSpawner "
                "settings, hub/jupyterhub_config.py)"
            )


def main(env: Mapping[str, str] | None = None) -> int:
    """Apply the rules; on any error say why on stderr and return 1 (the server does not start)."""
    env = os.environ if env is None else env
    try:
        with open(ROUTE_TABLE, encoding="ascii") as table:
            gateway = default_gateway(table.read())
        apply(ServerFirewall.from_env(env, gateway))
    except (conf.SettingError, ServerFirewallError, OSError) as error:
        print(f"server-firewall: {error}; the server does not start", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
