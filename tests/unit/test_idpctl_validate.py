"""idpctl validate: every bad input is reported, naming the file and the object, and the
exit code is 1. Each test edits a copy of the real idp/ folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.idp_files import IDP_VARIABLES as VARIABLES
from tests.support.idp_files import edit, problems, the_problem, validate

#: The demo hub's client file names a template: tests override its keys in that file.
HUB_CALLBACK = "${HUB_PUBLIC_URL}/hub/oauth_callback"


def jupyterhub(idp: Path) -> Path:
    return idp / "realms/demo/clients/jupyterhub.yml"


def test_the_unchanged_copy_is_valid(idp: Path) -> None:
    assert validate(idp) == (0, ["idp/ is valid: realms demo."])


def test_unresolved_placeholder_names_the_variable_and_the_secrets_file(idp: Path) -> None:
    variables = {k: v for k, v in VARIABLES.items() if k != "DEMO_PASSWORD_CURATOR"}
    line = the_problem(
        idp,
        "realms/demo/users.yml",
        "file",
        "${DEMO_PASSWORD_CURATOR}",
        "not set",
        ".state/secrets.env",
        variables=variables,
    )
    assert "READER" not in line
    code, lines = validate(idp, variables=variables)
    assert len(problems(lines)) == 1


def test_unresolved_placeholders_in_several_files_are_each_reported(idp: Path) -> None:
    variables = {k: v for k, v in VARIABLES.items() if k != "HUB_PUBLIC_URL"}
    variables.pop("DEMO_PASSWORD_VISITOR")
    code, lines = validate(idp, variables=variables)
    assert code == 1
    found = problems(lines)
    assert any(
        p.startswith(f"{jupyterhub(idp)}: file: ${{HUB_PUBLIC_URL}} is not set") for p in found
    )
    assert any(
        p.startswith(f"{idp / 'realms/demo/users.yml'}: file: ${{DEMO_PASSWORD_VISITOR}}")
        for p in found
    )


def test_yaml_syntax_error_names_the_file(idp: Path) -> None:
    (idp / "realms/demo/groups.yml").write_text("- name: [hub-users\n  attributes: {\n")
    the_problem(idp, "realms/demo/groups.yml", "file", "not valid YAML")


def test_yaml_syntax_error_in_apis_yml_names_the_file(idp: Path) -> None:
    (idp / "apis.yml").write_text("apis:\n  fruit-api: {realm: demo\n")
    the_problem(idp, "apis.yml", "file", "not valid YAML")


def test_unknown_key_in_apis_yml(idp: Path) -> None:
    edit(idp / "apis.yml", lambda d: d["apis"]["fruit-api"].update(audience="x"))
    the_problem(idp, "apis.yml", "api fruit-api", "unknown key 'audience'")


def test_unknown_key_in_an_api_scope(idp: Path) -> None:
    edit(
        idp / "apis.yml",
        lambda d: d["apis"]["fruit-api"]["scopes"]["fruits:write"].update(roles=["x"]),
    )
    the_problem(idp, "apis.yml", "api fruit-api, scope fruits:write", "unknown key 'roles'")


@pytest.mark.parametrize(
    ("files", "where", "says"),
    [
        ({"fruit-api": ["fruits:juice"]}, ", token file fruit-api", "'fruits:juice' is not one"),
        ({"../up": ["fruits:read"]}, ", token file ../up", "letters, digits, . _ -"),
        ({".hidden": ["fruits:read"]}, ", token file .hidden", "letters, digits, . _ -"),
        ({"fruit-api": "fruits:read"}, ", token file fruit-api", "a list of scope names"),
        (["fruit-api"], "", "token_files must map file names to lists of scopes"),
    ],
)
def test_a_wrong_token_file(idp: Path, files: Any, where: str, says: str) -> None:
    edit(idp / "apis.yml", lambda d: d["apis"]["fruit-api"].update(token_files=files))
    the_problem(idp, "apis.yml", f"api fruit-api{where}", says)


@pytest.mark.parametrize(
    ("jobs", "says"),
    [
        ({"allowed": True}, "max_days must be a whole number of days from 1 to 30"),
        ({"allowed": True, "max_days": 0}, "from 1 to 30 (how long a job grant may last), got 0"),
        ({"allowed": True, "max_days": 31}, "got 31"),
        ({"allowed": True, "max_days": 2.5}, "got 2.5"),
        ({"allowed": True, "max_days": True}, "got True"),
        ({"allowed": "yes", "max_days": 7}, "allowed must be true or false, got 'yes'"),
        ({"allowed": False, "max_days": 7}, "max_days applies only when allowed is true"),
        ({"allowed": True, "max_days": 7, "cron": "* * * * *"}, "unknown key 'cron'"),
        (True, "expected a mapping: write jobs: {allowed: true, max_days: 1..30}"),
    ],
)
def test_a_wrong_jobs_policy(idp: Path, jobs: Any, says: str) -> None:
    edit(
        idp / "apis.yml",
        lambda d: d["apis"]["fruit-api"]["scopes"]["fruits:exotic"].update(jobs=jobs),
    )
    the_problem(idp, "apis.yml", "api fruit-api, scope fruits:exotic, jobs", says)


def test_a_jobs_policy_needs_the_job_grants_client(idp: Path) -> None:
    (idp / "realms/demo/clients/jupyterhub-jobs.yml").unlink()
    line = the_problem(idp, "apis.yml", "api fruit-api, scope fruits:read", "its jobs: policy")
    assert "needs client jupyterhub-jobs" in line
    assert "template: jupyterhub-jobs" in line
    assert len(problems(validate(idp)[1])) == 1


def test_without_a_jobs_policy_no_job_grants_client_is_needed(idp: Path) -> None:
    (idp / "realms/demo/clients/jupyterhub-jobs.yml").unlink()

    def no_jobs(d: Any) -> None:
        for scope in d["apis"]["fruit-api"]["scopes"].values():
            scope.pop("jobs", None)

    edit(idp / "apis.yml", no_jobs)
    assert validate(idp)[0] == 0


def test_the_job_grants_client_may_not_be_a_requester(idp: Path) -> None:
    edit(
        idp / "apis.yml",
        lambda d: d["apis"]["fruit-api"]["requester"].append("jupyterhub-jobs"),
    )
    the_problem(idp, "apis.yml", "api fruit-api", "jupyterhub-jobs may not be a requester")


def test_a_token_file_kept_by_two_apis_of_a_realm(idp: Path) -> None:
    def twice(d: Any) -> None:
        d["apis"]["veg-api"] = {
            "realm": "demo",
            "scopes": {"veg:read": {"role": "veg-reader"}},
            "token_files": {"fruit-api": ["veg:read"]},
        }

    edit(idp / "apis.yml", twice)
    the_problem(idp, "apis.yml", "api veg-api, token file fruit-api", "also kept by api fruit-api")


def test_scope_without_role(idp: Path) -> None:
    edit(idp / "apis.yml", lambda d: d["apis"]["fruit-api"]["scopes"]["fruits:exotic"].pop("role"))
    the_problem(idp, "apis.yml", "api fruit-api, scope fruits:exotic", "role is required")


def test_scope_given_to_an_undefined_group(idp: Path) -> None:
    edit(
        idp / "apis.yml",
        lambda d: d["apis"]["fruit-api"]["scopes"]["fruits:write"]["groups"].append("bakers"),
    )
    code, lines = validate(idp)
    assert code == 1
    (line,) = problems(lines)
    assert "apis.yml: api fruit-api, scope fruits:write: " in line
    assert "group 'bakers' is not defined" in line
    assert "groups.yml" in line


def test_registry_problems_name_the_registry_file_actually_read(idp: Path) -> None:
    """Problems found while deriving objects must name the apis.yml that was read (as the
    registry's own problems do), not a fixed relative "idp/apis.yml"."""
    edit(
        idp / "apis.yml",
        lambda d: d["apis"]["fruit-api"]["scopes"]["fruits:write"]["groups"].append("bakers"),
    )
    the_problem(idp, "apis.yml", "api fruit-api, scope fruits:write", "'bakers'")


def test_requester_client_not_defined(idp: Path) -> None:
    edit(idp / "apis.yml", lambda d: d["apis"]["fruit-api"].update(requester="voila"))
    code, lines = validate(idp)
    assert code == 1
    found = [p for p in problems(lines) if "requester client 'voila' is not defined" in p]
    assert found
    assert all("apis.yml: api fruit-api: " in p for p in found)
    assert str(idp / "realms/demo/clients") in found[0]


def test_requester_not_defined_is_reported_once_not_once_per_scope(idp: Path) -> None:
    edit(idp / "apis.yml", lambda d: d["apis"]["fruit-api"].update(requester="voila"))
    code, lines = validate(idp)
    assert code == 1
    assert len(problems(lines)) == 1, lines


def test_duplicate_client_id_across_client_files(idp: Path) -> None:
    shutil.copy(jupyterhub(idp), idp / "realms/demo/clients/zz-hub-copy.yml")
    the_problem(idp, "realms/demo/clients/zz-hub-copy.yml", "client jupyterhub", "duplicate client")


def test_api_named_like_an_existing_client(idp: Path) -> None:
    edit(
        idp / "apis.yml",
        lambda d: d.update(apis={"jupyterhub": d["apis"]["fruit-api"]}),
    )
    code, lines = validate(idp)
    assert code == 1
    found = problems(lines)
    assert any(
        "apis.yml: client jupyterhub: " in p and "duplicate client 'jupyterhub'" in p for p in found
    ), found


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d["apis"].update(account=d["apis"].pop("fruit-api")), id="api"),
        pytest.param(
            lambda d: d["apis"]["fruit-api"]["scopes"].update(
                profile=d["apis"]["fruit-api"]["scopes"].pop("fruits:exotic")
            ),
            id="scope",
        ),
    ],
)
def test_api_or_scope_named_like_a_keycloak_builtin_is_refused(idp: Path, change: Any) -> None:
    """An API named "account" would turn Keycloak's account client into a bearer-only
    client; a scope named "profile" would replace the built-in scope's mappers."""
    edit(idp / "apis.yml", change)
    code, lines = validate(idp)
    assert code == 1, lines
    assert any("apis.yml" in p for p in problems(lines))


def test_client_references_an_undefined_client_scope(idp: Path) -> None:
    edit(jupyterhub(idp), lambda d: d.update(defaultClientScopes=["basic", "fruits:eat"]))
    the_problem(
        idp,
        "realms/demo/clients/jupyterhub.yml",
        "client jupyterhub",
        "undefined client scope 'fruits:eat'",
    )


def test_redirect_uri_not_absolute(idp: Path) -> None:
    edit(jupyterhub(idp), lambda d: d.update(redirectUris=[HUB_CALLBACK, "/hub/oauth_callback"]))
    the_problem(
        idp,
        "realms/demo/clients/jupyterhub.yml",
        "client jupyterhub",
        "'/hub/oauth_callback'",
        "not absolute",
    )


def test_empty_hub_url_makes_the_redirect_uri_relative(idp: Path) -> None:
    the_problem(
        idp,
        "realms/demo/clients/jupyterhub.yml",
        "client jupyterhub",
        "not absolute",
        variables={**VARIABLES, "HUB_PUBLIC_URL": ""},
    )


def test_user_in_an_undefined_group(idp: Path) -> None:
    edit(idp / "realms/demo/users.yml", lambda d: d[2]["groups"].append("/bakers"))
    the_problem(idp, "realms/demo/users.yml", "user visitor", "group 'bakers' is not defined")


def test_group_with_an_undefined_realm_role(idp: Path) -> None:
    edit(idp / "realms/demo/groups.yml", lambda d: d[0].update(realmRoles=["baker"]))
    the_problem(idp, "realms/demo/groups.yml", "group hub-users", "realm role 'baker'")


def test_realm_yml_names_another_realm(idp: Path) -> None:
    edit(idp / "realms/demo/realm.yml", lambda d: d.update(realm="prod"))
    the_problem(idp, "realms/demo/realm.yml", "realm demo", "'prod'", "'demo'")


def test_api_whose_realm_has_no_folder(idp: Path) -> None:
    edit(idp / "apis.yml", lambda d: d["apis"]["fruit-api"].update(realm="veggies"))
    code, lines = validate(idp)
    assert code == 1
    found = problems(lines)
    assert f"{idp / 'apis.yml'}: realm veggies: " in "\n".join(found)
    assert any("realm veggies" in p and "no such folder" in p for p in found)


def test_requested_realm_folder_does_not_exist(idp: Path) -> None:
    line = the_problem(idp, "realms/staging", "realm staging", "no such folder", realms=["staging"])
    assert "IDP_REALMS" in line


def test_a_realm_file_with_a_wrong_shape_is_a_problem(idp: Path) -> None:
    (idp / "realms/demo/users.yml").write_text("username: reader\n")
    the_problem(idp, "realms/demo/users.yml", "file", "expected a list")


def test_a_malformed_user_entry_is_a_problem_not_a_crash(idp: Path) -> None:
    edit(idp / "realms/demo/users.yml", lambda d: d.append("mallory"))
    code, lines = validate(idp)
    assert code == 1
    assert any("users.yml" in p for p in problems(lines))


def test_several_problems_are_reported_together(idp: Path) -> None:
    edit(idp / "apis.yml", lambda d: d["apis"]["fruit-api"].update(colour="red"))
    edit(jupyterhub(idp), lambda d: d.update(redirectUris=[HUB_CALLBACK, "hub/cb"]))
    edit(idp / "realms/demo/users.yml", lambda d: d[0]["groups"].append("bakers"))
    edit(idp / "realms/demo/groups.yml", lambda d: d[1].update(realmRoles=["baker"]))
    variables = {k: v for k, v in VARIABLES.items() if k != "DEMO_PASSWORD_HUBADMIN"}
    code, lines = validate(idp, realms=["demo", "nowhere"], variables=variables)
    assert code == 1
    found = problems(lines)
    expected = [
        f"{idp / 'apis.yml'}: api fruit-api: unknown key 'colour'",
        f"{jupyterhub(idp)}: client jupyterhub: redirect URI 'hub/cb'",
        f"{idp / 'realms/demo/users.yml'}: user reader: group 'bakers'",
        f"{idp / 'realms/demo/groups.yml'}: group hub-admins: realm role 'baker'",
        f"{idp / 'realms/demo/users.yml'}: file: ${{DEMO_PASSWORD_HUBADMIN}}",
        f"{idp / 'realms/nowhere'}: realm nowhere: no such folder",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in found), (start, found)
    assert len(found) == len(expected)


# --- client templates (idp/templates/clients/) ------------------------------------------


def hub_template(idp: Path) -> Path:
    return idp / "templates/clients/jupyterhub-hub.yml"


def test_unknown_template_names_the_file_the_client_and_the_known_templates(idp: Path) -> None:
    edit(jupyterhub(idp), lambda d: d.update(template="jupyterhub-hbu", clientId="jupyterhub"))
    line = the_problem(
        idp,
        "realms/demo/clients/jupyterhub.yml",
        "client jupyterhub",
        "unknown template 'jupyterhub-hbu'",
        "jupyterhub-hub",
    )
    assert str(idp / "templates/clients") in line


@pytest.mark.parametrize("name", ["../realms/demo/realm", "", 3, None])
def test_template_must_be_a_plain_name(idp: Path, name: Any) -> None:
    edit(jupyterhub(idp), lambda d: d.update(template=name))
    the_problem(
        idp, "realms/demo/clients/jupyterhub.yml", "client None", "template must name a file"
    )


def test_missing_template_variable(idp: Path) -> None:
    edit(jupyterhub(idp), lambda d: d["vars"].pop("secret"))
    the_problem(
        idp,
        "realms/demo/clients/jupyterhub.yml",
        "client jupyterhub",
        "missing template variable 'secret'",
        "jupyterhub-hub",
    )


def test_unknown_template_variable(idp: Path) -> None:
    edit(jupyterhub(idp), lambda d: d["vars"].update(prefix="/x"))
    the_problem(
        idp,
        "realms/demo/clients/jupyterhub.yml",
        "client jupyterhub",
        "unknown key 'prefix' in vars",
        "['exchange_client', 'internal_url', 'name', 'path', 'secret']",
    )


def test_template_variable_must_be_a_scalar(idp: Path) -> None:
    edit(jupyterhub(idp), lambda d: d["vars"].update(path=["/a", "/b"]))
    the_problem(
        idp,
        "realms/demo/clients/jupyterhub.yml",
        "client jupyterhub",
        "vars: path must be a string",
    )


def test_vars_without_a_template_is_an_unknown_key(idp: Path) -> None:
    edit(jupyterhub(idp), lambda d: d.pop("template"))
    code, lines = validate(idp)
    assert code == 1
    assert f"{jupyterhub(idp)}: client None: unknown key 'vars'" in "\n".join(problems(lines))


def test_template_using_an_undeclared_variable_names_the_template(idp: Path) -> None:
    edit(hub_template(idp), lambda d: d.update(baseUrl="{{ base }}/hub/"))
    the_problem(
        idp,
        "templates/clients/jupyterhub-hub.yml",
        "template jupyterhub-hub",
        "{{base}}",
        "does not declare 'base'",
    )


def test_template_naming_another_template(idp: Path) -> None:
    edit(hub_template(idp), lambda d: d.update(template="other"))
    the_problem(
        idp, "templates/clients/jupyterhub-hub.yml", "template jupyterhub-hub", "another template"
    )


def test_template_that_is_not_valid_yaml(idp: Path) -> None:
    hub_template(idp).write_text("clientId: [jupyterhub\n")
    the_problem(idp, "templates/clients/jupyterhub-hub.yml", "file", "not valid YAML")


def test_template_that_is_not_a_mapping(idp: Path) -> None:
    hub_template(idp).write_text("- clientId: jupyterhub\n")
    the_problem(
        idp, "templates/clients/jupyterhub-hub.yml", "template jupyterhub-hub", "expected a mapping"
    )


def test_placeholder_unset_in_a_template_names_the_client_file(idp: Path) -> None:
    """${VAR} is resolved after the merge: the problem names the file that uses the template."""
    variables = {k: v for k, v in VARIABLES.items() if k != "JUPYTERHUB_CLIENT_SECRET"}
    the_problem(
        idp,
        "realms/demo/clients/jupyterhub.yml",
        "file",
        "${JUPYTERHUB_CLIENT_SECRET} is not set",
        variables=variables,
    )


def test_the_research_realm_validates(idp: Path) -> None:
    variables = {
        **VARIABLES,
        "RESEARCH_HUB_CLIENT_SECRET": "y",
        "RESEARCH_EXCHANGE_CLIENT_SECRET": "x",
        "DEMO_PASSWORD_RESEARCHER": "z",
    }
    assert validate(idp, realms=["demo", "research"], variables=variables) == (
        0,
        ["idp/ is valid: realms demo, research."],
    )
