"""The broker's allowlist: audiences and scopes (the registry model) and the listing's data."""

import pytest

from apiregistry import ApiSpec, JobsPolicy, ScopeSpec
from hubbroker.errors import BrokerError
from hubbroker.policy import Policy


def api(name, description, scopes):
    specs = {
        s: ScopeSpec(s, d, role, (f"{role}s",) if role else ()) for s, (d, role) in scopes.items()
    }
    return ApiSpec(name, "demo", ("jupyterhub-exchange",), description, specs)


APIS = {
    "fruit-api": api(
        "fruit-api",
        "The fruit API",
        {
            "fruits:read": ("read fruits", "fruit-reader"),
            "fruits:write": ("edit fruits", "curator"),
            "fruits:public": ("no role needed", ""),
        },
    ),
    "veg-api": api("veg-api", "", {"veg:read": ("", "veg-reader")}),
}


@pytest.fixture
def policy():
    return Policy(APIS)


def test_unknown_audience_is_refused_and_allowed_ones_listed(policy):
    with pytest.raises(BrokerError) as info:
        policy.check("bank-api", ("fruits:read",), "alice")
    assert info.value.code == "audience_not_allowed"
    assert info.value.status == 403
    assert "'bank-api'" in info.value.message
    assert "fruit-api, veg-api" in info.value.message


def test_empty_scope_is_invalid_request_and_suggests_scopes(policy):
    with pytest.raises(BrokerError) as info:
        policy.check("fruit-api", (), "alice")
    assert info.value.code == "invalid_request"
    assert info.value.status == 400
    assert "fruits:public, fruits:read, fruits:write" in info.value.message


def test_unknown_scope_is_refused_by_name(policy):
    with pytest.raises(BrokerError) as info:
        policy.check("fruit-api", ("fruits:read", "fruits:delete"), "alice")
    assert info.value.code == "scope_not_allowed"
    assert "fruits:delete" in info.value.message
    assert "fruits:read " not in info.value.message.split("(offered")[0]
    assert "alice" in info.value.message


def test_scope_of_another_audience_is_refused(policy):
    with pytest.raises(BrokerError) as info:
        policy.check("fruit-api", ("veg:read",), "alice")
    assert info.value.code == "scope_not_allowed"
    assert "veg:read" in info.value.message


def test_known_scopes_pass(policy):
    assert policy.check("fruit-api", ("fruits:read", "fruits:write"), "alice") is None


def test_listing_marks_granted_by_role(policy):
    listing = policy.listing(["fruit-reader", "offline_access"])
    fruit = listing["audiences"]["fruit-api"]
    assert fruit["description"] == "The fruit API"
    scopes = fruit["scopes"]
    assert scopes["fruits:read"] == {
        "description": "read fruits",
        "role": "fruit-reader",
        "groups": ["fruit-readers"],
        "granted": True,
        "jobs": {"allowed": False, "max_days": None},
    }
    assert scopes["fruits:write"]["granted"] is False
    assert scopes["fruits:write"]["role"] == "curator"
    assert scopes["fruits:public"]["granted"] is None
    assert scopes["fruits:public"]["role"] == ""
    assert listing["audiences"]["veg-api"]["scopes"]["veg:read"]["granted"] is False
    assert set(listing["audiences"]) == {"fruit-api", "veg-api"}


def test_listing_says_which_scopes_a_job_grant_may_hold_and_for_how_long():
    read = ScopeSpec("fruits:read", "", "fruit-reader", (), JobsPolicy(allowed=True, max_days=7))
    spec = ApiSpec("fruit-api", "demo", ("jupyterhub-exchange",), "", {"fruits:read": read})
    scopes = Policy({"fruit-api": spec}).listing([])["audiences"]["fruit-api"]["scopes"]
    assert scopes["fruits:read"]["jobs"] == {"allowed": True, "max_days": 7}


def test_listing_without_roles_grants_nothing(policy):
    scopes = policy.listing([])["audiences"]["fruit-api"]["scopes"]
    assert [scopes[s]["granted"] for s in sorted(scopes)] == [None, False, False]


def test_describe_names_the_roles_needed(policy):
    assert policy.describe("fruit-api", ["fruits:write", "fruits:read"]) == (
        "role curator, fruit-reader"
    )
    assert policy.describe("fruit-api", ["fruits:public"]) == "the matching role"


def test_listing_keeps_the_public_contract_for_the_repository_registry():
    from apiregistry import apis_of_realm, load_registry
    from stackconf.settings import REPO

    apis = apis_of_realm(load_registry(REPO / "idp" / "apis.yml"), "demo")
    listing = Policy(apis).listing([])
    assert set(listing) == {"audiences"}
    assert set(listing["audiences"]) == set(apis)
    for name, entry in listing["audiences"].items():
        assert set(entry) == {"description", "scopes", "token_files"}
        assert entry["description"] == apis[name].description
        assert entry["token_files"] == {f: list(s) for f, s in apis[name].token_files.items()}
        assert list(entry["scopes"]) == list(apis[name].scopes)
        for scope, item in entry["scopes"].items():
            assert item == {
                "description": apis[name].scopes[scope].description,
                "role": apis[name].scopes[scope].role,
                "groups": list(apis[name].scopes[scope].groups),
                "granted": False,
                "jobs": {
                    "allowed": apis[name].scopes[scope].jobs.allowed,
                    "max_days": apis[name].scopes[scope].jobs.max_days or None,
                },
            }
