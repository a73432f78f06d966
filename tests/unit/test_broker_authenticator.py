"""KeycloakAuthenticator: defaults from stackconf (one table); the policy from the registry."""

import asyncio
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from hubbroker import KeycloakAuthenticator
from hubbroker.cache import Minted
from hubbroker.grant_tokens import ENDED_BY_BLOCK, ENDED_BY_DELETION
from stackconf import settings
from tests.support.hub_config import load_hub_config

REGISTRY = str(settings.REPO / "idp" / "apis.yml")
HUB_VARIABLES = [
    "KEYCLOAK_PUBLIC_URL",
    "KEYCLOAK_INTERNAL_URL",
    "KEYCLOAK_REALM",
    "HUB_PUBLIC_URL",
    "PUBLIC_PORT",
    "JUPYTERHUB_CLIENT_ID",
    "JUPYTERHUB_CLIENT_SECRET",
    "HUB_ALLOWED_GROUPS",
    "HUB_ADMIN_GROUPS",
    "IDP_DIR",
    "IDP_API_REGISTRY",
    "TOKEN_CACHE_MARGIN",
    "TOKEN_REFRESH_MARGIN",
    "TOKEN_EXCHANGE_MAX_BODY",
    "TOKEN_EXCHANGE_MAX_SCOPES",
    "TOKEN_EXCHANGE_MAX_NAME_LENGTH",
    "TOKEN_EXCHANGE_RATE",
    "TOKEN_EXCHANGE_BURST",
]


@pytest.fixture(autouse=True)
def env(monkeypatch):
    for name in HUB_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDP_API_REGISTRY", REGISTRY)
    return monkeypatch


def test_defaults_come_from_the_settings_table():
    a = KeycloakAuthenticator()
    assert (
        a.keycloak_url == settings.get("KEYCLOAK_PUBLIC_URL") == "http://auth.localhost:8000/auth"
    )
    assert a.keycloak_backchannel_url == a.keycloak_url
    assert a.realm == "demo"
    assert (a.client_id, a.client_secret) == ("jupyterhub", "")
    assert a.allowed_groups == {"hub-users"}
    assert a.admin_groups == set()  # nobody gets JupyterHub's unrestricted admin role
    assert a.cache_margin == 30.0
    assert a.refresh_margin == 60.0
    assert (
        a.token_url == "http://auth.localhost:8000/auth/realms/demo/protocol/openid-connect/token"
    )
    assert a.broker.cache.margin == 30.0 and a.broker.refresh_margin == 60.0
    assert (a.max_request_body, a.max_scopes, a.max_name_length) == (4096, 20, 128)
    assert (a.broker.limits.max_body, a.broker.limits.max_scopes) == (4096, 20)
    assert a.broker.limits.max_name_length == 128
    assert (a.broker.rate_limiter.per_minute, a.broker.rate_limiter.burst) == (60, 20)


def test_the_environment_overrides_through_the_same_table(env):
    env.setenv("KEYCLOAK_PUBLIC_URL", "https://id.example.org/auth/")
    env.setenv("KEYCLOAK_INTERNAL_URL", "http://keycloak:8080/auth")
    env.setenv("KEYCLOAK_REALM", "research")
    env.setenv("JUPYTERHUB_CLIENT_ID", "research-hub")
    env.setenv("JUPYTERHUB_CLIENT_SECRET", "s3cret")
    env.setenv("HUB_ALLOWED_GROUPS", "researchers, hub-users")
    env.setenv("HUB_ADMIN_GROUPS", "research-admins")
    env.setenv("TOKEN_CACHE_MARGIN", "10")
    env.setenv("TOKEN_REFRESH_MARGIN", "298")
    env.setenv("TOKEN_EXCHANGE_MAX_BODY", "2048")
    env.setenv("TOKEN_EXCHANGE_MAX_SCOPES", "5")
    env.setenv("TOKEN_EXCHANGE_MAX_NAME_LENGTH", "64")
    env.setenv("TOKEN_EXCHANGE_RATE", "30")
    env.setenv("TOKEN_EXCHANGE_BURST", "4")
    a = KeycloakAuthenticator()
    assert a.keycloak_url == "https://id.example.org/auth"
    assert a.keycloak_backchannel_url == "http://keycloak:8080/auth"
    assert a.authorize_url.startswith("https://id.example.org/auth/realms/research/")
    assert a.token_url.startswith("http://keycloak:8080/auth/realms/research/")
    assert (a.realm, a.client_id, a.client_secret) == ("research", "research-hub", "s3cret")
    assert a.allowed_groups == {"researchers", "hub-users"}
    assert a.admin_groups == set()  # HUB_ADMIN_GROUPS names the hub-admin role's groups
    assert "hub-users,researchers" in a.custom_403_message
    assert (a.cache_margin, a.refresh_margin) == (10.0, 298.0)
    limits = a.broker.limits
    assert (limits.max_body, limits.max_scopes, limits.max_name_length) == (2048, 5, 64)
    assert (a.broker.rate_limiter.per_minute, a.broker.rate_limiter.burst) == (30, 4)
    assert set(a.load_policy().apis) == {"research-api"}


def test_the_back_channel_follows_a_configured_public_url():
    a = KeycloakAuthenticator(keycloak_url="https://kc.example.org/auth")
    assert a.keycloak_backchannel_url == "https://kc.example.org/auth"


def test_the_403_message_names_the_allowed_groups():
    assert "(it is not in group hub-users)" in KeycloakAuthenticator().custom_403_message
    a = KeycloakAuthenticator(manage_groups=True, allowed_groups={"b", "a"})
    assert "(it is not in group a,b)" in a.custom_403_message


def test_the_policy_is_this_realms_apis_in_the_registry():
    policy = KeycloakAuthenticator().load_policy()
    assert set(policy.apis) == {"fruit-api"}
    assert set(policy.apis["fruit-api"].scopes) == {"fruits:read", "fruits:write", "fruits:exotic"}


def test_an_unreadable_registry_fails_with_the_variable_to_set(env, tmp_path):
    env.setenv("IDP_API_REGISTRY", str(tmp_path / "missing.yml"))
    with pytest.raises(ValueError, match="set IDP_API_REGISTRY"):
        KeycloakAuthenticator()


def test_the_registry_default_is_under_idp_dir(env):
    env.delenv("IDP_API_REGISTRY")
    env.setenv("IDP_DIR", str(settings.REPO / "idp"))
    assert KeycloakAuthenticator().api_registry == REGISTRY


def test_the_hub_config_does_not_repeat_what_the_authenticator_reads():
    c = load_hub_config()
    configured = set(c.KeycloakAuthenticator)
    owned = {
        "keycloak_url",
        "keycloak_backchannel_url",
        "realm",
        "client_id",
        "client_secret",
        "allowed_groups",
        "custom_403_message",
        "api_registry",
        "cache_margin",
        "refresh_margin",
        "max_request_body",
        "max_scopes",
        "max_name_length",
        "mint_rate",
        "mint_burst",
    }
    assert not configured & owned
    assert c.JupyterHub.authenticator_class == "hubbroker.KeycloakAuthenticator"
    assert c.KeycloakAuthenticator.manage_groups is True


def test_the_hub_config_reads_the_environment_through_stackconf(env):
    env.setenv("HUB_STATE_DIR", "/srv/state")
    env.setenv("HUB_IDLE_TIMEOUT", "60")
    env.setenv("TRAEFIK_SETUP_API_ROUTER", "false")
    env.delenv("HUB_DB_URL", raising=False)
    c = load_hub_config()
    assert c.JupyterHub.db_url == "sqlite:////srv/state/jupyterhub.sqlite"
    assert "--timeout=60" in c.JupyterHub.services[0]["command"]
    assert c.TraefikFileProviderProxy.enable_setup_dynamic_config is False


def test_no_environment_read_with_its_own_default_in_the_hub_or_the_broker():
    sources = [settings.REPO / "hub" / "jupyterhub_config.py"]
    sources += sorted((settings.REPO / "src" / "hubbroker").glob("*.py"))
    assert len(sources) > 10
    for path in sources:
        text = path.read_text()
        for call in ("os.environ.get(", "os.getenv(", "environ["):
            assert call not in text, f"{path}: {call} (read settings through stackconf)"


def test_hub_admins_get_a_role_that_cannot_act_as_another_user(env):
    env.setenv("HUB_ADMIN_GROUPS", "research-admins")
    roles = {role["name"]: role for role in load_hub_config().JupyterHub.load_roles}
    admin = roles["hub-admin"]
    assert admin["groups"] == ["research-admins"]
    assert "admin-ui" in admin["scopes"]
    # Neither the users' refresh tokens, nor their tokens, nor their servers' content:
    forbidden = {"admin:users", "admin:auth_state", "tokens", "access:servers", "admin:servers"}
    assert not forbidden & set(admin["scopes"])
    assert not any(
        scope.startswith(("admin:", "custom:token-exchange")) for scope in admin["scopes"]
    )
    assert "custom:access-requests" in admin["scopes"]  # accounts in Keycloak, not as a user
    assert "admin" not in roles  # JupyterHub's built-in admin role is given to nobody


async def test_groups_are_matched_by_path():
    """A subgroup named like a top-level group (/lab/hub-admins) is not that group."""
    a = KeycloakAuthenticator(manage_groups=True, auth_state_groups_key="oauth_user.groups")
    state = {"oauth_user": {"groups": ["/hub-users", "/lab/hub-admins", "/fruit-readers"]}}
    assert await a.get_user_groups(state) == {"hub-users", "lab/hub-admins", "fruit-readers"}


def test_admins_open_users_servers_only_when_opted_in(env):
    def admin_scopes() -> set[str]:
        roles = {role["name"]: role for role in load_hub_config().JupyterHub.load_roles}
        return set(roles["hub-admin"]["scopes"])

    assert "access:servers" not in admin_scopes()
    env.setenv("HUB_ADMIN_ACCESS_SERVERS", "true")
    assert "access:servers" in admin_scopes()
    assert "admin:auth_state" not in admin_scopes()  # still never the refresh tokens


def test_deleting_a_hub_user_revokes_what_the_broker_cached_for_that_name():
    """A hub user deleted, then one of the same name created (another Keycloak account,
    maybe): the broker must not serve the deleted one's cached tokens to the new one."""
    a = KeycloakAuthenticator()
    broker = a.broker
    key = ("alice", "default", "fruit-api", ("fruits:read",))
    broker.cache.put(key, Minted("token-of-the-old-alice", 2**40, "fruits:read", "fruit-api"))
    asyncio.run(a.delete_user(SimpleNamespace(name="alice", db=None)))
    assert broker.cache.get(key, broker.epoch("alice")) is None
    assert broker.epoch("alice") == 1


def test_deleting_or_blocking_a_hub_user_ends_their_job_grants():
    """Job grants outlive a logout, not a deletion or a block (Access requests page)."""
    a = KeycloakAuthenticator(job_grants_client_secret="s")
    ended = []

    async def end_all(store, username, reason):
        ended.append((type(store).__name__, username, reason))
        return 1

    a.__dict__["grant_tokens"] = SimpleNamespace(end_all=end_all)
    db = Session(create_engine("sqlite://"))
    asyncio.run(a.delete_user(SimpleNamespace(name="alice", db=db)))
    assert ended == [("GrantStore", "alice", ENDED_BY_DELETION)]
    ended.clear()

    async def auth_state():
        return {}

    async def save(state):
        pass

    bob = SimpleNamespace(
        name="bob",
        get_auth_state=auth_state,
        save_auth_state=save,
        spawners={},
        orm_user=SimpleNamespace(api_tokens=[]),
    )
    asyncio.run(a.end_in_hub(bob, db))  # what blocking on the Access requests page does
    assert ended == [("GrantStore", "bob", ENDED_BY_BLOCK)]


def test_keycloak_calls_are_not_queued_ten_at_a_time():
    """OAuthenticator's refreshes and the broker's exchanges may each have 100 requests to
    Keycloak in flight (tornado's shared client allows 10: a herd of refreshes queued)."""
    a = KeycloakAuthenticator()
    assert a.http_client.max_clients == 100
    assert a.http_client is not KeycloakAuthenticator().http_client


SETTING_TRAITS = {
    "realm": "KEYCLOAK_REALM",
    "keycloak_timeout": "KEYCLOAK_TIMEOUT_SECONDS",
    "pending_group": "HUB_PENDING_GROUP",
    "exchange_client_id": "TOKEN_EXCHANGE_CLIENT_ID",
    "exchange_client_secret": "TOKEN_EXCHANGE_CLIENT_SECRET",
    "api_registry": "IDP_API_REGISTRY",
    "cache_margin": "TOKEN_CACHE_MARGIN",
    "refresh_margin": "TOKEN_REFRESH_MARGIN",
    "check_caller_address": "TOKEN_EXCHANGE_CHECK_ADDRESS",
    "max_request_body": "TOKEN_EXCHANGE_MAX_BODY",
    "max_scopes": "TOKEN_EXCHANGE_MAX_SCOPES",
    "max_name_length": "TOKEN_EXCHANGE_MAX_NAME_LENGTH",
    "mint_rate": "TOKEN_EXCHANGE_RATE",
    "mint_burst": "TOKEN_EXCHANGE_BURST",
    "accounts_client_id": "ACCOUNTS_CLIENT_ID",
    "accounts_client_secret": "ACCOUNTS_CLIENT_SECRET",
}


@pytest.mark.parametrize(("trait", "name"), sorted(SETTING_TRAITS.items()))
def test_setting_traits_take_help_and_default_from_the_table(env, trait, name):
    variable = settings.VARIABLES[name]
    definition = KeycloakAuthenticator.class_traits()[trait]
    assert definition.metadata["config"] is True
    assert definition.help.startswith(variable.help[:1].upper() + variable.help[1:])
    assert definition.help.endswith(f"Env: {name}.")
    env.setenv("TOKEN_EXCHANGE_CLIENT_SECRET", "x")  # keep every trait readable below
    value = getattr(KeycloakAuthenticator(), trait)
    raw = settings.get(name)
    assert value == {bool: lambda v: settings.get_bool(name)}.get(type(value), type(value))(raw)


def test_a_config_file_value_wins_over_the_environment(env):
    env.setenv("TOKEN_EXCHANGE_RATE", "30")
    assert KeycloakAuthenticator().mint_rate == 30
    assert KeycloakAuthenticator(mint_rate=7).mint_rate == 7


def test_the_access_requests_page_approves_into_a_configured_allowed_group(env):
    # Set in a config file (HUB_ALLOWED_GROUPS still says hub-users): the page follows the file.
    env.setenv("HUB_ALLOWED_GROUPS", "hub-users")
    a = KeycloakAuthenticator(
        manage_groups=True, allowed_groups={"team"}, accounts_client_secret="s"
    )
    assert a.access_requests["allowed_group"] == "team"
    assert a.access_requests["pending_group"] == "hub-requests"


def test_the_approval_group_keeps_the_order_of_hub_allowed_groups(env):
    env.setenv("HUB_ALLOWED_GROUPS", "zeta, alpha")
    assert KeycloakAuthenticator().approval_group == "zeta"
    two = KeycloakAuthenticator(manage_groups=True, allowed_groups={"beta", "alpha"})
    assert two.approval_group == "alpha"


def test_an_approval_group_outside_the_allowed_groups_is_refused(env):
    a = KeycloakAuthenticator(approval_group="elsewhere", accounts_client_secret="s")
    with pytest.raises(ValueError, match="approval_group 'elsewhere' is not one of allowed_groups"):
        a.access_requests  # noqa: B018


def test_the_job_grants_page_is_served_only_with_its_clients_secret(env):
    def routes(a):
        return [pattern for pattern, *_ in a.get_handlers(None)]

    env.delenv("JOB_GRANTS_CLIENT_SECRET", raising=False)
    assert "/grants" not in routes(KeycloakAuthenticator())
    env.setenv("JOB_GRANTS_CLIENT_SECRET", "s3cret")
    a = KeycloakAuthenticator(
        keycloak_url="https://kc.example.org/auth",
        oauth_callback_url="https://hub.example.org/research/hub/oauth_callback",
    )
    assert {"/grants", "/grants/callback"} <= set(routes(a))
    flow = a.grant_flow
    assert flow.redirect_uri == "https://hub.example.org/research/hub/grants/callback"
    assert (
        flow.authorize_url == "https://kc.example.org/auth/realms/demo/protocol/openid-connect/auth"
    )
    assert flow.revoke_url.endswith("/realms/demo/protocol/openid-connect/revoke")
    assert flow.client_secret == "s3cret"
