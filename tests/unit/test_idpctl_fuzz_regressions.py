"""Inputs the fuzzing of idp/ files (tests/fuzz/test_idpctl_files.py) found breaking idpctl,
each kept as a focused test: a traceback instead of a problem naming the file and the field, a
change that validated but failed half-way through apply, or a plan that never became empty.

Each test edits a copy of the real idp/ folder (the ``idp`` fixture)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
import yaml

from idpctl import cli
from idpctl.admin import AdminError, KeycloakAdmin, segment
from idpctl.apply import Applier
from idpctl.kinds.clients import sync_client_scopes
from idpctl.live import Live, managed_names
from idpctl.model import Desired
from idpctl.plan import Change, compute
from tests.support.idp_files import IDP_VARIABLES as VARIABLES

HUB_CLIENT = "realms/demo/clients/jupyterhub.yml"
HUB_TEMPLATE = "templates/clients/jupyterhub-hub.yml"


def edit(path: Path, change: Callable[[Any], Any]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def problems(idp: Path, command: str = "validate") -> list[str]:
    """The problem lines of an invalid folder; asserts that nothing reached Keycloak."""
    lines: list[str] = []

    def no_keycloak(variables: dict[str, str]) -> None:
        raise AssertionError("an invalid folder must send nothing to Keycloak")

    with mock.patch.object(cli, "connect", no_keycloak):
        code = cli.run(command, idp, ["demo"], VARIABLES, out=lines.append)
    assert code == 1, lines
    assert lines[0].startswith(f"idp/ is not valid ({len(lines) - 1} problem(s))"), lines
    return [line.strip() for line in lines[1:]]


def the_problem(idp: Path, file: str, obj: str, *words: str) -> str:
    """The one problem line naming ``file`` and ``obj``, with every word in it."""
    found = [p for p in problems(idp) if p.startswith(f"{idp / file}: {obj}: ")]
    assert len(found) == 1, problems(idp)
    for word in words:
        assert word in found[0], found[0]
    return found[0]


# --- files that cannot be read: a problem, never a traceback --------------------------------


def test_a_missing_api_registry_is_a_problem(idp: Path) -> None:  # was FileNotFoundError
    (idp / "apis.yml").unlink()
    the_problem(idp, "apis.yml", "file", "cannot be read", "No such file", "apis: {}")


def test_a_missing_realms_folder_is_a_problem(idp: Path) -> None:  # was FileNotFoundError
    shutil.rmtree(idp / "realms")
    the_problem(idp, "realms/demo", "realm demo", "no such folder")


@pytest.mark.parametrize("how", ["folder", "link to a folder"])
def test_a_folder_named_like_a_client_file_is_a_problem(idp: Path, how: str) -> None:
    path = idp / "realms/demo/clients/loop.yml"  # was IsADirectoryError
    if how == "folder":
        path.mkdir()
    else:
        os.symlink(".", path)
    the_problem(idp, "realms/demo/clients/loop.yml", "file", "cannot be read", "directory")


@pytest.mark.parametrize(
    ("file", "content"),
    [("apis.yml", b"\xff\xfe\x00garbage"), ("realms/demo/users.yml", b"key: \x80\x81\n")],
)
def test_binary_garbage_is_a_problem(idp: Path, file: str, content: bytes) -> None:
    (idp / file).write_bytes(content)  # was UnicodeDecodeError
    the_problem(idp, file, "file", "not UTF-8 text")


@pytest.mark.parametrize("content", ["realm: &r {x: *r}\n", "- &a [*a]\n"], ids=["mapping", "list"])
def test_an_alias_that_contains_itself_is_a_problem(idp: Path, content: str) -> None:
    (idp / HUB_CLIENT).write_text(content)  # was RecursionError in the template merge
    the_problem(idp, HUB_CLIENT, "file", "refers to a value that contains it")


def test_deep_nesting_is_a_problem(idp: Path) -> None:
    (idp / "realms/demo/realm.yml").write_text("[" * 900 + "]" * 900)  # was RecursionError
    the_problem(idp, "realms/demo/realm.yml", "file", "nests deeper than")


def test_an_alias_bomb_is_refused_at_once(idp: Path) -> None:
    """9 aliases of 9 aliases... 7 levels deep: 4.8 million values once expanded (idpctl
    took 9 s and the memory to expand them before failing in Keycloak)."""
    lines = ["anchors:", "  - &a0 lol"]
    lines += [f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 8)]
    (idp / "realms/demo/realm.yml").write_text("\n".join([*lines, "displayName: *a7", ""]))
    start = time.perf_counter()
    the_problem(idp, "realms/demo/realm.yml", "file", "expands to more than")
    assert time.perf_counter() - start < 2


def test_a_duplicate_key_is_a_problem_not_the_last_value(idp: Path) -> None:
    realm = idp / "realms/demo/realm.yml"  # YAML forbids it; yaml.safe_load kept the last
    realm.write_text(realm.read_text() + "enabled: false\n")
    the_problem(idp, "realms/demo/realm.yml", "file", "duplicate key 'enabled'", "line ", "column ")


# --- values of the wrong type: a problem naming the file, the object and the key ------------


def test_template_vars_with_keys_of_mixed_types(idp: Path) -> None:
    edit(idp / HUB_CLIENT, lambda d: d["vars"].update({1.5: d["vars"].pop("name")}))
    line = the_problem(idp, HUB_CLIENT, "client jupyterhub", "unknown key 1.5 in vars")
    assert HUB_TEMPLATE in line  # was TypeError: '<' not supported between str and float


def test_a_name_that_is_a_list(idp: Path) -> None:
    edit(idp / "realms/demo/groups.yml", lambda d: d[2].update(name=[2149]))
    the_problem(idp, "realms/demo/groups.yml", "group", "name must be a name", "[2149]")


def test_a_redirect_uri_that_is_null(idp: Path) -> None:
    edit(idp / HUB_TEMPLATE, lambda d: d["redirectUris"].__setitem__(0, None))
    problem = [p for p in problems(idp) if "redirectUris" in p]  # was TypeError in re.match
    assert problem and problem[0].startswith(f"{idp / HUB_CLIENT}: client jupyterhub: ")


def test_a_key_that_is_not_a_string(idp: Path) -> None:
    edit(idp / "realms/demo/clients/jupyterhub-exchange.yml", lambda d: d.update({-1: {}}))
    the_problem(  # was AttributeError in the plan: JSON makes it "-1", never equal again
        idp,
        "realms/demo/clients/jupyterhub-exchange.yml",
        "client jupyterhub-exchange",
        "key -1 is a int",
    )


def test_a_boolean_key_in_group_attributes(idp: Path) -> None:
    edit(
        idp / "realms/demo/groups.yml",
        lambda d: d[0].update(attributes={False: ["Approved to use JupyterHub"]}),
    )
    the_problem(idp, "realms/demo/groups.yml", "group hub-users", "attributes", "key False")


def test_a_date_is_a_problem_not_a_traceback_during_apply(idp: Path) -> None:
    edit(idp / HUB_CLIENT, lambda d: d["vars"].update(name=datetime.date(2000, 2, 1)))
    found = problems(idp, "apply")  # was TypeError: Object of type date is not JSON serializable
    assert any("client jupyterhub: name: 2000-02-01 is a date" in p for p in found), found


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("enabled", [], "enabled: must be true or false, got []"),
        ("accessTokenLifespan", "5m", "accessTokenLifespan: must be a whole number"),
        ("accessTokenLifespan", 2**40, "accessTokenLifespan: is out of range"),
        ("enabledEventTypes", [{"LOGIN": 1}], "enabledEventTypes: must be a list of strings"),
        ("attributes", {"idpctl.managed": "x"}, "attributes.idpctl.managed is idpctl's record"),
        ("id", "my-id", "id: is Keycloak's own"),
        ("displayName", "Ri\x00ta", "displayName: contains a NUL character"),
    ],
)
def test_realm_settings_keycloak_would_refuse_half_way(
    idp: Path, key: str, value: Any, words: str
) -> None:
    """Validated, then refused by Keycloak (HTTP 400, or 500 from the database) after the
    realms before it were applied; or never equal to what Keycloak answers."""
    edit(idp / "realms/demo/realm.yml", lambda d: d.update({key: value}))
    assert any(
        p.startswith(f"{idp / 'realms/demo/realm.yml'}: realm demo: ") and words in p
        for p in problems(idp, "apply")
    ), problems(idp)


def test_a_nul_character_in_a_key(idp: Path) -> None:
    """The database refuses it (HTTP 500) once the objects before it were applied."""
    edit(idp / HUB_CLIENT, lambda d: d.update(attributes={"nul\x00byte": ""}))
    the_problem(idp, HUB_CLIENT, "client jupyterhub", "attributes: key", "NUL character")


def test_a_protocol_mapper_without_a_name(idp: Path) -> None:
    edit(idp / HUB_TEMPLATE, lambda d: d["protocolMappers"][1].pop("name"))
    the_problem(idp, HUB_CLIENT, "client jupyterhub", "protocolMappers[1].name")  # was KeyError


def test_protocol_mappers_that_are_a_string(idp: Path) -> None:
    edit(idp / HUB_TEMPLATE, lambda d: d.update(protocolMappers="groups"))
    the_problem(idp, HUB_CLIENT, "client jupyterhub", "protocolMappers: must be a list")


def test_two_protocol_mappers_with_one_name(idp: Path) -> None:
    """Keycloak answers 409 to the second: the client was created, its mappers half made."""
    (idp / "realms/demo/clients/x.yml").write_text(
        "clientId: x\npublicClient: true\nprotocolMappers:\n"
        "- {name: m, protocol: openid-connect, protocolMapper: oidc-audience-mapper}\n"
        "- {name: m, protocol: openid-connect, protocolMapper: oidc-hardcoded-claim}\n"
    )
    the_problem(idp, "realms/demo/clients/x.yml", "client x", "a second protocol mapper 'm'")


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["..", ".", " ", "new\nline", "tab\tname"])
def test_a_role_name_that_is_no_name(idp: Path, name: str) -> None:
    (idp / "realms/demo/roles").mkdir(exist_ok=True)
    (idp / "realms/demo/roles/r.yml").write_text(yaml.safe_dump({"name": name}))
    the_problem(idp, "realms/demo/roles/r.yml", "role", "name must be a name")


@pytest.mark.parametrize(
    ("folder", "name", "kind"),
    [
        ("client-scopes", "profile", "client scope"),
        ("roles", "offline_access", "role"),
        ("clients", "account", "client"),
    ],
)
def test_a_file_defining_a_keycloak_builtin(idp: Path, folder: str, name: str, kind: str) -> None:
    """A new realm has it already: creating it answered 409 half-way through the apply."""
    (idp / "realms/demo" / folder).mkdir(exist_ok=True)
    key = "clientId" if folder == "clients" else "name"
    (idp / "realms/demo" / folder / "x.yml").write_text(f"{key}: {name}\n")
    the_problem(idp, f"realms/demo/{folder}/x.yml", f"{kind} {name}", "built-in")


def test_an_uppercase_username(idp: Path) -> None:
    """Keycloak keeps usernames in lowercase: the plan showed + user Reader for ever."""
    edit(idp / "realms/demo/users.yml", lambda d: d[0].update(username="Reader"))
    the_problem(idp, "realms/demo/users.yml", "user Reader", "username", "'reader'")


def test_a_missing_group_names_the_groups_file(idp: Path) -> None:
    edit(idp / "realms/research/groups.yml", lambda d: d.pop(0))
    lines: list[str] = []
    variables = {
        **VARIABLES,
        "RESEARCH_HUB_CLIENT_SECRET": "y",
        "RESEARCH_EXCHANGE_CLIENT_SECRET": "x",
        "DEMO_PASSWORD_RESEARCHER": "z",
    }
    assert cli.run("validate", idp, ["research"], variables, out=lines.append) == 1
    line = next(p for p in lines if "user researcher" in p)
    assert str(idp / "realms/research/groups.yml") in line, line


def test_a_template_name_too_long_for_a_file_name(idp: Path) -> None:
    edit(
        idp / "realms/demo/clients/jupyterhub-exchange.yml", lambda d: d.update(template="x" * 300)
    )
    the_problem(  # was OSError: [Errno 36] File name too long
        idp, "realms/demo/clients/jupyterhub-exchange.yml", "client None", "unknown template"
    )


def test_a_broken_template_names_the_template_file(idp: Path) -> None:
    (idp / HUB_TEMPLATE).write_text("x: ''\n")  # no vars, no clientId
    assert any(str(idp / HUB_TEMPLATE) in p for p in problems(idp)), problems(idp)


def test_an_empty_template_names_the_template_file(idp: Path) -> None:
    """Found by the fuzz suite: an empty template blamed only the client file."""
    laptop = idp / "templates/clients/hubtokens-laptop.yml"
    laptop.write_text("{}\n")
    assert any(str(laptop) in p and "clientId is required" in p for p in problems(idp)), problems(
        idp
    )


def test_an_unset_placeholder_names_the_key(idp: Path) -> None:
    edit(idp / "realms/demo/users.yml", lambda d: d[1].update(email="${UNDEFINED_SECRET}"))
    the_problem(idp, "realms/demo/users.yml", "file", "${UNDEFINED_SECRET}", "(in [1].email)")


def test_a_realm_name_that_is_a_path(idp: Path) -> None:
    lines: list[str] = []
    assert cli.run("validate", idp, [".."], VARIABLES, out=lines.append) == 1
    assert any("realm ..: a realm's name" in line for line in lines), lines


# --- plan and apply against Keycloak ---------------------------------------------------------


class Recorder:
    """A Keycloak admin API that answers from a table and records every request."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers, self.calls = answers, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode().split("?")[0].removeprefix("/admin/realms")
        self.calls.append((request.method, path))
        if (request.method, path) in self.answers:
            return httpx.Response(200, json=self.answers[request.method, path])
        if request.method == "GET":
            return httpx.Response(404, json={"error": "not found"})
        return httpx.Response(204)


def admin_for(recorder: Recorder) -> KeycloakAdmin:
    admin = KeycloakAdmin.__new__(KeycloakAdmin)
    admin.base_url = "http://keycloak.invalid"
    admin.http = httpx.Client(
        base_url="http://keycloak.invalid/admin/realms", transport=httpx.MockTransport(recorder)
    )
    return admin


@pytest.mark.parametrize("name", ["..", "a/../../x", "hash#frag", "query?x=1"])
def test_a_role_is_deleted_by_its_id_never_by_its_name(name: str) -> None:
    """A managed role named .. once made DELETE /admin/realms/demo/roles/.. — which the HTTP
    client normalises to DELETE /admin/realms/demo: the whole realm."""
    recorder = Recorder({("GET", "/demo/roles"): [{"name": name, "id": "r-1"}]})
    Applier(admin_for(recorder), Desired("demo", {})).run(Change("roles", "delete", name))
    assert recorder.calls[-1] == ("DELETE", "/demo/roles-by-id/r-1")


def test_a_role_mapping_takes_the_role_named_not_a_prefix_of_it() -> None:
    """GET /demo/roles/hash#frag asked for the role "hash" (the rest is a URL fragment):
    a 404 half-way through the apply, or the wrong role for the group."""
    roles = [{"name": "hash", "id": "r-1"}, {"name": "hash#frag", "id": "r-2"}]
    recorder = Recorder({("GET", "/demo/roles"): roles, ("GET", "/demo/groups/g-1/x"): []})
    applier = Applier(admin_for(recorder), Desired("demo", {}))
    applier.sync_role_mappings("/demo/groups/g-1/x", ["hash#frag"])
    assert recorder.calls[-1] == ("POST", "/demo/groups/g-1/x")


def test_a_path_segment_is_never_a_dot_segment() -> None:
    assert segment("a/b?c#d e") == "a%2Fb%3Fc%23d%20e"
    for name in (".", "..", "..."):
        with pytest.raises(AdminError):
            segment(name)


def test_a_garbled_tracking_attribute_is_an_admin_error() -> None:
    with pytest.raises(AdminError, match="idpctl.managed"):  # was JSONDecodeError
        managed_names("x", "demo")
    with pytest.raises(AdminError):
        managed_names("[1]", "demo")  # was AttributeError
    assert managed_names(json.dumps({"roles": ["a"], "other": [1]}), "demo") == {"roles": {"a"}}


def live_client(**fields: Any) -> Live:
    live = Live(exists=True)
    live.clients["x"] = {"clientId": "x", "id": "c-1", "_protocolMappers": [], **fields}
    return live


def test_a_public_clients_secret_is_not_compared() -> None:
    """Keycloak keeps no secret for a public client: the plan showed a change for ever."""
    want = {"clientId": "x", "publicClient": True, "secret": "s", "_protocolMappers": []}
    d = Desired("demo", {}, clients={"x": want})
    assert [c for c in compute(d, live_client(publicClient=True)) if c.kind == "clients"] == []


def test_a_null_field_is_left_as_keycloak_has_it() -> None:
    want = {"clientId": "x", "description": None, "_protocolMappers": []}
    d = Desired("demo", {}, clients={"x": want})
    live = live_client(description="from Keycloak")
    assert [c for c in compute(d, live) if c.kind == "clients"] == []


def test_an_optional_scope_that_keycloak_has_as_default_moves() -> None:
    """Keycloak links a new client to its default scopes (profile among them) and ignores a
    second link: listing profile as optional only showed "+ profile" for ever."""
    want = {
        "clientId": "x",
        "_protocolMappers": [],
        "_defaultScopes": None,
        "_optionalScopes": ["profile"],
    }
    live = live_client(_defaultScopes=["basic", "profile"], _optionalScopes=[])
    (change,) = [c for c in compute(Desired("demo", {}, clients={"x": want}), live)]
    assert change.details == [
        "default client scopes: - profile",
        "optional client scopes: + profile",
    ]
    recorder = Recorder(
        {
            ("GET", "/demo/client-scopes"): [
                {"name": "basic", "id": "s-1"},
                {"name": "profile", "id": "s-2"},
            ],
            ("GET", "/demo/clients/c-1/default-client-scopes"): [
                {"name": "basic", "id": "s-1"},
                {"name": "profile", "id": "s-2"},
            ],
            ("GET", "/demo/clients/c-1/optional-client-scopes"): [],
        }
    )
    sync_client_scopes(Applier(admin_for(recorder), Desired("demo", {})), "c-1", None, ["profile"])
    writes = [c for c in recorder.calls if c[0] != "GET"]
    assert writes == [
        ("DELETE", "/demo/clients/c-1/default-client-scopes/s-2"),
        ("PUT", "/demo/clients/c-1/optional-client-scopes/s-2"),
    ]


def test_a_scope_in_both_lists_is_a_problem(idp: Path) -> None:
    edit(idp / HUB_CLIENT, lambda d: d.update(optionalClientScopes=["profile"]))
    the_problem(idp, HUB_CLIENT, "client jupyterhub", "both a default and an optional scope")
