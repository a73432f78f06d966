"""idpctl's outputs on the repository's idp/, recorded as text in tests/unit/data/idpctl/ so
that a change of idpctl's structure is proven not to change what it says or sends (issue 24):

- ``validate`` of idp/ and of broken copies (problems of many kinds at once, in their order);
- ``plan`` and ``apply`` against (a) an empty Keycloak, (b) the Keycloak that applying idp/
  made (no changes), (c) a Keycloak that drifted across kinds (realm settings, a client's
  field, an API scope, a group's roles, a missing group member, a default group, an extra
  managed role, group, user and flow with a realm binding to it, a changed flow, a changed
  admin permission, a changed user profile);
- for (a) and (c), every admin API call of the apply phase (method, path, query, body, in
  order), and for (b) and (c) the live state idpctl reads (``idpctl.live.fetch``).

Keycloak is the fuzz suite's in-memory fake (tests/support/fake_keycloak.py), which keeps
what it is sent and answers as Keycloak does. ``IDPCTL_GOLDEN=write`` rewrites the files
(only when a change of output is intended: review the diff).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
import yaml

from idpctl import cli, plan
from idpctl import live as live_state
from idpctl.apply import Applier
from tests.support.fake_keycloak import FakeAdmin, FakeKeycloak
from tests.support.idp_files import IDP, IDP_VARIABLES

DATA = Path(__file__).parent / "data" / "idpctl"
REALMS = ["demo", "research"]
VARIABLES = {
    **IDP_VARIABLES,
    "RESEARCH_HUB_CLIENT_SECRET": "research-hub-secret",
    "RESEARCH_EXCHANGE_CLIENT_SECRET": "research-exchange-secret",
    "DEMO_PASSWORD_RESEARCHER": "pw-researcher-1A",
    "IDP_DEMO_USERS": "true",
}


class RecordingKeycloak(FakeKeycloak):
    """The fake Keycloak, also recording each request's query and body as sent."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode("ascii")
        body = request.content.decode() if request.content else ""
        self.log.append(f"{request.method} {path}{'  ' + body if body else ''}")
        return super().handle(request)


# --- running idpctl -------------------------------------------------------------------------


def edit(path: Path, change: Callable[[Any], Any]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def copy_of_idp(tmp: Path) -> Path:
    idp = tmp / "idp"
    shutil.copytree(IDP, idp)
    return idp


def run(command: str, idp: Path, fake: FakeKeycloak | None = None, **kw: Any) -> str:
    """idpctl's output (and exit code), with the folder's path written as <idp>."""
    lines: list[str] = []
    variables = kw.get("variables", VARIABLES)
    realms = kw.get("realms", REALMS)
    with mock.patch.object(cli, "connect", lambda variables: FakeAdmin(fake)):
        code = cli.run(command, idp, realms, variables, out=lines.append)
    text = "\n".join([*lines, f"exit code {code}"]) + "\n"
    return text.replace(str(idp), "<idp>")


def jsonable(value: Any) -> Any:
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def live_text(fake: FakeKeycloak, idp: Path) -> str:
    """What idpctl reads from Keycloak, per realm, as sorted JSON."""
    out = {}
    for desired in cli.load(idp, REALMS, VARIABLES):
        out[desired.realm] = jsonable(
            dataclasses.asdict(live_state.fetch(FakeAdmin(fake), desired))
        )
    return json.dumps(out, indent=1, sort_keys=True) + "\n"


def apply_calls(fake: RecordingKeycloak, idp: Path) -> str:
    """Every admin API call of the apply phase (after idpctl read the live state)."""
    out: list[str] = []
    for desired in cli.load(idp, REALMS, VARIABLES):
        live = live_state.fetch(FakeAdmin(fake), desired)
        changes = plan.compute(desired, live)
        fake.log.clear()
        Applier(FakeAdmin(fake), desired).apply(changes, live, report=lambda _: None)
        out += [f"# realm {desired.realm}", *fake.log]
    return "\n".join(out) + "\n"


def applied(idp: Path) -> RecordingKeycloak:
    fake = RecordingKeycloak()
    text = run("apply", idp, fake)
    assert text.endswith("exit code 0\n"), text
    return fake


# --- the drift: a Keycloak that an earlier, different idp/ made ---------------------------


def drifted_idp(idp: Path) -> None:
    """Changes to a copy of idp/ across kinds; applying it, then the real idp/, shows each."""
    demo = idp / "realms/demo"
    edit(demo / "realm.yml", lambda d: d.update(displayName="Old demo", accessTokenLifespan=600))
    edit(demo / "realm.yml", lambda d: d.update(defaultGroups=["hub-requests", "fruit-readers"]))
    edit(demo / "realm.yml", lambda d: d.update(resetCredentialsFlow="old-reset"))
    edit(demo / "clients/jupyterhub.yml", lambda d: d.update(description="An older hub"))
    (demo / "roles/old-role.yml").write_text("name: old-role\ndescription: Gone now\n")

    def groups(d: list[dict[str, Any]]) -> None:
        d.append({"name": "old-group", "realmRoles": ["old-role"]})
        for group in d:
            if group["name"] == "hub-admins":
                group["realmRoles"] = ["old-role"]

    edit(demo / "groups.yml", groups)

    def users(d: list[dict[str, Any]]) -> None:
        for user in d:
            if user["username"] == "reader":
                user["groups"] = ["hub-users"]  # no longer in fruit-readers
                user["firstName"] = "Rita-old"
        d.append({"username": "olduser", "enabled": True, "groups": ["old-group"]})

    edit(demo / "users.yml", users)

    def flow(d: dict[str, Any]) -> None:
        d["description"] = "An older flow"
        d["executions"][0]["requirement"] = "REQUIRED"
        d["executions"].pop()

    edit(demo / "authentication-flows/browser-hub-admins-otp.yml", flow)
    (demo / "authentication-flows/old-reset.yml").write_text(
        "alias: old-reset\ndescription: An old reset flow\nexecutions:\n"
        "- authenticator: reset-credentials-choose-user\n  requirement: REQUIRED\n"
    )
    edit(
        demo / "admin-permissions.yml",
        lambda d: d[0].update(scopes=["view", "view-members"], groups=["hub-requests"]),
    )

    def user_profile(d: dict[str, Any]) -> None:
        d["attributes"][0]["validations"]["length"]["max"] = 64
        d["attributes"][1]["required"] = {"roles": ["user"]}

    edit(demo / "user-profile.yml", user_profile)

    def apis(d: dict[str, Any]) -> None:
        d["apis"]["fruit-api"]["scopes"]["fruits:read"]["description"] = "Old description"
        d["apis"]["fruit-api"]["scopes"]["fruits:write"]["groups"] = ["fruit-readers"]

    edit(idp / "apis.yml", apis)
    edit(idp / "realms/research/groups.yml", lambda d: d[0].update(attributes={"old": ["x"]}))


# --- the cases ------------------------------------------------------------------------------


def broken_many(idp: Path) -> dict[str, Any]:
    """One problem (or more) of each kind, all in one run: their order is part of the output."""
    demo = idp / "realms/demo"
    edit(demo / "realm.yml", lambda d: d.update(enabled=[1], defaultGroups=["nobody"]))
    edit(demo / "realm.yml", lambda d: d.update(browserFlow="no-such-flow"))
    (demo / "clients.yml").write_text("[]\n")
    (demo / "roles.yml").write_text("[]\n")
    edit(demo / "clients/jupyterhub.yml", lambda d: d.update(enabled="maybe", id="x"))
    edit(demo / "clients/hubtokens-laptop.yml", lambda d: d.update(optionalClientScopes=["nope"]))
    (demo / "client-scopes").mkdir()
    (demo / "client-scopes/s.yml").write_text("name: s\nroles: [undefined-role]\nprotocol: [x]\n")
    (demo / "roles/bad.yml").write_text("name: offline_access\n")
    (demo / "roles/dup.yml").write_text("name: hub-admin\ncomposite: sometimes\n")

    def groups(d: list[dict[str, Any]]) -> None:
        d[0]["realmRoles"] = ["missing-role"]
        d.append({"name": "hub-users"})

    edit(demo / "groups.yml", groups)
    edit(demo / "users.yml", lambda d: d[0].update(groups=["no-group"], email="Upper@X.org"))
    edit(
        demo / "admin-permissions.yml",
        lambda d: d[0].update(scopes=["fly"], groups=["ghosts"], clients=["jupyterhub"]),
    )
    edit(
        demo / "authentication-flows/browser-hub-admins-otp.yml",
        lambda d: d["executions"][0].update(requirement="OPTIONAL"),
    )
    edit(
        demo / "user-profile.yml",
        lambda d: d["attributes"][0]["validations"]["pattern"].update(pattern="(["),
    )

    def apis(d: dict[str, Any]) -> None:
        d["apis"]["fruit-api"]["requester"] = ["jupyterhub-exchange", "no-client"]
        d["apis"]["fruit-api"]["scopes"]["fruits:read"]["groups"] = ["no-group"]

    edit(idp / "apis.yml", apis)
    edit(idp / "realms/research/groups.yml", lambda d: d.append({"name": ""}))
    return {}


def broken_variables(idp: Path) -> dict[str, Any]:
    drop = {"DEMO_PASSWORD_CURATOR", "RESEARCH_HUB_CLIENT_SECRET", "JUPYTERHUB_CLIENT_SECRET"}
    return {"variables": {k: v for k, v in VARIABLES.items() if k not in drop}}


def broken_realms(idp: Path) -> dict[str, Any]:
    edit(idp / "apis.yml", lambda d: d["apis"]["research-api"].update(realm="elsewhere"))
    return {"realms": ["demo", "no-such-realm", "bad/name"]}


def broken_templates(idp: Path) -> dict[str, Any]:
    clients = idp / "realms/demo/clients"
    edit(clients / "jupyterhub.yml", lambda d: d.update(template="no-such-template"))
    edit(clients / "jupyterhub-exchange.yml", lambda d: d.update(vars={"unknown": 1}))
    (clients / "plain.yml").write_text("clientId: plain\nvars: {a: 1}\npublicClient: true\n")
    return {}


BROKEN = {
    "many": broken_many,
    "variables": broken_variables,
    "realms": broken_realms,
    "templates": broken_templates,
}


def outputs(tmp: Path) -> dict[str, str]:
    """Every recorded output, by its file name in tests/unit/data/idpctl/."""
    out: dict[str, str] = {}
    idp = copy_of_idp(tmp)
    out["validate.txt"] = run("validate", idp)
    for name, breaks in BROKEN.items():
        broken = copy_of_idp(tmp / f"broken-{name}")
        kw = breaks(broken)
        out[f"validate-broken-{name}.txt"] = run("validate", broken, **kw)

    # (a) an empty Keycloak
    out["plan-empty.txt"] = run("plan", idp, RecordingKeycloak())
    out["apply-empty.txt"] = run("apply", idp, RecordingKeycloak())
    out["apply-empty-calls.txt"] = apply_calls(RecordingKeycloak(), idp)

    # (b) the Keycloak that applying idp/ made
    equal = applied(idp)
    out["plan-equal.txt"] = run("plan", idp, copy.deepcopy(equal))
    out["live-equal.json"] = live_text(copy.deepcopy(equal), idp)

    # (c) a Keycloak that an older idp/ made
    old = copy_of_idp(tmp / "old")
    drifted_idp(old)
    drift = applied(idp)
    assert run("apply", old, drift).endswith("exit code 0\n")
    out["live-drift.json"] = live_text(copy.deepcopy(drift), idp)
    out["plan-drift.txt"] = run("plan", idp, copy.deepcopy(drift))
    after = copy.deepcopy(drift)
    out["apply-drift.txt"] = run("apply", idp, after)
    out["plan-drift-after-apply.txt"] = run("plan", idp, after)
    out["apply-drift-calls.txt"] = apply_calls(copy.deepcopy(drift), idp)
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    found = outputs(tmp_path_factory.mktemp("golden"))
    if os.environ.get("IDPCTL_GOLDEN") == "write":
        DATA.mkdir(parents=True, exist_ok=True)
        for name, text in found.items():
            (DATA / name).write_text(text)
    return found


NAMES = [
    "validate.txt",
    *(f"validate-broken-{name}.txt" for name in BROKEN),
    "plan-empty.txt",
    "apply-empty.txt",
    "apply-empty-calls.txt",
    "plan-equal.txt",
    "live-equal.json",
    "live-drift.json",
    "plan-drift.txt",
    "apply-drift.txt",
    "plan-drift-after-apply.txt",
    "apply-drift-calls.txt",
]


def test_every_output_is_recorded(recorded: dict[str, str]) -> None:
    assert sorted(recorded) == sorted(NAMES)
    assert sorted(p.name for p in DATA.iterdir()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_the_output_is_the_recorded_one(recorded: dict[str, str], name: str) -> None:
    assert recorded[name] == (DATA / name).read_text(), f"{name} changed"


def test_the_drift_is_seen_and_undone(recorded: dict[str, str]) -> None:
    """The recorded cases show what they are meant to show."""
    assert recorded["plan-equal.txt"] == (
        "Realm demo: no changes.\nRealm research: no changes.\nexit code 0\n"
    )
    assert recorded["plan-drift-after-apply.txt"] == recorded["plan-equal.txt"]
    drift = recorded["plan-drift.txt"]
    for line in (
        "~ realm settings demo",
        "~ client jupyterhub",
        "~ client scope fruits:read",
        "~ group hub-admins",
        "~ user reader",
        "~ authentication flow browser-hub-admins-otp",
        "~ admin permission hub-access-requests",
        "~ user profile demo",
        "~ realm flows demo",
        "- role old-role",
        "- group old-group",
        "- user olduser",
        "- default group fruit-readers",
        "- authentication flow old-reset",
        "~ group hub-users",
    ):
        assert line in drift, line
    for name in ("validate-broken-many.txt", "validate-broken-variables.txt"):
        assert recorded[name].endswith("exit code 1\n")
