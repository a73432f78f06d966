"""The broker's allowlist: audiences, scopes, normalisation and the listing endpoint's data."""

import pytest

from hubtokens.broker.errors import BrokerError
from hubtokens.broker.policy import Policy, normalize_scope

SPEC = {
    "fruit-api": {
        "description": "The fruit API",
        "scopes": {
            "fruits:read": {"description": "read fruits", "role": "fruit-reader"},
            "fruits:write": {"description": "edit fruits", "role": "curator"},
            "fruits:public": {"description": "no role needed"},
        },
    },
    "veg-api": {"scopes": {"veg:read": {"role": "veg-reader"}}},
}


@pytest.fixture
def policy():
    return Policy(SPEC)


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


@pytest.mark.parametrize(
    "scope",
    [
        "fruits:write fruits:read",
        "  fruits:read   fruits:write ",
        "fruits:read\tfruits:write fruits:read",
        ["fruits:write", "fruits:read"],
        ("fruits:read", "fruits:write", "fruits:write"),
    ],
)
def test_scope_string_and_list_normalise_to_the_same_sorted_tuple(scope):
    assert normalize_scope(scope) == ("fruits:read", "fruits:write")


def test_none_scope_is_empty():
    assert normalize_scope(None) == ()


@pytest.mark.parametrize(
    "scope",
    [
        ["fruits:read", 3],
        ["fruits:read", None],
        ["fruits:read", ""],
        ["fruits:read fruits:write"],
        b"fruits:read",
    ],
)
def test_bad_scope_lists_are_invalid_request(scope):
    with pytest.raises(BrokerError) as info:
        normalize_scope(scope)
    assert info.value.code == "invalid_request"
    assert "space-separated" in info.value.message


@pytest.mark.parametrize("scope", [5, 1.5, True, {"fruits:read": True}])
def test_scope_of_a_non_list_type_is_invalid_request(scope):
    # A JSON body {"scope": 5} reaches normalize_scope unchanged from the handler; it must be
    # a contract error (400 invalid_request), not a TypeError (500).
    with pytest.raises(BrokerError) as info:
        normalize_scope(scope)
    assert info.value.code == "invalid_request"


def test_listing_marks_granted_by_role(policy):
    listing = policy.listing(["fruit-reader", "offline_access"])
    fruit = listing["audiences"]["fruit-api"]
    assert fruit["description"] == "The fruit API"
    scopes = fruit["scopes"]
    assert scopes["fruits:read"] == {
        "description": "read fruits",
        "role": "fruit-reader",
        "granted": True,
    }
    assert scopes["fruits:write"]["granted"] is False
    assert scopes["fruits:write"]["role"] == "curator"
    assert scopes["fruits:public"]["granted"] is None
    assert scopes["fruits:public"]["role"] is None
    assert listing["audiences"]["veg-api"]["scopes"]["veg:read"]["granted"] is False
    assert set(listing["audiences"]) == {"fruit-api", "veg-api"}


def test_listing_without_roles_grants_nothing(policy):
    scopes = policy.listing([])["audiences"]["fruit-api"]["scopes"]
    assert [scopes[s]["granted"] for s in sorted(scopes)] == [None, False, False]


@pytest.mark.parametrize(
    "spec", [{"x-api": {}}, {"x-api": {"scopes": {}}}, {"x-api": {"scopes": None}}]
)
def test_audience_without_scopes_is_a_config_error(spec):
    with pytest.raises(ValueError, match="x-api"):
        Policy(spec)


def test_describe_names_the_roles_needed(policy):
    assert policy.describe("fruit-api", ["fruits:write", "fruits:read"]) == (
        "role curator, fruit-reader"
    )
    assert policy.describe("fruit-api", ["fruits:public"]) == "the matching role"
