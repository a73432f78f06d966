"""idpctl: fine-grained admin permissions (idp/realms/<realm>/admin-permissions.yml,
idpctl.kinds.admin_permissions): what validate reports, what plan shows, what apply sends, what the
live state reads, and the demo realm's permission for the hub's Access requests page."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from idpctl import cli
from idpctl.apply import Applier
from idpctl.kinds.admin_permissions import fetch_admin_permissions
from idpctl.live import Live
from idpctl.model import Desired
from idpctl.plan import Change, compute
from tests.support.idp_files import IDP_VARIABLES as VARIABLES
from tests.support.idp_files import edit, the_problem, validate
from tests.support.recording_admin import FakeAdmin, apply_all, first

FILE = "realms/demo/admin-permissions.yml"
PERMISSION = "admin permission hub-access-requests"
ACCOUNTS_CLIENT = "realms/demo/clients/jupyterhub-accounts.yml"
DEMO_SCOPES = [
    "manage-members",
    "manage-membership",
    "manage-membership-of-members",
    "view",
    "view-members",
]
AUTHZ = "/demo/clients/ap-1/authz/resource-server"


def change_entry(idp: Path, **fields: Any) -> None:
    edit(idp / FILE, lambda d: d[0].update(fields))


# --- validate -------------------------------------------------------------------------------


def test_the_demo_permission_is_valid(idp: Path) -> None:
    assert validate(idp) == (0, ["idp/ is valid: realms demo."])


def test_an_unknown_key_is_named_with_the_known_ones(idp: Path) -> None:
    change_entry(idp, group=["hub-users"])
    the_problem(idp, FILE, PERMISSION, "unknown key 'group'", "known: clients, description, groups")


@pytest.mark.parametrize("kind", ["Group", "Clients", None])
def test_a_bad_resource_type_names_the_two_choices(idp: Path, kind: str | None) -> None:
    change_entry(idp, resourceType=kind)
    the_problem(idp, FILE, PERMISSION, "resourceType must be Groups or Users", repr(kind))


def test_a_scope_of_another_resource_type_is_refused_with_the_known_ones(idp: Path) -> None:
    change_entry(idp, scopes=["view", "reset-password"])
    the_problem(
        idp,
        FILE,
        PERMISSION,
        "scope 'reset-password' is not a scope of Groups",
        "(known: view, view-members, manage, manage-members, manage-membership, "
        "manage-membership-of-members, impersonate-members)",
    )


def test_a_scope_of_groups_on_a_users_permission_is_refused_with_the_known_ones(
    idp: Path,
) -> None:
    change_entry(idp, resourceType="Users", groups=None, scopes=["view", "view-members"])
    the_problem(
        idp,
        FILE,
        PERMISSION,
        "scope 'view-members' is not a scope of Users",
        "(known: view, manage, manage-group-membership, map-roles, impersonate, reset-password)",
    )


def test_no_scope_is_refused(idp: Path) -> None:
    change_entry(idp, scopes=[])
    the_problem(idp, FILE, PERMISSION, "scopes must name at least one of")


def test_an_undefined_group_names_groups_yml(idp: Path) -> None:
    change_entry(idp, groups=["hub-requests", "hub-visitors"])
    line = the_problem(idp, FILE, PERMISSION, "groups: 'hub-visitors' is not defined in")
    assert line.endswith(str(idp / "realms/demo/groups.yml"))


def test_no_group_is_refused(idp: Path) -> None:
    change_entry(idp, groups=[])
    the_problem(idp, FILE, PERMISSION, "groups must name at least one group")


def test_an_undefined_user_names_users_yml(idp: Path) -> None:
    change_entry(idp, resourceType="Users", groups=None, users=["ghost"], scopes=["view"])
    line = the_problem(idp, FILE, PERMISSION, "users: 'ghost' is not defined in")
    assert line.endswith(str(idp / "realms/demo/users.yml"))


def test_users_on_a_groups_permission_say_which_key_to_use(idp: Path) -> None:
    change_entry(idp, users=["reader"])
    the_problem(idp, FILE, PERMISSION, "users does not apply to resourceType Groups: use groups")


def test_a_users_permission_without_users_is_valid_all_users(idp: Path) -> None:
    change_entry(idp, resourceType="Users", groups=None, scopes=["view"])
    assert validate(idp) == (0, ["idp/ is valid: realms demo."])


def test_an_undefined_client_names_the_clients_folder(idp: Path) -> None:
    change_entry(idp, clients=["jupyterhub-acounts"])
    line = the_problem(idp, FILE, PERMISSION, "clients: 'jupyterhub-acounts' is not defined in")
    assert line.endswith(str(idp / "realms/demo/clients"))


def test_no_client_is_refused(idp: Path) -> None:
    change_entry(idp, clients=[])
    the_problem(idp, FILE, PERMISSION, "clients must name the client(s) whose service account")


def test_a_client_users_log_in_with_is_refused(idp: Path) -> None:
    change_entry(idp, clients=["jupyterhub"])
    the_problem(
        idp,
        FILE,
        PERMISSION,
        "clients: 'jupyterhub' must be a service account only",
        "serviceAccountsEnabled: true",
        "standardFlowEnabled, implicitFlowEnabled and directAccessGrantsEnabled: false",
        "a user's token of that client would get the permission too",
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"directAccessGrantsEnabled": True},
        {"standardFlowEnabled": True},
        {"implicitFlowEnabled": True},
        {"serviceAccountsEnabled": False},
    ],
)
def test_the_accounts_client_with_a_user_login_is_refused(
    idp: Path, fields: dict[str, Any]
) -> None:
    edit(idp / ACCOUNTS_CLIENT, lambda d: d.update(fields))
    the_problem(idp, FILE, PERMISSION, "'jupyterhub-accounts' must be a service account only")


@pytest.mark.parametrize("value", [None, False])
def test_permissions_need_admin_permissions_enabled_in_realm_yml(
    idp: Path, value: bool | None
) -> None:
    def change(d: dict[str, Any]) -> None:
        if value is None:
            del d["adminPermissionsEnabled"]
        else:
            d["adminPermissionsEnabled"] = value

    edit(idp / "realms/demo/realm.yml", change)
    the_problem(
        idp,
        "realms/demo/realm.yml",
        "realm demo",
        "adminPermissionsEnabled must be true",
        "admin-permissions.yml defines admin permissions",
    )


def test_a_duplicate_name_is_refused(idp: Path) -> None:
    edit(idp / FILE, lambda d: d.append(copy.deepcopy(d[0])))
    the_problem(idp, FILE, PERMISSION, "duplicate admin permission 'hub-access-requests'")


def test_an_entry_that_is_not_a_mapping_is_refused(idp: Path) -> None:
    edit(idp / FILE, lambda d: d.append("hub-access-requests"))
    the_problem(idp, FILE, "permission [1]", "expected a mapping")


# --- plan -----------------------------------------------------------------------------------


def want(**fields: Any) -> dict[str, Any]:
    """A permission as idpctl.kinds.admin_permissions.read_entry makes it."""
    return {
        "name": "requests",
        "description": "Access requests",
        "resourceType": "Groups",
        "_resources": ["hub-requests", "hub-users"],
        "_scopes": ["manage-members", "view"],
        "_clients": ["jupyterhub-accounts"],
        "_file": "f",
        **fields,
    }


def have(**fields: Any) -> dict[str, Any]:
    """The same permission as idpctl.kinds.admin_permissions.fetch_admin_permissions reads it."""
    out = {k: copy.deepcopy(v) for k, v in want().items() if k != "_file"}
    return {"id": "p-1", **out, "_policies": ["requests: clients"], **fields}


def desired(*permissions: dict[str, Any]) -> Desired:
    settings = {"realm": "demo", "adminPermissionsEnabled": True}
    return Desired("demo", settings, admin_permissions={p["name"]: p for p in permissions})


def live(*permissions: dict[str, Any], tracked: bool = True) -> Live:
    state = Live(exists=True, settings={"realm": "demo", "adminPermissionsEnabled": "true"})
    state.admin_permissions = {p["name"]: p for p in permissions}
    if tracked:
        state.managed["admin_permissions"] = {p["name"] for p in permissions}
    return state


def test_plan_creates_a_missing_permission() -> None:
    assert compute(desired(want()), live()) == [Change("admin_permissions", "create", "requests")]


def test_plan_of_an_equal_permission_is_empty() -> None:
    assert compute(desired(want()), live(have())) == []


def test_plan_shows_each_difference_of_a_permission() -> None:
    current = have(
        description="old",
        _resources=["hub-users", "fruit-readers"],
        _scopes=["view", "manage"],
        _clients=[],
        _policies=["someone's policy"],
    )
    (change,) = compute(desired(want()), live(current))
    assert (change.kind, change.action, change.name) == ("admin_permissions", "update", "requests")
    assert change.details == [
        "description: 'old' -> 'Access requests'",
        "groups: + hub-requests",
        "groups: - fruit-readers",
        "scopes: + manage-members",
        "scopes: - manage",
        "clients: + jupyterhub-accounts",
        "policies: [\"someone's policy\"] -> ['requests: clients']",
    ]
    assert "~ admin permission requests" in str(change)


def test_plan_of_a_users_permission_names_users() -> None:
    users = want(resourceType="Users", _resources=["reader"], _scopes=["view"])
    (change,) = compute(desired(users), live(have(resourceType="Users", _scopes=["view"])))
    assert "users: + reader" in change.details
    assert "groups: + reader" not in change.details


def test_plan_deletes_a_tracked_permission_no_file_names_and_leaves_others() -> None:
    other = have(name="someone-elses", id="p-2")
    state = live(have())
    state.admin_permissions["someone-elses"] = other
    assert compute(desired(), state) == [Change("admin_permissions", "delete", "requests")]


# --- apply ----------------------------------------------------------------------------------


def admin_with(**found: list[dict[str, Any]]) -> FakeAdmin:
    """A fake admin API with the realm's admin-permissions client (ap-1); ``found``: the
    policy and the permission the name searches find."""
    return FakeAdmin(
        {
            "/demo/clients": [{"id": "ap-1", "clientId": "admin-permissions"}],
            f"{AUTHZ}/policy": found.get("policy", []),
            f"{AUTHZ}/permission": found.get("permission", []),
        }
    )


def test_apply_creates_the_client_policy_then_the_scope_permission() -> None:
    admin = admin_with()
    Applier(admin, desired(want())).run(Change("admin_permissions", "create", "requests"))
    assert admin.writes() == [
        (
            "POST",
            f"{AUTHZ}/policy/client",
            {
                "name": "requests: clients",
                "clients": ["client-jupyterhub-accounts"],
                "logic": "POSITIVE",
            },
        ),
        (
            "POST",
            f"{AUTHZ}/permission/scope",
            {
                "name": "requests",
                "description": "Access requests",
                "resourceType": "Groups",
                "resources": ["group-hub-requests", "group-hub-users"],
                "scopes": ["manage-members", "view"],
                "policies": ["new-1"],
                "decisionStrategy": "UNANIMOUS",
            },
        ),
    ]


def test_apply_updates_the_policy_and_the_permission_in_place() -> None:
    admin = admin_with(
        policy=[{"id": "pol-9", "name": "requests: clients"}],
        permission=[{"id": "p-1", "name": "requests"}],
    )
    Applier(admin, desired(want())).run(Change("admin_permissions", "update", "requests"))
    writes = admin.writes()
    assert [(m, p) for m, p, _ in writes] == [
        ("PUT", f"{AUTHZ}/policy/client/pol-9"),
        ("PUT", f"{AUTHZ}/permission/scope/p-1"),
    ]
    assert writes[0][2]["id"] == "pol-9"
    assert writes[0][2]["clients"] == ["client-jupyterhub-accounts"]
    assert writes[1][2]["id"] == "p-1"
    assert writes[1][2]["policies"] == ["pol-9"]


def test_apply_searches_the_policy_and_the_permission_by_exact_name() -> None:
    admin = admin_with(
        policy=[{"id": "pol-0", "name": "requests: clients (old)"}],
        permission=[{"id": "p-0", "name": "requests-old"}],
    )
    Applier(admin, desired(want())).run(Change("admin_permissions", "create", "requests"))
    assert [(m, p) for m, p, _ in admin.writes()] == [
        ("POST", f"{AUTHZ}/policy/client"),
        ("POST", f"{AUTHZ}/permission/scope"),
    ]


def test_apply_deletes_the_permission_and_its_policy() -> None:
    admin = admin_with(
        policy=[{"id": "pol-9", "name": "requests: clients"}],
        permission=[{"id": "p-1", "name": "requests"}],
    )
    Applier(admin, desired()).run(Change("admin_permissions", "delete", "requests"))
    assert admin.writes() == [
        ("DELETE", f"{AUTHZ}/policy/p-1", None),
        ("DELETE", f"{AUTHZ}/policy/pol-9", None),
    ]


def test_apply_without_the_admin_permissions_client_says_to_enable_them() -> None:
    from idpctl.admin import AdminError

    admin = FakeAdmin()
    with pytest.raises(AdminError, match="adminPermissionsEnabled: true"):
        Applier(admin, desired(want())).run(Change("admin_permissions", "create", "requests"))
    assert admin.writes() == []


def test_apply_adds_permissions_after_the_clients_and_groups_they_name() -> None:
    d = desired(want())
    d.clients["jupyterhub-accounts"] = {
        "clientId": "jupyterhub-accounts",
        "serviceAccountsEnabled": True,
        "_protocolMappers": [],
        "_defaultScopes": None,
        "_optionalScopes": None,
        "_file": "f",
    }
    for group in ("hub-requests", "hub-users"):
        d.groups[group] = {"name": group, "_roles": [], "_file": "f"}
    admin = admin_with()
    admin.answers["/demo"] = {}
    apply_all(d, Live(exists=False), admin)
    permission = first(admin.calls, "POST", f"{AUTHZ}/policy/client")
    assert first(admin.calls, "POST", "/demo/clients") < permission
    assert first(admin.calls, "POST", "/demo/groups") < permission
    assert first(admin.calls, "POST", "") < permission


# --- live -----------------------------------------------------------------------------------


def test_live_reads_a_permission_in_the_shape_of_a_file() -> None:
    pid = f"{AUTHZ}/policy/p-1"
    admin = FakeAdmin(
        {
            "/demo/clients": [{"id": "ap-1", "clientId": "admin-permissions"}],
            f"{AUTHZ}/policy": [{"id": "pol-9", "name": "requests: clients"}],
            f"{AUTHZ}/permission": [
                {"id": "p-1", "name": "requests", "type": "scope", "resourceType": "Groups"},
                {"id": "p-2", "name": "a resource permission", "type": "resource"},
            ],
            f"{pid}/resources": [{"name": "g-2"}, {"name": "g-1"}, {"name": "Groups"}],
            f"{pid}/scopes": [{"name": "view"}, {"name": "manage-members"}],
            f"{pid}/associatedPolicies": [{"name": "requests: clients"}],
            f"{AUTHZ}/policy/client/pol-9": {"clients": ["c-1"]},
        }
    )
    state = Live(exists=True, settings={"adminPermissionsEnabled": True})
    state.groups = {"hub-requests": {"id": "g-1"}, "hub-users": {"id": "g-2"}}
    state.clients = {"jupyterhub-accounts": {"id": "c-1"}}
    fetch_admin_permissions(admin, "demo", state)
    assert state.admin_permissions == {
        "requests": {
            "id": "p-1",
            "name": "requests",
            "description": "",
            "resourceType": "Groups",
            "_resources": ["hub-requests", "hub-users"],
            "_scopes": ["manage-members", "view"],
            "_clients": ["jupyterhub-accounts"],
            "_policies": ["requests: clients"],
        }
    }


def test_live_reads_no_permissions_where_they_are_not_enabled() -> None:
    admin = FakeAdmin({"/demo/clients": [{"id": "ap-1", "clientId": "admin-permissions"}]})
    state = Live(exists=True, settings={"adminPermissionsEnabled": False})
    fetch_admin_permissions(admin, "demo", state)
    assert admin.calls == []
    assert state.admin_permissions == {}


# --- the demo realm -------------------------------------------------------------------------


def test_the_demo_accounts_client_may_manage_membership_of_the_hub_groups(idp: Path) -> None:
    (demo,) = cli.load(idp, ["demo"], VARIABLES)
    assert str(demo.settings["adminPermissionsEnabled"]).lower() == "true"
    (permission,) = demo.admin_permissions.values()
    assert permission["resourceType"] == "Groups"
    assert permission["_resources"] == ["hub-requests", "hub-users"]
    assert permission["_clients"] == ["jupyterhub-accounts"]
    assert permission["_scopes"] == DEMO_SCOPES  # exactly these: no manage, no impersonate
    client = demo.clients["jupyterhub-accounts"]
    assert client["serviceAccountsEnabled"] is True
    for flow in ("standardFlowEnabled", "implicitFlowEnabled", "directAccessGrantsEnabled"):
        assert client[flow] is False, flow
