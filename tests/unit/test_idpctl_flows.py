"""idpctl: authentication flows (idp/realms/<realm>/authentication-flows/*.yml,
idpctl.kinds.flows): what validate reports, what plan shows, what apply sends, and the demo
realm's browser flow, against ``FakeAdmin`` (Keycloak's admin API as idpctl.apply calls it,
tests/support/recording_admin.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from idpctl import cli
from idpctl.apply import Applier
from idpctl.kinds import flows
from idpctl.kinds.flows import fetch_flows
from idpctl.live import Live
from idpctl.model import Desired
from idpctl.plan import Change, compute
from tests.support.idp_files import IDP_VARIABLES as VARIABLES
from tests.support.idp_files import edit, problems, the_problem, validate
from tests.support.recording_admin import FakeAdmin, apply_all, first

FLOW_FILE = "realms/demo/authentication-flows/browser-hub-admins-otp.yml"
FLOW = "authentication flow browser-hub-admins-otp"
REALM_FILE = "realms/demo/realm.yml"


# --- validate -------------------------------------------------------------------------------


def test_the_demo_flow_is_valid(idp: Path) -> None:
    assert validate(idp) == (0, ["idp/ is valid: realms demo."])


def test_a_bad_requirement_names_the_step_and_the_choices(idp: Path) -> None:
    edit(idp / FLOW_FILE, lambda d: d["executions"][0].update(requirement="OPTIONAL"))
    the_problem(
        idp,
        FLOW_FILE,
        FLOW,
        "executions[0].requirement",
        "REQUIRED, ALTERNATIVE, DISABLED, CONDITIONAL",
        "'OPTIONAL'",
    )


def test_a_bad_requirement_in_a_sub_flow_names_its_path(idp: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["executions"][2]["executions"][1]["executions"][1]["requirement"] = None

    edit(idp / FLOW_FILE, change)
    the_problem(idp, FLOW_FILE, FLOW, "executions[2].executions[1].executions[1].requirement")


@pytest.mark.parametrize(
    "step",
    [
        {"authenticator": "auth-cookie", "flow": "x", "requirement": "REQUIRED"},
        {"requirement": "REQUIRED"},
    ],
    ids=["both", "neither"],
)
def test_a_step_gives_exactly_one_of_authenticator_or_flow(idp: Path, step: dict[str, Any]) -> None:
    edit(idp / FLOW_FILE, lambda d: d["executions"].__setitem__(0, step))
    the_problem(idp, FLOW_FILE, FLOW, "executions[0]:", "exactly one of authenticator", "or flow")


def test_an_unknown_key_of_a_step_is_named_with_the_known_ones(idp: Path) -> None:
    edit(idp / FLOW_FILE, lambda d: d["executions"][0].update(priority=10))
    the_problem(
        idp, FLOW_FILE, FLOW, "executions[0]", "unknown key 'priority'", "authenticator, config"
    )


def test_a_config_that_is_not_a_mapping_is_a_problem(idp: Path) -> None:
    edit(idp / FLOW_FILE, lambda d: d["executions"][0].update(config=["a"]))
    the_problem(idp, FLOW_FILE, FLOW, "executions[0].config", "must map option names to values")


def test_a_flow_without_steps_is_a_problem(idp: Path) -> None:
    edit(idp / FLOW_FILE, lambda d: d.update(executions=[]))
    the_problem(idp, FLOW_FILE, FLOW, "executions: a flow needs at least one step")


def test_a_sub_flow_with_the_flows_own_alias_is_a_duplicate(idp: Path) -> None:
    edit(idp / FLOW_FILE, lambda d: d["executions"][2].update(flow="browser-hub-admins-otp"))
    the_problem(
        idp,
        FLOW_FILE,
        FLOW,
        "alias 'browser-hub-admins-otp' is defined twice",
        "an alias of its own",
    )


def test_two_sub_flows_with_one_alias_are_a_duplicate(idp: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        forms = d["executions"][2]["executions"]
        forms[2]["flow"] = forms[1]["flow"]

    edit(idp / FLOW_FILE, change)
    the_problem(idp, FLOW_FILE, FLOW, "alias 'browser-hub-admins-otp hub admins' is defined twice")


def test_an_alias_of_another_files_sub_flow_is_a_duplicate_naming_that_file(idp: Path) -> None:
    other = idp / "realms/demo/authentication-flows/z-other.yml"
    other.write_text(
        "alias: z-other\n"
        "executions:\n"
        "- flow: browser-hub-admins-otp forms\n"
        "  requirement: REQUIRED\n"
        "  executions:\n"
        "  - authenticator: auth-username-password-form\n"
        "    requirement: REQUIRED\n"
    )
    line = the_problem(
        idp,
        "realms/demo/authentication-flows/z-other.yml",
        "authentication flow z-other",
        "alias 'browser-hub-admins-otp forms' is defined twice",
    )
    assert f"also in {idp / FLOW_FILE}" in line


def test_two_files_with_one_alias_are_a_duplicate(idp: Path) -> None:
    (idp / "realms/demo/authentication-flows/z-copy.yml").write_text((idp / FLOW_FILE).read_text())
    code, lines = validate(idp)
    assert code == 1
    copy_file = idp / "realms/demo/authentication-flows/z-copy.yml"
    aliases = [
        "browser-hub-admins-otp",
        "browser-hub-admins-otp forms",
        "browser-hub-admins-otp hub admins",
        "browser-hub-admins-otp others who enrolled",
    ]
    assert problems(lines) == [
        f"{copy_file}: {FLOW}: alias {alias!r} is defined twice (also in {idp / FLOW_FILE}): "
        "each flow and sub-flow needs an alias of its own"
        for alias in aliases
    ]


def test_a_builtin_alias_is_refused(idp: Path) -> None:
    edit(idp / FLOW_FILE, lambda d: d.update(alias="browser"))
    edit(idp / REALM_FILE, lambda d: d.update(browserFlow="browser"))
    the_problem(
        idp,
        FLOW_FILE,
        "authentication flow browser",
        "alias: 'browser' is a Keycloak built-in flow",
        "choose another alias",
    )


def nested(sub_flows: int) -> dict[str, Any]:
    """A step that nests ``sub_flows`` sub-flows, the deepest with one authenticator."""
    step: dict[str, Any] = {"authenticator": "auth-otp-form", "requirement": "REQUIRED"}
    for level in range(sub_flows):
        step = {"flow": f"level {level}", "requirement": "REQUIRED", "executions": [step]}
    return step


def test_flows_nested_too_deep_are_refused(idp: Path) -> None:
    """The flow's own steps are level 1: 8 nested sub-flows put a step at level 9."""
    edit(idp / FLOW_FILE, lambda d: d["executions"].append(nested(8)))
    the_problem(idp, FLOW_FILE, FLOW, "flows nest at most 8 deep")


def test_flows_nested_as_deep_as_allowed_are_valid(idp: Path) -> None:
    edit(idp / FLOW_FILE, lambda d: d["executions"].append(nested(7)))
    assert validate(idp) == (0, ["idp/ is valid: realms demo."])


def test_a_browser_flow_naming_no_flow_is_a_problem_of_realm_yml(idp: Path) -> None:
    edit(idp / REALM_FILE, lambda d: d.update(browserFlow="browser-otp"))
    the_problem(
        idp,
        REALM_FILE,
        "realm demo",
        "browserFlow: no flow 'browser-otp'",
        "name a built-in flow",
        "authentication-flows/",
    )


def test_a_browser_flow_naming_a_builtin_flow_is_valid(idp: Path) -> None:
    edit(idp / REALM_FILE, lambda d: d.update(browserFlow="browser"))
    assert validate(idp) == (0, ["idp/ is valid: realms demo."])


@pytest.mark.parametrize("value", [["browser"], {"alias": "browser"}])
def test_a_browser_flow_of_another_type_is_one_problem_not_a_crash(idp: Path, value: Any) -> None:
    """check_bindings looked a list or mapping up in a set: TypeError (unhashable), a
    traceback instead of the problem."""
    edit(idp / REALM_FILE, lambda d: d.update(browserFlow=value))
    the_problem(idp, REALM_FILE, "realm demo", "browserFlow: must be a string")


def test_a_flow_file_that_is_not_a_mapping_is_a_problem(idp: Path) -> None:
    (idp / FLOW_FILE).write_text("- alias: x\n")
    code, lines = validate(idp)
    assert code == 1
    assert any(p.startswith(f"{idp / FLOW_FILE}: file: expected a dict") for p in problems(lines))


# --- the canonical shape, and plan ---------------------------------------------------------


def otp_steps(requirement: str = "REQUIRED") -> list[dict[str, Any]]:
    return [
        {"authenticator": "auth-cookie", "requirement": "ALTERNATIVE", "config": {}},
        {
            "flow": "otp forms",
            "requirement": "ALTERNATIVE",
            "description": "",
            "executions": [
                {
                    "authenticator": "conditional-user-role",
                    "requirement": "REQUIRED",
                    "config": {"condUserRole": "hub-admin"},
                },
                {"authenticator": "auth-otp-form", "requirement": requirement, "config": {}},
            ],
        },
    ]


def test_a_file_reads_to_the_canonical_shape_with_config_as_strings() -> None:
    data = {
        "alias": "otp",
        "executions": [
            {"authenticator": "auth-cookie", "requirement": "ALTERNATIVE"},
            {
                "flow": "otp forms",
                "requirement": "ALTERNATIVE",
                "executions": [
                    {
                        "authenticator": "conditional-user-role",
                        "requirement": "REQUIRED",
                        "config": {"condUserRole": "hub-admin"},
                    },
                    {"authenticator": "auth-otp-form", "requirement": "REQUIRED"},
                ],
            },
        ],
    }
    found: list[Any] = []
    flow, aliases = flows.read_flow(data, "f.yml", found)
    assert found == []
    assert aliases == ["otp", "otp forms"]
    assert flow == {"alias": "otp", "description": "", "_executions": otp_steps()}
    step = {"authenticator": "x", "requirement": "REQUIRED", "config": {"negate": True, "n": 3}}
    flow, _ = flows.read_flow({"alias": "y", "executions": [step]}, "f.yml", found)
    assert flow is not None
    assert flow["_executions"][0]["config"] == {"negate": "true", "n": "3"}


def test_keycloaks_flat_execution_list_reads_to_the_same_shape() -> None:
    executions = [
        {"level": 0, "index": 0, "providerId": "auth-cookie", "requirement": "ALTERNATIVE"},
        {
            "level": 0,
            "index": 1,
            "authenticationFlow": True,
            "displayName": "otp forms",
            "requirement": "ALTERNATIVE",
        },
        {
            "level": 1,
            "index": 0,
            "providerId": "conditional-user-role",
            "requirement": "REQUIRED",
            "authenticationConfig": "c-1",
        },
        {"level": 1, "index": 1, "providerId": "auth-otp-form", "requirement": "REQUIRED"},
    ]
    configs = {"c-1": {"alias": "a", "config": {"condUserRole": "hub-admin"}}}
    assert flows.from_executions(executions, configs) == otp_steps()


def desired_flow(steps: list[dict[str, Any]], **settings: Any) -> Desired:
    flow = {"alias": "otp", "description": "OTP", "_executions": steps, "_file": "f"}
    return Desired("demo", {"realm": "demo", **settings}, authentication_flows={"otp": flow})


def live_flow(steps: list[dict[str, Any]], **settings: Any) -> Live:
    """A live state as idpctl.live.fetch makes it, idpctl managing the flow otp."""
    live = Live(exists=True, settings={"realm": "demo", "browserFlow": "browser", **settings})
    live.authentication_flows["otp"] = {
        "id": "f-1",
        "alias": "otp",
        "description": "OTP",
        "builtIn": False,
        "_executions": copy.deepcopy(steps),
    }
    live.managed["authentication_flows"] = {"otp"}
    return live


def test_plan_creates_a_new_flow_then_binds_it() -> None:
    d = desired_flow(otp_steps(), browserFlow="otp")
    live = Live(exists=True, settings={"realm": "demo", "browserFlow": "browser"})
    assert compute(d, live) == [
        Change("authentication_flows", "create", "otp"),
        Change("flow_bindings", "update", "demo", ["browserFlow: 'browser' -> 'otp'"]),
    ]


def test_plan_of_an_equal_flow_is_empty() -> None:
    d = desired_flow(otp_steps(), browserFlow="otp")
    assert compute(d, live_flow(otp_steps(), browserFlow="otp")) == []


def test_a_changed_step_shows_as_minus_and_plus_lines() -> None:
    d = desired_flow(otp_steps("REQUIRED"))
    (change,) = compute(d, live_flow(otp_steps("CONDITIONAL")))
    assert (change.kind, change.action, change.name) == ("authentication_flows", "update", "otp")
    assert change.details == [
        "executions: -   CONDITIONAL auth-otp-form",
        "executions: +   REQUIRED auth-otp-form",
    ]
    text = str(change)
    assert "~ authentication flow otp" in text
    assert "executions: +   REQUIRED auth-otp-form" in text


def test_a_changed_config_and_description_show_in_the_plan() -> None:
    want = otp_steps()
    want[1]["executions"][0]["config"] = {"condUserRole": "fruit-reader"}
    d = desired_flow(want)
    live = live_flow(otp_steps())
    live.authentication_flows["otp"]["description"] = "old"
    (change,) = compute(d, live)
    assert change.details == [
        "description: 'old' -> 'OTP'",
        "executions: -   REQUIRED conditional-user-role {'condUserRole': 'hub-admin'}",
        "executions: +   REQUIRED conditional-user-role {'condUserRole': 'fruit-reader'}",
    ]


def test_a_flow_no_longer_in_the_files_is_deleted_after_its_binding_goes_back() -> None:
    d = Desired("demo", {"realm": "demo"})
    live = live_flow(otp_steps(), browserFlow="otp")
    assert compute(d, live) == [
        Change("flow_bindings", "update", "demo", ["browserFlow: 'otp' -> 'browser'"]),
        Change("authentication_flows", "delete", "otp"),
    ]


def test_an_untracked_or_builtin_flow_is_never_deleted() -> None:
    d = Desired("demo", {"realm": "demo"})
    live = live_flow(otp_steps())
    live.managed["authentication_flows"] = {"browser"}
    live.authentication_flows["browser"] = {"alias": "browser", "_executions": []}
    assert compute(d, live) == []


# --- apply ----------------------------------------------------------------------------------


def live_steps(admin: FakeAdmin, alias: str) -> list[dict[str, Any]]:
    live = Live(exists=True)
    fetch_flows(admin, "demo", {alias}, live)
    return live.authentication_flows[alias]["_executions"]


def test_apply_creates_the_flow_with_its_steps_requirements_and_configs() -> None:
    d = desired_flow(otp_steps())
    admin = apply_all(d, Live(exists=True, settings={"realm": "demo"}))
    body = {
        "alias": "otp",
        "description": "OTP",
        "providerId": "basic-flow",
        "topLevel": True,
        "builtIn": False,
    }
    assert ("POST", "/demo/authentication/flows", body) in admin.calls
    sub_flow = [c for c in admin.writes() if c[1].endswith("/executions/flow")]
    assert sub_flow == [
        (
            "POST",
            "/demo/authentication/flows/otp/executions/flow",
            {
                "alias": "otp forms",
                "description": "",
                "type": "basic-flow",
                "provider": "registration-page-form",
            },
        )
    ]
    configs = [c[2] for c in admin.writes() if c[1].endswith("/config")]
    assert configs == [
        {"alias": "otp forms 0 conditional-user-role", "config": {"condUserRole": "hub-admin"}}
    ]
    assert live_steps(admin, "otp") == otp_steps()


def test_apply_rebuilds_a_changed_flow_and_a_second_plan_is_empty() -> None:
    admin = apply_all(desired_flow(otp_steps("CONDITIONAL")), Live(exists=True))
    admin.calls.clear()
    d = desired_flow(otp_steps("REQUIRED"))
    live = live_flow(otp_steps("CONDITIONAL"))
    apply_all(d, live, admin)
    writes = admin.writes()
    top_level = [c for c in writes if c[0] == "DELETE"]
    assert len(top_level) == 2  # both top-level steps; the sub-flow goes with its step
    assert all(c[1].startswith("/demo/authentication/executions/") for c in top_level)
    assert writes.index(top_level[-1]) < first(writes, "POST", r".*/otp/executions/execution")
    assert live_steps(admin, "otp") == otp_steps("REQUIRED")
    live.authentication_flows["otp"]["_executions"] = live_steps(admin, "otp")
    assert compute(d, live) == []


def test_apply_leaves_an_equal_flow_alone() -> None:
    admin = apply_all(desired_flow(otp_steps()), Live(exists=True))
    admin.calls.clear()
    Applier(admin, desired_flow(otp_steps())).run(Change("authentication_flows", "update", "otp"))
    assert admin.writes() == []


def test_apply_creates_flows_before_the_realm_setting_that_names_them() -> None:
    d = desired_flow(otp_steps(), browserFlow="otp", displayName="Demo")
    admin = apply_all(d, Live(exists=False))
    realm = first(admin.calls, "POST", "")
    assert "browserFlow" not in admin.calls[realm][2]  # the flow does not exist yet
    flow = first(admin.calls, "POST", "/demo/authentication/flows")
    binding = [i for i, c in enumerate(admin.calls) if c[:2] == ("PUT", "/demo")][0]
    assert admin.calls[binding][2] == {"browserFlow": "otp"}
    assert realm < flow < binding


def test_apply_binds_the_builtin_flow_before_deleting_a_bound_one() -> None:
    admin = FakeAdmin({"/demo": {"browserFlow": "otp"}})
    admin.add_flow("otp")
    apply_all(Desired("demo", {"realm": "demo"}), live_flow(otp_steps(), browserFlow="otp"), admin)
    writes = admin.writes()
    assert writes[0] == ("PUT", "/demo", {"browserFlow": "browser"})
    assert writes[1][0] == "DELETE" and writes[1][1].startswith("/demo/authentication/flows/")
    assert "otp" not in admin.flows


# --- the demo realm -------------------------------------------------------------------------


def sub_flows(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        if "flow" in step:
            out += [step, *sub_flows(step["executions"])]
    return out


def test_the_demo_browser_flow_asks_hub_admins_for_a_one_time_code(idp: Path) -> None:
    (demo,) = cli.load(idp, ["demo"], VARIABLES)
    flow = demo.authentication_flows[demo.settings["browserFlow"]]
    conditional = [
        s
        for s in sub_flows(flow["_executions"])
        if s["requirement"] == "CONDITIONAL"
        and s["executions"][0]
        == {
            "authenticator": "conditional-user-role",
            "requirement": "REQUIRED",
            "config": {"condUserRole": "hub-admin"},
        }
    ]
    assert len(conditional) == 1, flow
    (hub_admins,) = conditional
    assert {"authenticator": "auth-otp-form", "requirement": "REQUIRED", "config": {}} in (
        hub_admins["executions"]
    )
    (forms,) = [s for s in sub_flows(flow["_executions"]) if hub_admins in s["executions"]]
    assert forms["executions"][0]["authenticator"] == "auth-username-password-form"
    assert forms["executions"][0]["requirement"] == "REQUIRED"
