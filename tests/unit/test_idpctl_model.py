"""idpctl: the real idp/ folder loads, and the objects derived from idp/apis.yml are right."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from apiregistry import apis_of_realm, load_registry
from idpctl import cli
from idpctl.model import Desired
from idpctl.templates import deep_merge, fill
from tests.support.idp_files import IDP
from tests.support.idp_files import IDP_VARIABLES as VARIABLES

FRUIT_SCOPES = {"fruits:read", "fruits:write", "fruits:exotic"}
GATES = {
    "fruits:read": "fruit-reader",
    "fruits:write": "fruit-writer",
    "fruits:exotic": "fruit-exotic",
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
        assert mapper["config"]["lightweight.claim"] == "true"
        assert scope["_roles"] == [role]


def test_gate_roles_exist(demo: Desired) -> None:
    assert set(GATES.values()) <= set(demo.roles)
    for role in GATES.values():
        assert demo.roles[role]["name"] == role


def test_groups_get_the_roles_of_their_scopes(demo: Desired) -> None:
    assert sorted(demo.groups["fruit-curators"]["_roles"]) == sorted(GATES.values())
    assert demo.groups["fruit-readers"]["_roles"] == ["fruit-reader"]
    assert demo.groups["hub-users"]["_roles"] == []
    assert demo.groups["hub-admins"]["_roles"] == ["hub-admin"]  # its logins need a TOTP code
    assert demo.groups["hub-requests"]["_roles"] == []


def test_requester_gets_exactly_the_fruit_scopes_as_optional(demo: Desired) -> None:
    exchange = demo.clients["jupyterhub-exchange"]
    assert sorted(exchange["_optionalScopes"]) == sorted(FRUIT_SCOPES)
    assert len(exchange["_optionalScopes"]) == 3
    # Nothing about the user but the subject: no profile, e-mail, roles, groups or origins.
    assert exchange["_defaultScopes"] == ["basic"]
    assert exchange["_protocolMappers"] in (None, [])
    assert exchange["fullScopeAllowed"] is False
    assert exchange["standardFlowEnabled"] is False
    assert exchange["attributes"]["standard.token.exchange.enabled"] == "true"
    assert exchange["attributes"]["client.use.lightweight.access.token.enabled"] == "true"


def test_the_jobs_client_gets_only_the_scopes_whose_policy_allows_jobs(demo: Desired) -> None:
    """fruits:exotic has no jobs: policy, so no job grant can hold it: Keycloak itself refuses
    it to the job-grants client. Its offline bound is the longest max_days (fruits:read, 7)."""
    jobs = demo.clients["jupyterhub-jobs"]
    assert sorted(jobs["_optionalScopes"]) == ["fruits:read", "fruits:write", "offline_access"]
    assert jobs["_defaultScopes"] == ["basic"]
    assert jobs["consentRequired"] is True
    assert jobs["fullScopeAllowed"] is False
    assert jobs["directAccessGrantsEnabled"] is False
    assert "standard.token.exchange.enabled" not in jobs["attributes"]
    assert jobs["attributes"]["client.offline.session.max.lifespan"] == str(7 * 86400)
    assert jobs["redirectUris"] == ["http://localhost:8000/hub/grants/callback"]


def test_api_scopes_are_shown_on_the_consent_screen_with_their_description(
    demo: Desired,
) -> None:
    read = demo.client_scopes["fruits:read"]["attributes"]
    assert read["display.on.consent.screen"] == "true"
    assert read["consent.screen.text"] == "Read the usual fruit list"


def test_the_login_client_does_not_exchange(demo: Desired) -> None:
    hub = demo.clients["jupyterhub"]
    assert hub["_optionalScopes"] == []
    assert set(hub["_defaultScopes"]) == {
        "basic",
        "profile",
        "email",
        "roles",
        "web-origins",
        "acr",
    }
    assert [m["name"] for m in hub["_protocolMappers"]] == ["token-exchange-audience", "groups"]
    audience = hub["_protocolMappers"][0]["config"]["included.client.audience"]
    assert audience == "jupyterhub-exchange"
    assert "standard.token.exchange.enabled" not in hub["attributes"]
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
        cred = demo.users[user]["credentials"][0]
        assert cred == {"type": "password", "value": VARIABLES[var], "temporary": False}
    otp = demo.users["hubadmin"]["credentials"][1]
    assert otp["type"] == "otp"
    assert otp["secretData"] == '{"value":"' + VARIABLES["DEMO_TOTP_HUBADMIN"] + '"}'
    assert "${" not in repr(demo)


def test_users_groups_are_read(demo: Desired) -> None:
    assert demo.users["curator"]["_groups"] == ["hub-users", "fruit-curators"]
    assert demo.users["visitor"]["_groups"] == []
    assert "groups" not in demo.users["reader"]


def test_apis_of_realm_are_the_brokers_allowlist() -> None:
    apis = load_registry(IDP / "apis.yml")
    demo = apis_of_realm(apis, "demo")
    assert set(demo) == {"fruit-api"}
    assert demo["fruit-api"].description.startswith("The sample fruit API")
    scopes = demo["fruit-api"].scopes
    assert set(scopes) == FRUIT_SCOPES
    assert scopes["fruits:read"].description == "Read the usual fruit list"
    assert {name: s.role for name, s in scopes.items()} == GATES
    assert {name: (s.jobs.allowed, s.jobs.max_days) for name, s in scopes.items()} == {
        "fruits:read": (True, 7),
        "fruits:write": (True, 1),
        "fruits:exotic": (False, 0),
    }
    assert set(demo["fruit-api"].job_scopes) == {"fruits:read", "fruits:write"}
    assert apis_of_realm(apis, "other") == {}
    assert apis_of_realm({}, "demo") == {}


# --- client templates (idp/templates/clients/) ------------------------------------------

#: idp/realms/demo/clients/jupyterhub.yml as it was before it named the jupyterhub-hub
#: template: the demo hub's client must stay exactly this.
DEMO_HUB_CLIENT_BEFORE_TEMPLATES = """\
clientId: jupyterhub
name: JupyterHub
description: Logs users in to the hub and exchanges their token for per-API tokens
enabled: true
protocol: openid-connect
publicClient: false
clientAuthenticatorType: client-secret
secret: ${JUPYTERHUB_CLIENT_SECRET}
standardFlowEnabled: true
implicitFlowEnabled: false
directAccessGrantsEnabled: false
serviceAccountsEnabled: false
frontchannelLogout: true
fullScopeAllowed: true
rootUrl: ${HUB_PUBLIC_URL}
redirectUris:
- ${HUB_PUBLIC_URL}/hub/oauth_callback
webOrigins:
- +
attributes:
  pkce.code.challenge.method: S256
  post.logout.redirect.uris: ${HUB_PUBLIC_URL}/*
  standard.token.exchange.enabled: 'true'
  standard.token.exchange.enableRefreshRequestedTokenType: 'NO'
  access.token.lifespan: '300'
  use.refresh.tokens: 'true'
  client.use.lightweight.access.token.enabled: 'false'
protocolMappers:
- name: groups
  protocol: openid-connect
  protocolMapper: oidc-group-membership-mapper
  consentRequired: false
  config:
    claim.name: groups
    full.path: 'false'
    id.token.claim: 'true'
    access.token.claim: 'true'
    userinfo.token.claim: 'true'
    introspection.token.claim: 'true'
defaultClientScopes:
- basic
- profile
- email
- roles
- web-origins
- acr
"""
EXCHANGE_AUDIENCE_MAPPER = """\
- name: token-exchange-audience
  protocol: openid-connect
  protocolMapper: oidc-audience-mapper
  consentRequired: false
  config:
    included.client.audience: jupyterhub-exchange
    access.token.claim: 'true'
    id.token.claim: 'false'
    introspection.token.claim: 'true'
"""
RESEARCH_VARIABLES = {
    **VARIABLES,
    "RESEARCH_HUB_CLIENT_SECRET": "research-secret-y",
    "RESEARCH_EXCHANGE_CLIENT_SECRET": "research-exchange-secret-y",
    "DEMO_PASSWORD_RESEARCHER": "pw-researcher-1A",
}


def load_one(idp: Path, realm: str, variables: dict[str, str] = RESEARCH_VARIABLES) -> Desired:
    (desired,) = cli.load(idp, [realm], variables)
    return desired


def hub_client_file(idp: Path, realm: str = "demo") -> Path:
    return idp / "realms" / realm / "clients" / "jupyterhub.yml"


def test_the_demo_hub_client_from_the_template_is_the_one_before_templates(
    tmp_path: Path,
) -> None:
    """The whole demo realm, hub client included, is exactly what it was before the
    template: same objects, same fields, same values, even the same key order."""
    idp = tmp_path / "idp"
    shutil.copytree(IDP, idp)
    new = load_one(idp, "demo", VARIABLES)
    # Intended changes since: the groups mapper sends full paths (groups matched by path);
    # the login client no longer exchanges tokens (jupyterhub-exchange does: its tokens name
    # that client as an audience, and it holds no API scope).
    before = (
        DEMO_HUB_CLIENT_BEFORE_TEMPLATES.replace("full.path: 'false'", "full.path: 'true'")
        .replace(" and exchanges their token for per-API tokens", "")
        .replace("  standard.token.exchange.enabled: 'true'\n", "")
        .replace("  standard.token.exchange.enableRefreshRequestedTokenType: 'NO'\n", "")
        .replace("protocolMappers:\n", "protocolMappers:\n" + EXCHANGE_AUDIENCE_MAPPER)
        + "optionalClientScopes: []\n"
    )
    # ... and Keycloak tells the hub when a session ends elsewhere (back-channel logout).
    before = before.replace("frontchannelLogout: true", "frontchannelLogout: false").replace(
        "  post.logout.redirect.uris: ${HUB_PUBLIC_URL}/*\n",
        "  post.logout.redirect.uris: ${HUB_PUBLIC_URL}/*\n"
        "  backchannel.logout.url: http://127.0.0.1:8081/hub/backchannel-logout\n"
        "  backchannel.logout.session.required: 'true'\n"
        "  backchannel.logout.revoke.offline.tokens: 'false'\n",
    )
    hub_client_file(idp).write_text(before)
    old = load_one(idp, "demo", VARIABLES)
    assert new.clients["jupyterhub"] == old.clients["jupyterhub"]
    assert list(new.clients["jupyterhub"]) == list(old.clients["jupyterhub"])
    assert vars(new) == vars(old)


def test_the_research_hub_client_is_the_demo_one_at_research(tmp_path: Path) -> None:
    idp = tmp_path / "idp"
    shutil.copytree(IDP, idp)
    demo_hub = load_one(idp, "demo").clients["jupyterhub"]
    hub = load_one(idp, "research").clients["jupyterhub"]
    assert hub["name"] == "JupyterHub (research)"
    assert hub["secret"] == "research-secret-y"
    assert hub["rootUrl"] == "http://localhost:8000/research"
    assert hub["redirectUris"] == ["http://localhost:8000/research/hub/oauth_callback"]
    assert hub["attributes"]["post.logout.redirect.uris"] == "http://localhost:8000/research/*"
    assert hub["attributes"]["backchannel.logout.url"] == (
        "http://127.0.0.1:8081/research/hub/backchannel-logout"
    )
    # The settings the research copy had lost (the drift this template fixes):
    assert hub["frontchannelLogout"] is False
    assert hub["fullScopeAllowed"] is True
    assert hub["description"] == demo_hub["description"]
    assert hub["attributes"]["use.refresh.tokens"] == "true"
    assert hub["attributes"]["client.use.lightweight.access.token.enabled"] == "false"
    audience, groups = hub["_protocolMappers"]
    assert groups["consentRequired"] is False
    assert groups["config"]["introspection.token.claim"] == "true"
    assert audience["config"]["included.client.audience"] == "jupyterhub-exchange"
    assert hub["_optionalScopes"] == []
    exchange = load_one(idp, "research").clients["jupyterhub-exchange"]
    assert exchange["_optionalScopes"] == ["samples:read"]
    assert exchange["secret"] == "research-exchange-secret-y"
    differ = {"name", "secret", "rootUrl", "redirectUris", "attributes"}
    differ.add("_file")
    assert {k: v for k, v in hub.items() if k not in differ} == {
        k: v for k, v in demo_hub.items() if k not in differ
    }
    per_path = {"post.logout.redirect.uris": "x", "backchannel.logout.url": "y"}
    assert {**hub["attributes"], **per_path} == {**demo_hub["attributes"], **per_path}


def test_a_client_files_own_keys_override_the_template(tmp_path: Path) -> None:
    """Mappings merge key by key; lists and other values replace the template's."""
    idp = tmp_path / "idp"
    shutil.copytree(IDP, idp)
    data = yaml.safe_load(hub_client_file(idp).read_text())
    data.update(
        description="Overridden",
        attributes={"access.token.lifespan": "60", "extra.attribute": "x"},
        redirectUris=["https://other.example/cb"],
        defaultClientScopes=["basic"],
        baseUrl="/hub/home",
    )
    hub_client_file(idp).write_text(yaml.safe_dump(data))
    hub = load_one(idp, "demo").clients["jupyterhub"]
    assert hub["description"] == "Overridden"
    assert hub["baseUrl"] == "/hub/home"
    assert hub["redirectUris"] == ["https://other.example/cb"]
    assert hub["_defaultScopes"] == ["basic"]
    assert hub["attributes"]["access.token.lifespan"] == "60"
    assert hub["attributes"]["extra.attribute"] == "x"
    assert hub["attributes"]["pkce.code.challenge.method"] == "S256"  # kept from the template
    assert hub["attributes"]["use.refresh.tokens"] == "true"
    assert hub["frontchannelLogout"] is False
    assert "template" not in hub and "vars" not in hub


def test_template_variables_take_their_defaults(tmp_path: Path) -> None:
    idp = tmp_path / "idp"
    shutil.copytree(IDP, idp)
    hub_client_file(idp).write_text(
        "template: jupyterhub-hub\nvars: {secret: '${JUPYTERHUB_CLIENT_SECRET}'}\n"
    )
    hub = load_one(idp, "demo").clients["jupyterhub"]
    assert hub["name"] == "JupyterHub"
    assert hub["rootUrl"] == "http://localhost:8000"
    assert hub["secret"] == "hub-secret-x"


def test_any_client_file_may_name_a_template(tmp_path: Path) -> None:
    """A second client from the same template, with its own clientId: templates are generic."""
    idp = tmp_path / "idp"
    shutil.copytree(IDP, idp)
    (idp / "realms/demo/clients/lab-hub.yml").write_text(
        "template: jupyterhub-hub\nclientId: lab-hub\nvars: {name: Lab, path: /lab, secret: s}\n"
    )
    lab = load_one(idp, "demo").clients["lab-hub"]
    assert lab["name"] == "Lab"
    assert lab["rootUrl"] == "http://localhost:8000/lab"
    assert lab["_file"].endswith("lab-hub.yml")
    assert lab["_optionalScopes"] == []  # a login client: it holds no API scope


def test_deep_merge_and_fill() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": "{{v}}", "c": "pre-{{ v }}-post", "d": "{{n}}"}
    filled = fill(base, {"v": "V", "n": 5})
    assert filled == {"a": {"x": 1, "y": [1, 2]}, "b": "V", "c": "pre-V-post", "d": 5}
    assert fill("{{unknown}}", {}) == "{{unknown}}"
    merged = deep_merge(filled, {"a": {"y": [3]}, "e": None})
    assert merged == {**filled, "a": {"x": 1, "y": [3]}, "e": None}
    assert base["a"]["y"] == [1, 2]  # neither input is changed


# --- demo users only where asked for (IDP_DEMO_USERS) --------------------------------------


def test_demo_users_are_applied_only_when_asked(tmp_path: Path) -> None:
    idp = tmp_path / "idp"
    shutil.copytree(IDP, idp)
    asked = load_one(idp, "demo", {**VARIABLES, "IDP_DEMO_USERS": "true"})
    assert {"reader", "curator", "visitor", "hubadmin"} <= set(asked.users)
    not_asked = load_one(idp, "demo", {**VARIABLES, "IDP_DEMO_USERS": "false"})
    assert not_asked.users == {}
    assert not_asked.groups == asked.groups  # everything else is the same


def test_the_playbooks_deploy_no_demo_users_unless_asked() -> None:
    """A deployment made by the Ansible playbooks creates no demo user (known passwords in a
    file on the server) unless its inventory sets stack_demo_users."""
    roles = IDP.parent / "playbooks" / "roles" / "stack"
    defaults = yaml.safe_load((roles / "defaults" / "main.yml").read_text())
    assert defaults["stack_demo_users"] is False
    template = (roles / "templates" / "settings.env.j2").read_text()
    assert "IDP_DEMO_USERS={{ stack_demo_users | bool | lower }}" in template
    compose = yaml.safe_load((IDP.parent / "compose" / "compose.yml").read_text())
    assert compose["services"]["idp"]["environment"]["IDP_DEMO_USERS"] == "${IDP_DEMO_USERS:-true}"
