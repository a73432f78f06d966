"""A user server's own firewall on swarm (users_firewall.server): its settings, and what its
rules let through, by a first-match reading of them (the real rules are tried by
tests/swarm/test_swarm_isolation.py); the entrypoint that applies them and drops to uid 1000."""

from __future__ import annotations

import ipaddress
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackconf import settings as conf
from users_firewall import server
from users_firewall.rules import TRAEFIK_USER_PORTS

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "images" / "singleuser" / "server-firewall.sh"
#: /proc/net/route of a swarm task: eth0 on the users overlay, eth1 on docker_gwbridge whose
#: gateway (the node) is 172.18.0.1.
ROUTES = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t00E0FF0A\t00000000\t0001\t0\t0\t0\t00F0FFFF\t0\t0\t0
eth1\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""
GATEWAY = ipaddress.IPv4Address("172.18.0.1")
ENV = {
    "USERS_SUBNET": "10.255.224.0/20",
    "HUB_CONNECT_URL": "http://hub:8081",
    "SWARM_NODE_ADDRESSES": "10.231.0.1,10.231.0.2,192.0.2.0/28",
    "JUPYTERHUB_SERVICE_URL": "http://0.0.0.0:8888/user/reader/",
}
HUB, TRAEFIK, OTHER_SERVER = "10.255.224.5", "10.255.224.9", "10.255.224.17"


def firewall(**env: str) -> server.ServerFirewall:
    return server.ServerFirewall.from_env({**ENV, **env}, GATEWAY)


@dataclass(frozen=True)
class Packet:
    """A new connection's first packet (not an answer to one)."""

    address: str  # the other end: where it goes (OUTPUT) or where it comes from (INPUT)
    port: int  # the destination port
    protocol: str = "tcp"
    interface: str = "eth0"


def verdict(rules: list[list[str]], packet: Packet, direction: str) -> str:
    """The first matching rule's target (ACCEPT or REJECT); ACCEPT (the policy) if none."""
    end, iface = ("-s", "-i") if direction == "INPUT" else ("-d", "-o")
    for rule in rules:
        args = dict(zip(rule[::2], rule[1::2], strict=False))
        if "--ctstate" in rule:
            continue  # a new connection is neither established nor related
        if iface in args and args[iface] != packet.interface:
            continue
        if end in args and ipaddress.ip_address(packet.address) not in ipaddress.ip_network(
            args[end]
        ):
            continue
        if "-p" in args and args["-p"] != packet.protocol:
            continue
        ports = args.get("--dport") or args.get("--dports")
        if ports and str(packet.port) not in ports.split(","):
            continue
        return args["-j"]
    return "ACCEPT"


def out(fw: server.ServerFirewall, packet: Packet) -> str:
    return verdict(server.rules(fw)[1], packet, "OUTPUT")


def into(fw: server.ServerFirewall, packet: Packet) -> str:
    return verdict(server.rules(fw)[0], packet, "INPUT")


def test_the_settings_and_the_gateway_make_the_firewall() -> None:
    fw = firewall()
    assert (str(fw.subnet), fw.hub_port, fw.server_port, fw.internet_egress) == (
        "10.255.224.0/20",
        8081,
        8888,
        True,
    )
    assert [str(net) for net in fw.refused] == [
        "10.231.0.1/32",
        "10.231.0.2/32",
        "192.0.2.0/28",
        "172.18.0.1/32",
    ]


def test_the_gateway_is_the_default_routes() -> None:
    assert server.default_gateway(ROUTES) == GATEWAY
    assert (
        server.default_gateway(ROUTES.replace("00000000\t010012AC", "0000FFFF\t010012AC")) is None
    )
    assert server.default_gateway("Iface\tDestination\tGateway\n") is None


def test_unset_settings_are_stackconfs_defaults() -> None:
    fw = server.ServerFirewall.from_env({}, None)
    assert (str(fw.subnet), fw.hub_port, fw.server_port, fw.refused) == (
        conf.get("USERS_SUBNET", {}),
        8081,
        server.DEFAULT_SERVER_PORT,
        (),
    )


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"USERS_SUBNET": "10.255.224.0/33"}, "USERS_SUBNET must be an IPv4 network"),
        ({"USERS_SUBNET": "hub"}, "USERS_SUBNET must be an IPv4 network"),
        ({"HUB_CONNECT_URL": "http://hub:99999"}, "HUB_CONNECT_URL must be an http(s) URL"),
        ({"HUB_CONNECT_URL": "hub:8081"}, "HUB_CONNECT_URL must be an http(s) URL"),
        ({"SWARM_NODE_ADDRESSES": "10.231.0.1,node-2"}, "SWARM_NODE_ADDRESSES must list IPv4"),
        ({"SWARM_NODE_ADDRESSES": "fe80::1"}, "SWARM_NODE_ADDRESSES must list IPv4"),
        ({"JUPYTERHUB_SERVICE_URL": "http://0.0.0.0:x/"}, "JUPYTERHUB_SERVICE_URL"),
    ],
)
def test_a_bad_setting_is_named(env: dict[str, str], says: str) -> None:
    with pytest.raises(conf.SettingError, match=re.escape(says)):
        firewall(**env)


@pytest.mark.parametrize("port", [8888, 8081, 8000, 22, 5000])
def test_a_server_cannot_open_a_connection_to_another_server(port: int) -> None:
    """Any port of another server: refused where it leaves, or where it arrives."""
    fw = firewall()
    leaves = out(fw, Packet(OTHER_SERVER, port))
    arrives = into(fw, Packet("10.255.224.4", port))  # the other server receiving ours
    assert "REJECT" in (leaves, arrives), (port, leaves, arrives)


def test_a_server_reaches_the_hubs_api_and_traefik_on_the_users_network() -> None:
    fw = firewall()
    assert out(fw, Packet(HUB, 8081)) == "ACCEPT"
    for port in TRAEFIK_USER_PORTS:
        assert out(fw, Packet(TRAEFIK, port)) == "ACCEPT"
    assert out(fw, Packet(TRAEFIK, 8099)) == "REJECT"  # Traefik's API entrypoint
    assert out(fw, Packet(HUB, 8081, protocol="udp")) == "REJECT"


def test_the_hub_and_traefik_reach_the_server_port_only() -> None:
    fw = firewall()
    assert into(fw, Packet(HUB, 8888)) == "ACCEPT"
    assert into(fw, Packet(TRAEFIK, 8888)) == "ACCEPT"
    assert into(fw, Packet(HUB, 8889)) == "REJECT"
    assert into(fw, Packet("172.18.0.1", 8888, interface="eth1")) == "REJECT"  # the node
    assert into(fw, Packet("127.0.0.1", 8889, interface="lo")) == "ACCEPT"
    other = firewall(JUPYTERHUB_SERVICE_URL="http://0.0.0.0:9999/user/reader/")
    assert (into(other, Packet(HUB, 9999)), into(other, Packet(HUB, 8888))) == ("ACCEPT", "REJECT")


@pytest.mark.parametrize(
    ("address", "port", "protocol"),
    [
        ("169.254.169.254", 80, "tcp"),  # cloud metadata
        ("172.18.0.1", 22, "tcp"),  # its node, through docker_gwbridge
        ("10.231.0.1", 5000, "tcp"),  # the manager: the stack's registry
        ("10.231.0.2", 7946, "tcp"),
        ("192.0.2.9", 443, "tcp"),  # a listed network
        ("198.51.100.7", 2377, "tcp"),  # Swarm's ports, anywhere
        ("198.51.100.7", 7946, "udp"),
        ("198.51.100.7", 4789, "udp"),  # VXLAN: frames forged onto an overlay
    ],
)
def test_nodes_swarm_ports_and_link_local_are_refused(address, port, protocol) -> None:
    for egress in ("true", "false"):
        packet = Packet(address, port, protocol, interface="eth1")
        assert out(firewall(USERS_INTERNET_EGRESS=egress), packet) == "REJECT", (packet, egress)


def test_the_internet_is_reachable_only_with_egress() -> None:
    packet = Packet("198.51.100.7", 443, interface="eth1")
    assert out(firewall(USERS_INTERNET_EGRESS="true"), packet) == "ACCEPT"
    assert out(firewall(USERS_INTERNET_EGRESS="false"), packet) == "REJECT"
    dns = Packet("127.0.0.11", 53, "udp", interface="lo")  # Docker's resolver: always
    assert out(firewall(USERS_INTERNET_EGRESS="false"), dns) == "ACCEPT"


def test_restore_input_replaces_the_filter_table() -> None:
    text = server.restore_input(firewall())
    lines = text.splitlines()
    assert lines[:4] == [
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
    ]
    assert lines[-1] == "COMMIT" and text.endswith("\n")
    inbound, outbound = server.rules(firewall())
    assert lines[4:-1] == [
        *(" ".join(["-A", "INPUT", *r]) for r in inbound),
        *(" ".join(["-A", "OUTPUT", *r]) for r in outbound),
    ]
    assert "-A INPUT -j REJECT --reject-with icmp-admin-prohibited" in lines
    assert server.RESTORE_INPUT_V6.splitlines()[1:4] == [
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT DROP [0:0]",
    ]


def test_main_applies_both_tables_or_names_the_failure(monkeypatch, capsys, tmp_path) -> None:
    routes = tmp_path / "route"
    routes.write_text(ROUTES)
    monkeypatch.setattr(server, "ROUTE_TABLE", str(routes))
    ran: list[tuple[str, str]] = []

    def run(argv, input, **kwargs):  # noqa: A002 (subprocess.run's name)
        ran.append((argv[0], input))
        code = 1 if argv[0] == server.IP6TABLES_RESTORE and fail else 0
        return subprocess.CompletedProcess(argv, code, "", "Permission denied (you must be root)")

    monkeypatch.setattr(server.subprocess, "run", run)
    fail = False
    assert server.main(ENV) == 0
    assert [command for command, _ in ran] == [server.IPTABLES_RESTORE, server.IP6TABLES_RESTORE]
    assert "-A OUTPUT -d 172.18.0.1/32" in ran[0][1]
    fail = True
    assert server.main(ENV) == 1
    err = capsys.readouterr().err
    assert "ip6tables-restore failed (1): Permission denied" in err
    assert "NET_ADMIN" in err and "the server does not start" in err
    assert server.main({**ENV, "USERS_SUBNET": "x"}) == 1
    assert "USERS_SUBNET must be an IPv4 network" in capsys.readouterr().err


def test_the_entrypoint_trusts_nothing_of_the_environment_as_root() -> None:
    """As root: absolute paths, isolated Python given only the firewall's settings, then
    setpriv to uid 1000 with no capability, an empty bounding set and no_new_privs."""
    text = ENTRYPOINT.read_text()
    root = text[text.index('if [ "$(/usr/bin/id -u)" = 0 ]; then') : text.index("\nfi\n")]
    passed = re.findall(r"^\s+([A-Z_]+)=", root, flags=re.MULTILINE)
    assert set(passed) >= set(server.SETTINGS) | {"JUPYTERHUB_SERVICE_URL"}
    assert (
        "/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in root
    )
    assert "/usr/local/bin/python3 -I -B -m users_firewall.server" in root
    assert (
        "exec /usr/bin/setpriv --reuid=1000 --regid=1000 --init-groups \\\n"
        '    --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"'
    ) in root
    assert text.index("set -eu") < text.index('if [ "$(/usr/bin/id -u)"')  # fails closed


@pytest.mark.parametrize("root", [False, True])
def test_the_entrypoint_runs_the_command_as_the_user(tmp_path, root: bool) -> None:
    """Run for real with the commands it calls replaced (by rewriting their absolute paths):
    as uid 1000 it runs the command itself; as root, the firewall first, then setpriv; a
    failing firewall stops it before the command."""
    fakes = tmp_path / "bin"
    fakes.mkdir()
    log = tmp_path / "log"
    for name, body in {
        "id": f"echo {'0' if root else '1000'}",
        "env": f'echo "firewall $*" >> {log}; exit "${{FIREWALL_EXIT:-0}}"',
        "setpriv": f'echo "setpriv $*" >> {log}',
    }.items():
        (fakes / name).write_text(f"#!/bin/sh\n{body}\n")
        (fakes / name).chmod(0o755)
    script = ENTRYPOINT.read_text()
    for name in ("id", "env", "setpriv"):
        script = script.replace(f"/usr/bin/{name} ", f"{fakes}/{name} ")
    (tmp_path / "entry").write_text(script)

    def run(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["sh", str(tmp_path / "entry"), "sh", "-c", f"echo command >> {log}"],
            env={"PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
            check=False,
        )

    assert run().returncode == 0
    lines = log.read_text().splitlines()
    if not root:
        assert lines == ["command"]
        return
    assert lines[0].startswith("firewall -i PATH=") and "-m users_firewall.server" in lines[0]
    assert lines[1].startswith("setpriv --reuid=1000") and lines[1].endswith(
        f"-- sh -c echo command >> {log}"
    )
    log.unlink()
    assert run(FIREWALL_EXIT="1").returncode == 1
    assert log.read_text().splitlines() == [lines[0]]  # no setpriv, no command
