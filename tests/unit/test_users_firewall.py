"""The users firewall's rules (pure) and its runner against a fake iptables; the compose wiring."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from stackconf import settings as conf
from users_firewall import __main__ as runner
from users_firewall.rules import (
    TRAEFIK_USER_PORTS,
    UsersNetwork,
    forward_rules,
    hooks,
    input_rules,
    restore_input,
)

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "compose" / "compose.yml").read_text())


def net(**env: str) -> UsersNetwork:
    return UsersNetwork.from_env(env)


def test_defaults_give_the_hub_and_traefik_on_the_users_subnet() -> None:
    n = net()
    assert (str(n.subnet), str(n.hub), str(n.traefik)) == (
        "10.255.224.0/20",
        "10.255.224.2",
        "10.255.224.3",
    )
    assert n.hub_port == 8081  # from HUB_CONNECT_URL's default, http://hub:8081
    assert n.internet_egress is True
    assert (n.forward_chain, n.input_chain) == ("jhk-users-forward", "jhk-users-input")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"USERS_BRIDGE": "a-name-longer-than-15"}, "USERS_BRIDGE"),
        ({"USERS_BRIDGE": "br 0"}, "USERS_BRIDGE"),
        ({"USERS_SUBNET": "10.0.0.0/33"}, "USERS_SUBNET"),
        ({"USERS_HUB_ADDRESS": "10.1.0.2"}, "USERS_HUB_ADDRESS=10.1.0.2 must be a host address"),
        ({"USERS_TRAEFIK_ADDRESS": "10.255.224.1"}, "other than its gateway"),
        ({"USERS_TRAEFIK_ADDRESS": "10.255.224.2"}, "must differ"),
        ({"USERS_HUB_ADDRESS": "hub"}, "USERS_HUB_ADDRESS must be an IPv4 address"),
    ],
)
def test_settings_that_do_not_fit_are_refused_with_the_setting_named(
    env: dict[str, str], says: str
) -> None:
    with pytest.raises(conf.SettingError, match=re.escape(says)):
        net(**env)


def test_between_user_containers_only_the_hub_and_traefik_pass() -> None:
    rules = [" ".join(r) for r in forward_rules(net())]
    same = "-i jhk-users -o jhk-users"
    assert rules[:6] == [
        f"{same} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"{same} -s 10.255.224.2/32 -j ACCEPT",
        f"{same} -s 10.255.224.3/32 -j ACCEPT",
        f"{same} -d 10.255.224.2/32 -p tcp --dport 8081 -j ACCEPT",
        f"{same} -d 10.255.224.3/32 -p tcp -m multiport --dports 8000,8001 -j ACCEPT",
        f"{same} -j REJECT --reject-with icmp-admin-prohibited",  # another user's server
    ]
    assert "-i jhk-users -d 169.254.0.0/16 -j REJECT --reject-with icmp-admin-prohibited" in rules
    assert rules[-1] == "-j RETURN"
    assert not any("! -o" in r for r in rules)  # internet egress on by default


def test_internet_egress_off_refuses_everything_off_the_bridge() -> None:
    rules = [" ".join(r) for r in forward_rules(net(USERS_INTERNET_EGRESS="false"))]
    assert rules[-2:] == [
        "-i jhk-users ! -o jhk-users -j REJECT --reject-with icmp-admin-prohibited",
        "-j RETURN",
    ]


def test_the_host_answers_only_what_it_asked_for() -> None:
    assert [" ".join(r) for r in input_rules(net())] == [
        "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-j REJECT --reject-with icmp-admin-prohibited",
    ]


def test_restore_input_replaces_only_our_two_chains() -> None:
    text = restore_input(net(USERS_BRIDGE="br-b"))
    lines = text.splitlines()
    assert lines[:3] == ["*filter", ":br-b-forward - [0:0]", ":br-b-input - [0:0]"]
    assert lines[-1] == "COMMIT"
    assert all(line.startswith(("-A br-b-forward ", "-A br-b-input ")) for line in lines[3:-1])
    assert hooks(net(USERS_BRIDGE="br-b")) == [
        ("DOCKER-USER", ["-i", "br-b", "-j", "br-b-forward"]),
        ("INPUT", ["-i", "br-b", "-j", "br-b-input"]),
    ]


class FakeIptables:
    """A filter table in memory behind the runner's subprocess calls."""

    def __init__(self, docker_user_in: str = "iptables-nft") -> None:
        self.backend = docker_user_in
        self.chains: dict[str, list[str]] = {"DOCKER-USER": ["-j RETURN"], "INPUT": []}
        self.calls: list[list[str]] = []

    def __call__(self, argv, input=None, **_):  # noqa: A002 - subprocess.run's name
        self.calls.append(argv)
        done = subprocess.CompletedProcess(argv, 0, "", "")
        failed = subprocess.CompletedProcess(argv, 1, "", "No chain/target/match by that name.")
        tool, args = argv[0], [a for a in argv[1:] if a != "-w"]
        if not tool.startswith(self.backend):
            return failed
        if tool.endswith("-restore"):
            for line in input.splitlines():
                if line.startswith(":"):
                    self.chains[line[1:].split()[0]] = []
                elif line.startswith("-A "):
                    chain, rule = line[3:].split(" ", 1)
                    self.chains[chain].append(rule)
            return done
        verb, chain, rest = args[0], args[1], args[2:]
        if chain not in self.chains:
            return failed
        if verb == "-S":
            return done
        if verb == "-C":
            return done if " ".join(rest) in self.chains[chain] else failed
        if verb == "-I":
            self.chains[chain].insert(int(rest[0]) - 1, " ".join(rest[1:]))
        elif verb == "-D":
            self.chains[chain].remove(" ".join(rest))
        elif verb == "-F":
            self.chains[chain] = []
        elif verb == "-X":
            del self.chains[chain]
        return done


@pytest.fixture
def iptables(monkeypatch: pytest.MonkeyPatch) -> FakeIptables:
    fake = FakeIptables()
    monkeypatch.setattr(runner.subprocess, "run", fake)
    return fake


def test_apply_hooks_in_first_once_and_check_finds_nothing_missing(iptables) -> None:
    n = net()
    runner.apply(n, "iptables-nft")
    runner.apply(n, "iptables-nft")  # again: no second hook, no duplicate rule
    assert iptables.chains["DOCKER-USER"] == ["-i jhk-users -j jhk-users-forward", "-j RETURN"]
    assert iptables.chains["INPUT"] == ["-i jhk-users -j jhk-users-input"]
    assert len(iptables.chains["jhk-users-forward"]) == len(forward_rules(n))
    assert runner.missing(n, "iptables-nft") == []


def test_check_names_a_rule_that_went_missing(iptables) -> None:
    n = net()
    runner.apply(n, "iptables-nft")
    iptables.chains["INPUT"].clear()  # e.g. a host firewall reload
    assert runner.missing(n, "iptables-nft") == ["INPUT -i jhk-users -j jhk-users-input"]
    assert runner.main(["check"]) == 1


def test_remove_leaves_the_host_as_it_was(iptables) -> None:
    n = net()
    runner.apply(n, "iptables-nft")
    runner.remove(n, "iptables-nft")
    runner.remove(n, "iptables-nft")  # what is gone already is fine
    assert iptables.chains == {"DOCKER-USER": ["-j RETURN"], "INPUT": []}


def test_the_backend_is_where_dockers_chain_is(monkeypatch) -> None:
    monkeypatch.setattr(runner.subprocess, "run", FakeIptables("iptables-legacy"))
    assert runner.docker_backend() == "iptables-legacy"
    monkeypatch.setattr(runner.subprocess, "run", FakeIptables("nothing"))
    with pytest.raises(runner.FirewallError, match="DOCKER-USER chain was found in no iptables"):
        runner.docker_backend()


def test_a_bad_setting_is_a_one_line_error(capsys, monkeypatch) -> None:
    monkeypatch.setenv("USERS_BRIDGE", "far-too-long-a-bridge-name")
    assert runner.main(["show"]) == 2
    assert capsys.readouterr().err.startswith("users-firewall: USERS_BRIDGE must be")


def test_compose_wires_the_same_addresses_into_the_network_the_hub_and_traefik() -> None:
    users = COMPOSE["networks"]["users"]
    assert users["driver_opts"]["com.docker.network.bridge.enable_icc"] == "false"
    assert users["driver_opts"]["com.docker.network.bridge.name"] == "${USERS_BRIDGE:-jhk-users}"
    assert users["ipam"]["config"][0]["subnet"] == "${USERS_SUBNET:-10.255.224.0/20}"
    services = COMPOSE["services"]
    hub_address = services["hub"]["networks"]["users"]["ipv4_address"]
    assert hub_address == "${USERS_HUB_ADDRESS:-10.255.224.2}"
    traefik_address = services["traefik"]["networks"]["users"]["ipv4_address"]
    assert traefik_address == "${USERS_TRAEFIK_ADDRESS:-10.255.224.3}"
    assert services["hub"]["environment"]["HUB_CONNECT_URL"] == conf.get("HUB_CONNECT_URL", {})
    firewall = services["users-firewall"]
    assert firewall["network_mode"] == "host"
    assert (firewall["cap_drop"], firewall["cap_add"]) == (["ALL"], ["NET_ADMIN"])
    assert services["hub"]["depends_on"]["users-firewall"] == {"condition": "service_healthy"}
    traefik = yaml.safe_load((REPO / "compose" / "traefik" / "traefik.yml").read_text())
    assert traefik["entryPoints"]["http"]["address"] == f":{TRAEFIK_USER_PORTS[0]}"
    tls = REPO / "playbooks" / "roles" / "stack" / "templates" / "traefik-tls.yml.j2"
    internal = re.search(r"\n  internal:\n    address: \"(:\d+)\"", tls.read_text())
    assert internal and internal.group(1) == f":{TRAEFIK_USER_PORTS[1]}"
