"""idpctl: the realm's default groups (realm.yml's defaultGroups): what validate reports,
what plan shows, what apply sends and when, and the demo realm's sign-up settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idpctl import cli
from idpctl.apply import Applier
from idpctl.live import Live
from idpctl.model import Desired
from idpctl.plan import Change, compute
from tests.support.idp_files import IDP_VARIABLES as VARIABLES
from tests.support.idp_files import edit, the_problem, validate
from tests.support.recording_admin import FakeAdmin, apply_all, first

REALM_FILE = "realms/demo/realm.yml"


# --- validate -------------------------------------------------------------------------------


def test_an_undefined_default_group_names_groups_yml(idp: Path) -> None:
    edit(idp / REALM_FILE, lambda d: d.update(defaultGroups=["hub-requests", "newcomers"]))
    line = the_problem(
        idp, REALM_FILE, "realm demo", "defaultGroups: group 'newcomers' is not defined in"
    )
    assert line.endswith(str(idp / "realms/demo/groups.yml"))


@pytest.mark.parametrize("value", ["hub-requests", [["hub-requests"]], {"a": "b"}])
def test_default_groups_that_are_not_a_list_of_names_are_one_problem(idp: Path, value: Any) -> None:
    edit(idp / REALM_FILE, lambda d: d.update(defaultGroups=value))
    the_problem(idp, REALM_FILE, "realm demo", "defaultGroups: must be a list of strings")


def test_a_default_group_may_be_given_as_a_path(idp: Path) -> None:
    edit(idp / REALM_FILE, lambda d: d.update(defaultGroups=["/hub-requests"]))
    assert validate(idp) == (0, ["idp/ is valid: realms demo."])
    (demo,) = cli.load(idp, ["demo"], VARIABLES)
    assert list(demo.default_groups) == ["hub-requests"]


def test_no_default_groups_is_valid(idp: Path) -> None:
    edit(idp / REALM_FILE, lambda d: d.pop("defaultGroups"))
    assert validate(idp) == (0, ["idp/ is valid: realms demo."])
    (demo,) = cli.load(idp, ["demo"], VARIABLES)
    assert demo.default_groups == {}


# --- plan -----------------------------------------------------------------------------------


def group(name: str) -> dict[str, Any]:
    return {"name": name, "_roles": [], "_file": "f"}


def desired(*defaults: str) -> Desired:
    return Desired(
        "demo",
        {"realm": "demo"},
        groups={n: group(n) for n in ("hub-requests", "hub-users")},
        default_groups={n: {"name": n, "_file": "realm.yml"} for n in defaults},
    )


def live(*defaults: str, tracked: tuple[str, ...] = ()) -> Live:
    """As idpctl.live.fetch reads it: the groups, and the default groups by name with id."""
    state = Live(exists=True, settings={"realm": "demo"})
    state.groups = {n: {**group(n), "id": f"g-{n}"} for n in ("hub-requests", "hub-users")}
    state.default_groups = {n: {"name": n, "id": f"g-{n}"} for n in defaults}
    state.managed["default_groups"] = set(tracked)
    return state


def test_plan_adds_a_missing_default_group() -> None:
    assert compute(desired("hub-requests"), live()) == [
        Change("default_groups", "create", "hub-requests")
    ]
    assert str(Change("default_groups", "create", "hub-requests")) == (
        "  + default group hub-requests"
    )


def test_plan_of_equal_default_groups_is_empty() -> None:
    assert compute(desired("hub-requests"), live("hub-requests")) == []


def test_plan_removes_a_tracked_default_group_and_leaves_untracked_ones() -> None:
    state = live("hub-requests", "hub-users", tracked=("hub-users",))
    assert compute(desired(), state) == [Change("default_groups", "delete", "hub-users")]


# --- apply ----------------------------------------------------------------------------------


def test_apply_adds_and_removes_a_default_group_by_group_id() -> None:
    admin = FakeAdmin()
    Applier(admin, desired("hub-requests")).run(Change("default_groups", "create", "hub-requests"))
    Applier(admin, desired()).run(Change("default_groups", "delete", "hub-users"))
    assert admin.writes() == [
        ("PUT", "/demo/default-groups/group-hub-requests", None),
        ("DELETE", "/demo/default-groups/group-hub-users", None),
    ]


def test_apply_sets_default_groups_after_the_groups_and_before_the_users() -> None:
    d = desired("hub-requests")
    d.settings["displayName"] = "Demo"
    d.users["reader"] = {"username": "reader", "_groups": ["hub-users"], "_file": "f"}
    admin = apply_all(d, Live(exists=False))
    realm = first(admin.calls, "POST", "")
    assert "defaultGroups" not in admin.calls[realm][2]  # sent through their own endpoint
    default = first(admin.calls, "PUT", "/demo/default-groups/group-hub-requests")
    groups = [i for i, c in enumerate(admin.calls) if c[:2] == ("POST", "/demo/groups")]
    assert len(groups) == 2
    assert realm < max(groups) < default < first(admin.calls, "POST", "/demo/users")


def test_apply_records_default_groups_as_managed() -> None:
    admin = apply_all(desired("hub-requests"), live())
    (record,) = [c for c in admin.writes() if c[:2] == ("PUT", "/demo")]
    assert '"default_groups": ["hub-requests"]' in record[2]["attributes"]["idpctl.managed"]


# --- the demo realm -------------------------------------------------------------------------


def test_the_demo_realm_lets_people_sign_up_into_hub_requests(idp: Path) -> None:
    (demo,) = cli.load(idp, ["demo"], VARIABLES)
    assert demo.settings["registrationAllowed"] is True
    assert list(demo.default_groups) == ["hub-requests"]
    assert "defaultGroups" not in demo.settings  # not sent with the realm's own settings
    assert demo.groups["hub-requests"]["_roles"] == []  # a request grants nothing yet
