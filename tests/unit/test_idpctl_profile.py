"""idpctl: the realm's user profile rules (idp/realms/<realm>/user-profile.yml,
idpctl.kinds.profile): what validate reports, what plan shows, what apply merges into Keycloak's
user profile, and the demo realm's username rule."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from idpctl import cli
from idpctl.apply import Applier
from idpctl.kinds import profile
from idpctl.live import Live
from idpctl.model import Desired
from idpctl.plan import Change, compute
from tests.support.idp_files import IDP_VARIABLES as VARIABLES
from tests.support.idp_files import edit, the_problem, validate
from tests.support.recording_admin import FakeAdmin

FILE = "realms/demo/user-profile.yml"
USERNAME = "user profile attribute username"


def change_pattern(idp: Path, **options: Any) -> None:
    def change(d: dict[str, Any]) -> None:
        pattern = d["attributes"][0]["validations"]["pattern"]
        pattern.update(options)
        for key in [k for k, v in options.items() if v is None]:
            del pattern[key]

    edit(idp / FILE, change)


# --- validate -------------------------------------------------------------------------------


def test_the_demo_profile_is_valid(idp: Path) -> None:
    assert validate(idp) == (0, ["idp/ is valid: realms demo."])


def test_a_pattern_that_does_not_compile_is_refused(idp: Path) -> None:
    change_pattern(idp, pattern="^[a-z")
    the_problem(
        idp,
        FILE,
        USERNAME,
        "validations.pattern.pattern is not a regular expression",
        "unterminated",
    )


def test_a_pattern_validator_without_a_pattern_is_refused(idp: Path) -> None:
    """It validated, and Keycloak refused the user profile half-way through apply."""
    change_pattern(idp, pattern=None)
    the_problem(idp, FILE, USERNAME, "validations.pattern.pattern is required")


def test_a_pattern_without_an_error_message_is_refused(idp: Path) -> None:
    change_pattern(idp, **{"error-message": None})
    the_problem(
        idp,
        FILE,
        USERNAME,
        "validations.pattern needs an error-message",
        "shown on the registration page",
    )


def test_an_unknown_top_level_key_is_named_with_the_known_one(idp: Path) -> None:
    edit(idp / FILE, lambda d: d.update(groups=[{"name": "user-metadata"}]))
    the_problem(idp, FILE, "user profile", "unknown key 'groups'", "known: attributes")


def test_attributes_that_are_not_a_list_are_refused(idp: Path) -> None:
    edit(idp / FILE, lambda d: d.update(attributes={"username": {}}))
    the_problem(idp, FILE, "user profile", "attributes must be a list of attributes")


def test_an_attribute_without_a_name_is_refused(idp: Path) -> None:
    edit(idp / FILE, lambda d: d["attributes"].insert(0, {"displayName": "ORCID"}))
    the_problem(idp, FILE, "user profile", "attributes[0] needs a name")


def test_a_duplicate_attribute_is_refused(idp: Path) -> None:
    edit(idp / FILE, lambda d: d["attributes"].append({"name": "username"}))
    the_problem(idp, FILE, USERNAME, "duplicate attribute 'username'")


def test_validator_options_that_are_not_a_mapping_are_refused(idp: Path) -> None:
    edit(idp / FILE, lambda d: d["attributes"][0]["validations"].update(length=3))
    the_problem(idp, FILE, USERNAME, "validations.length must map the validator's options")


def test_a_field_of_the_wrong_type_names_its_path(idp: Path) -> None:
    edit(idp / FILE, lambda d: d["attributes"][0].update(multivalued="no"))
    the_problem(idp, FILE, USERNAME, "multivalued: must be true or false")


def test_no_file_leaves_the_user_profile_alone(idp: Path) -> None:
    (idp / FILE).unlink()
    (demo,) = cli.load(idp, ["demo"], VARIABLES)
    assert demo.user_profile is None


# --- plan -----------------------------------------------------------------------------------

RULE = {
    "name": "username",
    "validations": {"pattern": {"pattern": "^[a-z]+$", "error-message": "letters"}},
}


def keycloak_profile() -> dict[str, Any]:
    """A user profile as Keycloak answers GET /{realm}/users/profile."""
    return {
        "unmanagedAttributePolicy": "ENABLED",
        "attributes": [
            {
                "name": "username",
                "displayName": "${username}",
                "validations": {
                    "length": {"min": 3, "max": 255},
                    "username-prohibited-characters": {},
                },
                "permissions": {"view": ["admin", "user"], "edit": ["admin", "user"]},
            },
            {"name": "email", "validations": {"email": {}}},
        ],
        "groups": [{"name": "user-metadata"}],
    }


def desired(attributes: dict[str, dict[str, Any]] | None) -> Desired:
    return Desired("demo", {"realm": "demo"}, user_profile=copy.deepcopy(attributes))


def live(config: dict[str, Any]) -> Live:
    return Live(exists=True, settings={"realm": "demo"}, user_profile=config)


def test_plan_shows_a_rule_keycloak_does_not_have() -> None:
    (change,) = compute(desired({"username": RULE}), live(keycloak_profile()))
    assert (change.kind, change.action, change.name) == ("user_profile", "update", "demo")
    (detail,) = change.details
    assert detail.startswith("attribute username: validations: {'length'")
    assert detail.endswith("-> {'pattern': {'pattern': '^[a-z]+$', 'error-message': 'letters'}}")
    assert "~ user profile demo" in str(change)


def test_plan_shows_a_new_attribute() -> None:
    orcid = {"name": "orcid", "displayName": "ORCID"}
    (change,) = compute(desired({"orcid": orcid}), live(keycloak_profile()))
    assert change.details == ["attribute: + orcid"]


def test_plan_is_empty_when_keycloak_already_says_what_the_file_says() -> None:
    merged = profile.merged(keycloak_profile(), {"username": RULE})
    assert compute(desired({"username": RULE}), live(merged)) == []


def test_plan_without_a_file_never_touches_the_user_profile() -> None:
    assert compute(desired(None), live({})) == []


# --- apply ----------------------------------------------------------------------------------


def test_apply_merges_the_rule_into_keycloaks_profile_by_name() -> None:
    orcid = {"name": "orcid", "displayName": "ORCID"}
    admin = FakeAdmin({"/demo/users/profile": keycloak_profile()})
    d = desired({"username": RULE, "orcid": orcid})
    Applier(admin, d).run(Change("user_profile", "update", "demo"))
    ((method, path, body),) = admin.writes()
    assert (method, path) == ("PUT", "/demo/users/profile")
    expected = keycloak_profile()
    expected["attributes"][0]["validations"]["pattern"] = RULE["validations"]["pattern"]
    expected["attributes"].append(orcid)
    assert body == expected  # Keycloak's other attributes, validators and groups stay
    assert compute(d, live(body)) == []


# --- the demo realm -------------------------------------------------------------------------


def accepted(attribute: dict[str, Any], value: str) -> bool:
    """Keycloak's length and pattern validators (a pattern must match the whole value)."""
    rules = attribute["validations"]
    length = rules.get("length", {})
    if not int(length.get("min", 0)) <= len(value) <= int(length.get("max", 255)):
        return False
    return re.fullmatch(rules["pattern"]["pattern"], value) is not None


@pytest.fixture
def username(idp: Path) -> dict[str, Any]:
    (demo,) = cli.load(idp, ["demo"], VARIABLES)
    assert demo.user_profile is not None
    return demo.user_profile["username"]


@pytest.mark.parametrize(
    "name",
    ["Bad_Name!", "-abc", "ab", "abc-", "1abc", "a" * 33, "hub.user", "a b"],
)
def test_the_demo_username_rule_refuses_what_is_not_a_host_label(
    username: dict[str, Any], name: str
) -> None:
    assert not accepted(username, name)


@pytest.mark.parametrize("name", ["newbie-1a2b3c", "reader", "abc", "a" * 32, "hub-admin-2"])
def test_the_demo_username_rule_accepts_host_labels(username: dict[str, Any], name: str) -> None:
    assert accepted(username, name)


def test_the_demo_username_rule_says_the_rule(username: dict[str, Any]) -> None:
    message = username["validations"]["pattern"]["error-message"]
    assert "3 to 32" in message
    assert "start with a letter" in message
    assert username["validations"]["length"] == {"min": 3, "max": 32}


# --- null removes a key (a JSON merge patch) ---------------------------------------------------

OPTIONAL_EMAIL = {"name": "email", "required": None}


def required_email() -> dict[str, Any]:
    config = keycloak_profile()
    config["attributes"][1]["required"] = {"roles": ["user"]}
    return config


def test_null_removes_the_key_from_keycloaks_attribute() -> None:
    body = profile.merged(required_email(), {"email": OPTIONAL_EMAIL})
    email = body["attributes"][1]
    assert "required" not in email
    assert email["validations"] == {"email": {}}  # the rest stays


def test_plan_shows_a_removed_key_and_nothing_once_it_is_gone() -> None:
    (change,) = compute(desired({"email": OPTIONAL_EMAIL}), live(required_email()))
    assert change.details == ["attribute email: - required"]
    done = profile.merged(required_email(), {"email": OPTIONAL_EMAIL})
    assert compute(desired({"email": OPTIONAL_EMAIL}), live(done)) == []


def test_the_demo_makes_the_e_mail_optional(idp: Path) -> None:
    (demo,) = cli.load(idp, ["demo"], VARIABLES)
    assert demo.user_profile is not None
    body = profile.merged(required_email(), demo.user_profile)
    assert "required" not in next(a for a in body["attributes"] if a["name"] == "email")
