"""idpctl: the real idp/ folder loads, and the objects derived from idp/apis.yml are right."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apiregistry.registry import broker_policy, load_registry
from idpctl import cli
from idpctl.model import Desired

IDP = Path(__file__).resolve().parents[2] / "idp"
FRUIT_SCOPES = {"fruits:read", "fruits:write", "fruits:exotic"}
GATES = {
    "fruits:read": "fruit-reader",
    "fruits:write": "fruit-writer",
    "fruits:exotic": "fruit-exotic",
}
VARIABLES = {
    "JUPYTERHUB_CLIENT_SECRET": "hub-secret-x",
    "HUB_PUBLIC_URL": "http://localhost:8000",
    "DEMO_PASSWORD_READER": "pw-reader-1A",
    "DEMO_PASSWORD_CURATOR": "pw-curator-1A",
    "DEMO_PASSWORD_VISITOR": "pw-visitor-1A",
    "DEMO_PASSWORD_HUBADMIN": "pw-hubadmin-1A",
}


@pytest.fixture
def demo(tmp_path: Path) -> Desired:
    idp = tmp_path / "idp"
    shutil.copytree(IDP, idp)
    (desired,) = cli.load(idp, ["demo"], VARIABLES)
    return desired


def test_the_real_idp_folder_validates(tmp_path: Path) -> None:
    idp = tmp_path / "idp"
    shutil.copytree(IDP, idp)
    lines: list[str] = []
    assert cli.run("validate", idp, ["demo"], VARIABLES, out=lines.append) == 0
    assert lines == ["idp/ is valid: realms demo."]


def test_realm_settings_come_from_realm_yml(demo: Desired) -> None:
    assert demo.realm == "demo"
    assert demo.settings["realm"] == "demo"
    assert demo.settings["displayName"] == "Fruit demo"
    assert demo.settings["accessTokenLifespan"] == 300


def test_api_client_is_bearer_only_with_no_flows(demo: Desired) -> None:
    api = demo.clients["fruit-api"]
    assert api["bearerOnly"] is True
    assert api["publicClient"] is False
    for flow in (
        "standardFlowEnabled",
        "implicitFlowEnabled",
        "directAccessGrantsEnabled",
        "serviceAccountsEnabled",
        "fullScopeAllowed",
    ):
        assert api[flow] is False, flow
    assert api["_defaultScopes"] == []
    assert api["_optionalScopes"] == []
    assert api["_protocolMappers"] == []
    assert "secret" not in api


def test_each_fruit_scope_has_one_audience_mapper_and_its_gate_role(demo: Desired) -> None:
    assert FRUIT_SCOPES <= set(demo.client_scopes)
    for name, role in GATES.items():
        scope = demo.client_scopes[name]
        assert scope["protocol"] == "openid-connect"
        assert scope["attributes"]["include.in.token.scope"] == "true"
        (mapper,) = scope["_protocolMappers"]
        assert mapper["protocolMapper"] == "oidc-audience-mapper"
        assert mapper["config"]["included.client.audience"] == "fruit-api"
        assert mapper["config"]["access.token.claim"] == "true"
        assert scope["_roles"] == [role]


def test_gate_roles_exist(demo: Desired) -> None:
    assert set(GATES.values()) <= set(demo.roles)
    for role in GATES.values():
        assert demo.roles[role]["name"] == role


def test_groups_get_the_roles_of_their_scopes(demo: Desired) -> None:
    assert sorted(demo.groups["fruit-curators"]["_roles"]) == sorted(GATES.values())
    assert demo.groups["fruit-readers"]["_roles"] == ["fruit-reader"]
    assert demo.groups["hub-users"]["_roles"] == []
    assert demo.groups["hub-admins"]["_roles"] == []


def test_requester_gets_exactly_the_fruit_scopes_as_optional(demo: Desired) -> None:
    hub = demo.clients["jupyterhub"]
    assert sorted(hub["_optionalScopes"]) == sorted(FRUIT_SCOPES)
    assert len(hub["_optionalScopes"]) == 3
    assert set(hub["_defaultScopes"]) == {
        "basic",
        "profile",
        "email",
        "roles",
        "web-origins",
        "acr",
    }
    assert [m["name"] for m in hub["_protocolMappers"]] == ["groups"]
    assert "optionalClientScopes" not in hub
    assert "protocolMappers" not in hub


def test_placeholders_are_substituted(demo: Desired) -> None:
    hub = demo.clients["jupyterhub"]
    assert hub["secret"] == "hub-secret-x"
    assert hub["rootUrl"] == "http://localhost:8000"
    assert hub["redirectUris"] == ["http://localhost:8000/hub/oauth_callback"]
    assert hub["attributes"]["post.logout.redirect.uris"] == "http://localhost:8000/*"
    for user, var in [
        ("reader", "DEMO_PASSWORD_READER"),
        ("curator", "DEMO_PASSWORD_CURATOR"),
        ("visitor", "DEMO_PASSWORD_VISITOR"),
        ("hubadmin", "DEMO_PASSWORD_HUBADMIN"),
    ]:
        (cred,) = demo.users[user]["credentials"]
        assert cred == {"type": "password", "value": VARIABLES[var], "temporary": False}
    assert "${" not in repr(demo)


def test_users_groups_are_read(demo: Desired) -> None:
    assert demo.users["curator"]["_groups"] == ["hub-users", "fruit-curators"]
    assert demo.users["visitor"]["_groups"] == []
    assert "groups" not in demo.users["reader"]


def test_broker_policy_has_the_brokers_format() -> None:
    apis = load_registry(IDP / "apis.yml")
    policy = broker_policy(apis, "demo")
    assert set(policy) == {"fruit-api"}
    assert policy["fruit-api"]["description"].startswith("The sample fruit API")
    scopes = policy["fruit-api"]["scopes"]
    assert set(scopes) == FRUIT_SCOPES
    assert scopes["fruits:read"] == {
        "description": "Read the usual fruit list",
        "role": "fruit-reader",
    }
    assert {name: s["role"] for name, s in scopes.items()} == GATES


def test_broker_policy_is_empty_for_a_realm_without_apis() -> None:
    apis = load_registry(IDP / "apis.yml")
    assert broker_policy(apis, "other") == {}
    assert broker_policy({}, "demo") == {}
