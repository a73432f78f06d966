"""idpctl plan: comparing desired and live state without Keycloak."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from idpctl.live import Live
from idpctl.model import Desired
from idpctl.plan import Change, compute, same, summary

SECRET = "s3cr3t-value-never-shown"
NEW_SECRET = "n3w-s3cr3t-never-shown"


# --- same() ------------------------------------------------------------------------------


def test_same_dict_is_a_subset_check() -> None:
    assert same({"a": 1}, {"a": 1, "id": "x", "extra": [1, 2]})
    assert same({}, {"anything": 1})
    assert not same({"a": 1}, {"a": 2})
    assert not same({"a": 1}, {})
    assert not same({"a": 1, "b": 2}, {"a": 1})
    assert not same({"a": 1}, None)
    assert not same({"a": 1}, [("a", 1)])
    assert same({"attrs": {"x": "1"}}, {"attrs": {"x": "1", "y": "2"}})
    assert not same({"attrs": {"x": "1"}}, {"attrs": {"x": "2", "y": "2"}})


def test_same_scalar_lists_ignore_order() -> None:
    assert same(["b", "a", "c"], ["a", "b", "c"])
    assert same([], [])
    assert not same(["a", "b"], ["a"])
    assert not same(["a"], ["a", "b"])
    assert not same(["a"], "a")
    assert not same(["a"], None)


def test_same_scalar_lists_are_sets_so_duplicates_do_not_matter() -> None:
    """Keycloak keeps redirectUris, webOrigins, eventsListeners... as sets: a file that
    repeats a value must not show a change on every plan."""
    assert same(["a", "a", "b"], ["b", "a"])


def test_same_lists_of_dicts_are_compared_in_order() -> None:
    want = [{"name": "a"}, {"name": "b"}]
    assert same(want, [{"name": "a", "id": 1}, {"name": "b", "id": 2}])
    assert not same(want, [{"name": "b"}, {"name": "a"}])
    assert not same(want, [{"name": "a"}])
    assert not same(want, [{"name": "a"}, {"name": "b"}, {"name": "c"}])


def test_same_booleans_and_boolean_strings() -> None:
    assert same(True, "true")
    assert same("true", True)
    assert same(False, "false")
    assert same("false", False)
    assert same(True, "True")
    assert not same(True, "false")
    assert not same(False, "true")
    assert not same(True, False)
    assert not same(False, None)
    assert not same(True, None)


def test_same_numbers_and_number_strings() -> None:
    assert same(300, "300")
    assert same("300", 300)
    assert same(300, 300)
    assert not same(300, "301")
    assert not same(300, None)
    assert not same("300", None)
    assert same(None, None)
    assert not same("x", None)


# --- compute() ---------------------------------------------------------------------------


def desired() -> Desired:
    return Desired(
        realm="demo",
        settings={"realm": "demo", "displayName": "Fruit demo", "enabled": True},
        roles={"fruit-reader": {"name": "fruit-reader", "description": "Read", "_file": "f"}},
        client_scopes={
            "fruits:read": {
                "name": "fruits:read",
                "protocol": "openid-connect",
                "_protocolMappers": [{"name": "audience fruit-api", "config": {"a": "true"}}],
                "_roles": ["fruit-reader"],
                "_file": "f",
            }
        },
        clients={
            "jupyterhub": {
                "clientId": "jupyterhub",
                "enabled": True,
                "secret": SECRET,
                "redirectUris": ["http://localhost:8000/hub/oauth_callback"],
                "_protocolMappers": [],
                "_defaultScopes": ["profile", "email"],
                "_optionalScopes": ["fruits:read"],
                "_file": "f",
            }
        },
        groups={
            "fruit-readers": {"name": "fruit-readers", "_roles": ["fruit-reader"], "_file": "f"}
        },
        users={
            "reader": {
                "username": "reader",
                "enabled": True,
                "credentials": [{"type": "password", "value": "pw", "temporary": False}],
                "_groups": ["fruit-readers"],
                "_file": "f",
            }
        },
    )


def live_of(d: Desired, tracked: bool = True) -> Live:
    """What Keycloak would return after applying ``d``: the same objects plus ids."""

    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("_file", "credentials")}
        out["id"] = f"id-{len(str(obj))}"
        return out

    live = Live(exists=True, settings={**d.settings, "id": "demo", "enabled": "true"})
    for kind in ("roles", "client_scopes", "clients", "groups", "users"):
        getattr(live, kind).update({n: strip(o) for n, o in getattr(d, kind).items()})
        if tracked:
            live.managed[kind] = set(getattr(d, kind))
    return live


def test_missing_realm_is_created_with_all_its_objects() -> None:
    d = desired()
    changes = compute(d, Live(exists=False))
    assert changes[0] == Change("realm", "create", "demo")
    assert {(c.kind, c.action, c.name) for c in changes[1:]} == {
        ("roles", "create", "fruit-reader"),
        ("client_scopes", "create", "fruits:read"),
        ("clients", "create", "jupyterhub"),
        ("groups", "create", "fruit-readers"),
        ("users", "create", "reader"),
    }
    assert [c.kind for c in changes[1:]] == [
        "roles",
        "client_scopes",
        "clients",
        "groups",
        "users",
    ]


def test_equal_objects_give_no_changes() -> None:
    d = desired()
    assert compute(d, live_of(d)) == []


def test_a_changed_field_is_an_update_with_a_detail_line() -> None:
    d = desired()
    live = live_of(d)
    live.clients["jupyterhub"]["redirectUris"] = ["http://old/cb"]
    live.settings["displayName"] = "Old name"
    changes = compute(d, live)
    assert changes == [
        Change("realm", "update", "demo", ["displayName: 'Old name' -> 'Fruit demo'"]),
        Change(
            "clients",
            "update",
            "jupyterhub",
            ["redirectUris: ['http://old/cb'] -> ['http://localhost:8000/hub/oauth_callback']"],
        ),
    ]
    assert "~ client jupyterhub" in str(changes[1])
    assert "redirectUris: ['http://old/cb']" in str(changes[1])


def test_an_extra_tracked_live_object_is_deleted() -> None:
    d = desired()
    live = live_of(d)
    live.groups["old-group"] = {"name": "old-group", "_roles": []}
    live.roles["old-role"] = {"name": "old-role"}
    live.managed["groups"].add("old-group")
    live.managed["roles"].add("old-role")
    changes = compute(d, live)
    assert changes == [
        Change("groups", "delete", "old-group"),
        Change("roles", "delete", "old-role"),
    ]
    assert str(changes[0]) == "  - group old-group"


def test_an_extra_untracked_live_object_is_left_alone() -> None:
    d = desired()
    live = live_of(d)
    live.groups["someone-elses"] = {"name": "someone-elses", "_roles": []}
    live.clients["other-app"] = {"clientId": "other-app"}
    assert compute(d, live) == []


def test_a_tracked_name_no_longer_in_keycloak_is_not_deleted() -> None:
    d = desired()
    live = live_of(d)
    live.managed["clients"].add("gone-already")
    assert compute(d, live) == []


def test_tracked_builtins_are_never_deleted() -> None:
    d = desired()
    live = live_of(d)
    live.clients["account"] = {"clientId": "account"}
    live.client_scopes["profile"] = {"name": "profile", "_roles": []}
    live.roles["offline_access"] = {"name": "offline_access"}
    live.managed["clients"].add("account")
    live.managed["client_scopes"].add("profile")
    live.managed["roles"].add("offline_access")
    assert compute(d, live) == []


def test_optional_scope_differences_are_plus_minus_lines() -> None:
    d = desired()
    d.clients["jupyterhub"]["_optionalScopes"] = ["fruits:read", "fruits:write"]
    live = live_of(desired())
    live.clients["jupyterhub"]["_optionalScopes"] = ["fruits:read", "phone", "address"]
    (change,) = compute(d, live)
    assert (change.kind, change.action, change.name) == ("clients", "update", "jupyterhub")
    assert change.details == [
        "optional client scopes: + fruits:write",
        "optional client scopes: - address",
        "optional client scopes: - phone",
    ]


def test_group_role_differences_are_plus_minus_lines() -> None:
    d = desired()
    d.groups["fruit-readers"]["_roles"] = ["fruit-reader", "fruit-writer"]
    live = live_of(desired())
    live.groups["fruit-readers"]["_roles"] = ["fruit-reader", "admin"]
    changes = [c for c in compute(d, live) if c.kind == "groups"]
    assert changes == [
        Change(
            "groups",
            "update",
            "fruit-readers",
            ["realm roles: + fruit-writer", "realm roles: - admin"],
        )
    ]


def test_user_group_and_mapper_differences() -> None:
    d = desired()
    live = live_of(d)
    live.users["reader"]["_groups"] = []
    live.client_scopes["fruits:read"]["_protocolMappers"] = [
        {"name": "audience fruit-api", "config": {"a": "false"}},
        {"name": "stray", "config": {}},
    ]
    changes = compute(d, live)
    assert Change("users", "update", "reader", ["groups: + fruit-readers"]) in changes
    assert (
        Change(
            "client_scopes",
            "update",
            "fruits:read",
            ["protocol mapper: ~ audience fruit-api", "protocol mapper: - stray"],
        )
        in changes
    )


@pytest.mark.parametrize("live_secret", [NEW_SECRET, None])
def test_the_client_secret_never_appears_in_a_detail_line(live_secret: str | None) -> None:
    d = desired()
    live = live_of(d)
    live.clients["jupyterhub"]["secret"] = live_secret
    (change,) = compute(d, live)
    assert change.details == ["secret: (secret) -> (secret)"]
    text = summary("demo", [change])
    assert SECRET not in text
    assert NEW_SECRET not in text


def test_user_credentials_never_produce_an_update() -> None:
    d = desired()
    live = live_of(d)
    assert "credentials" not in live.users["reader"]
    assert compute(d, live) == []
    live.users["reader"]["credentials"] = [{"type": "password", "value": "other"}]
    assert compute(d, live) == []


# --- summary() ---------------------------------------------------------------------------


def test_summary_without_changes() -> None:
    assert summary("demo", []) == "Realm demo: no changes."


def test_summary_lists_changes_and_counts() -> None:
    changes = [
        Change("realm", "create", "demo"),
        Change("roles", "create", "fruit-reader"),
        Change("clients", "update", "jupyterhub", ["enabled: False -> True"]),
        Change("groups", "delete", "old-group"),
    ]
    text = summary("demo", changes)
    lines = text.splitlines()
    assert lines[0] == "Realm demo:"
    assert "  + realm settings demo" in lines
    assert "  + role fruit-reader" in lines
    assert "  ~ client jupyterhub" in lines
    assert "      enabled: False -> True" in lines
    assert "  - group old-group" in lines
    assert lines[-1] == "Plan for demo: 2 to create, 1 to update, 1 to delete."
