"""idpctl validate, plan and apply over generated and mutated idp/ files (issue 10).

Every case starts from the repository's own idp/ folder, written into a fresh temporary folder,
and changes it: keys deleted, renamed or added, values of another type, names with unicode,
spaces, slashes or dots, references to groups, roles, scopes, clients or APIs that do not
exist, ${UNDEFINED_SECRET} placeholders, invalid YAML (tabs, unclosed quotes, duplicate keys,
alias bombs of a bounded size, recursive aliases, deep nesting), empty files, binary garbage,
huge strings, missing files and folders, stray files, folders and symbolic links.

The properties:

- ``validate`` never raises: it says the folder is valid, or exits 1 with idpctl's own message
  (``ConfigError`` behind it), one line per problem, each naming the file (under the idp
  folder) and the object, and for a single change the changed key (or the changed file).
- ``plan`` against a fake Keycloak admin API says what ``validate`` says when the files are
  invalid, sending no request at all, and never writes.
- ``apply`` sends nothing when the files are invalid (validation comes before any write); when
  they are valid, it applies the whole change and a second plan shows no change. The fake
  refuses (HTTP 400/409, as Keycloak does) a value of another JSON type than the real files
  use for the same field, a duplicate name, and a path that names no object: a change that
  validates must never fail half-way.
"""

from __future__ import annotations

import copy
import datetime
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from hypothesis import event, example, given, note
from hypothesis import strategies as st

from apiregistry import ConfigError
from idpctl import cli, plan
from idpctl import live as live_state
from tests.support.fake_keycloak import FakeAdmin, FakeKeycloak
from tests.support.idp_files import IDP_REALMS as REALMS
from tests.support.idp_files import IDP_REALMS_VARIABLES as VARIABLES
from tests.support.idp_files import SEED, write_seed

# --- the seed: the repository's idp/ folder -----------------------------------------------

SEED_DIRS = sorted(
    {str(Path(f).parent) for f in SEED if str(Path(f).parent) != "."}
    | {"realms/demo/roles", "realms/demo/client-scopes"}
)
YAML_FILES = sorted(f for f in SEED if f.endswith(".yml"))
SEED_DATA: dict[str, Any] = {f: yaml.safe_load(SEED[f]) for f in YAML_FILES}


def all_paths(data: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key path in a parsed document, the root () first."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from all_paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from all_paths(value, (*prefix, i))


def all_keys(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set(map(str, data)).union(*(all_keys(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(all_keys(v) for v in data))
    return set()


SEED_PATHS = {f: list(all_paths(SEED_DATA[f])) for f in YAML_FILES}
SEED_KEYS = sorted(set().union(*(all_keys(d) for d in SEED_DATA.values())))

# --- changes to the seed ------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """A change to one parsed YAML file, written back with yaml.safe_dump."""

    file: str  # relative to the idp folder
    path: tuple  # keys and indexes from the document's root
    op: str  # delete | set | rename | add
    value: Any = None  # set: the new value; rename: the new key; add: (key, value) or an item


@dataclass(frozen=True)
class Write:
    """A file written as it is (text or bytes); None: a folder."""

    file: str
    content: str | bytes | None


@dataclass(frozen=True)
class Remove:
    file: str  # a file or a folder


@dataclass(frozen=True)
class Link:
    file: str
    target: str  # relative to the link's folder


Change = Edit | Write | Remove | Link


def apply_change(idp: Path, change: Change) -> None:
    """Make ``change`` in the folder; a change that no longer applies (its file or key is
    gone after an earlier change) is skipped."""
    path = idp / change.file
    if isinstance(change, Remove):
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    elif isinstance(change, Link):
        if not path.parent.is_dir() or path.exists() or path.is_symlink():
            return
        os.symlink(change.target, path)
    elif isinstance(change, Write):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if change.content is None:
                path.mkdir(exist_ok=True)
            elif isinstance(change.content, bytes):
                path.write_bytes(change.content)
            else:
                path.write_text(change.content, encoding="utf-8")
        except OSError:  # a file where a folder should be, a folder where a file should be
            return
    else:
        edit(path, change)


def edit(path: Path, change: Edit) -> None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError, yaml.YAMLError):
        return
    root = [data]  # the document as item 0 of a list: every node has a parent
    parent: Any = root
    key: Any = 0
    for k in change.path:
        if not _has(parent[key], k):
            return
        parent, key = parent[key], k
    if change.op == "add":
        target = parent[key]
        if isinstance(target, list):
            target.append(change.value)
        elif isinstance(target, dict) and isinstance(change.value, tuple):
            target[change.value[0]] = change.value[1]
        else:
            return
    elif change.op == "set":
        parent[key] = change.value
    elif parent is root:  # delete or rename the document itself
        return
    elif change.op == "delete":
        del parent[key]
    elif change.op == "rename" and isinstance(parent, dict):
        items = [(change.value if k == key else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
    path.write_text(yaml.safe_dump(root[0], allow_unicode=True, sort_keys=False), encoding="utf-8")


def _has(container: Any, key: Any) -> bool:
    if isinstance(container, dict):
        return key in container
    if isinstance(container, list):
        return isinstance(key, int) and 0 <= key < len(container)
    return False


# --- strategies ---------------------------------------------------------------------------

#: Object names: unicode, spaces, URL delimiters, dot segments, reserved and existing names.
NAMES = [
    "new-thing",
    "with space",
    " padded ",
    "ünïcödé-名前",
    "emoji-🎉",
    "slash/name",
    "/leading-slash",
    "semi;colon",
    "query?x=1",
    "hash#frag",
    "percent%41",
    "plus+sign",
    ".",
    "..",
    "a/../../x",
    "",
    " ",
    "UPPER",
    "tab\tname",
    "new\nline",
    "nul\x00byte",
    "x" * 300,
    "${UNDEFINED_SECRET}",
    "{{name}}",
    "idpctl.managed",
    "fruit-readers",
    "fruit-reader",
    "fruits:read",
    "jupyterhub",
    "jupyterhub-exchange",
    "fruit-api",
    "account",
    "profile",
    "offline_access",
    "hub-users",
    "reader",
    "no-such-group",
    "no-such-role",
    "no-such-scope",
    "no-such-client",
    "no-such-api",
]
names = st.sampled_from(NAMES)
SPECIAL_STRINGS = [
    "${UNDEFINED_SECRET}",
    "prefix-${UNDEFINED_SECRET}-suffix",
    "${HUB_PUBLIC_URL}",
    "$${escaped}",
    "${",
    "{{name}}",
    "{{undeclared}}",
    "true",
    "FALSE",
    "300",
    "-1",
    "1e3",
    "",
    "http://ok.example/cb",
    "/relative/cb",
    "x" * 200_000,
]
keys = st.one_of(
    st.sampled_from(SEED_KEYS),
    st.sampled_from(["colour", "displayNam", "Realm", "id", "_file", "_roles", "template", "vars"]),
    names,
    st.text(max_size=8),
    st.integers(-2, 2),
    st.sampled_from([1.5, True, False, None, datetime.date(2020, 1, 1)]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=12),
    names,
    st.sampled_from(SPECIAL_STRINGS),
    st.dates(),
    st.datetimes(),
    st.binary(max_size=6),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=8,
)


def alias_bomb(depth: int, width: int, where: str) -> str:
    """Anchors each referring ``width`` times to the previous one: width**depth values."""
    lines = ["anchors:", "  - &a0 lol"]
    for i in range(1, depth + 1):
        lines.append(f"  - &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    if where == "list":
        return "- name: bomb\n  attributes:\n    x: *a0\n" + "\n".join(
            ["- " + line.strip() for line in lines[1:]]
        )
    return "\n".join([*lines, f"{where}: *a{depth}"]) + "\n"


@st.composite
def text_damage(draw: st.DrawFn, file: str) -> str:
    """The seed text of ``file`` damaged the way hands damage YAML."""
    text = SEED[file].decode()
    lines = text.splitlines(keepends=True)
    i = draw(st.integers(0, len(lines) - 1))
    kind = draw(st.sampled_from(["tab", "quote", "duplicate", "truncate", "insert", "crlf"]))
    if kind == "tab":
        lines[i] = "\t" + lines[i].lstrip(" ")
    elif kind == "quote":
        at = draw(st.integers(0, len(lines[i])))
        lines[i] = (
            lines[i][:at]
            + draw(st.sampled_from(['"', "'", "[", "{", "&", "*", "!"]))
            + (lines[i][at:])
        )
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    elif kind == "insert":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.text(min_size=1, max_size=4)) + text[at:]
    else:
        return text.replace("\n", "\r\n")
    return "".join(lines)


def raw_contents(file: str) -> st.SearchStrategy[str | bytes]:
    return st.one_of(
        st.sampled_from(["", "   \n", "# only a comment\n", "~\n", "[]\n", "{}\n", "---\n---\n"]),
        st.binary(min_size=1, max_size=40),
        st.sampled_from([b"\xff\xfe\x00garbage", b"\x00\x01\x02", b"key: \x80\x81\n"]),
        text_damage(file),
        st.builds(
            alias_bomb,
            st.integers(1, 7),
            st.integers(2, 9),
            st.sampled_from(["displayName", "apis", "realm", "list"]),
        ),
        st.sampled_from(
            [
                "a: &a [*a]\n",
                "- &a [*a]\n",
                "realm: &r {x: *r}\n",
                "[" * 2000 + "]" * 2000,
                "a: 1\na: 2\n",
                "{? [a, b] : c}\n",
                "!!python/object:os.system x\n",
                "a: !!binary AAAA\n",
                "a: !!set {x, y}\n",
                "a: 2020-01-01\n",
                "a: .nan\n",
                "\ufeffa: 1\n",
                "a: 'unclosed\n",
                'a: "unclosed\n',
                "\ta: 1\n",
            ]
        ),
        values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
    )


@st.composite
def edits(draw: st.DrawFn) -> Edit:
    file = draw(st.sampled_from(YAML_FILES))
    path = draw(st.sampled_from(SEED_PATHS[file]))
    node = SEED_DATA[file]
    for key in path:
        node = node[key]
    ops = ["set"]
    if path:
        ops += ["delete"]
        if isinstance(path[-1], str):
            ops += ["rename"]
    if isinstance(node, dict | list):
        ops += ["add"]
    op = draw(st.sampled_from(ops))
    if op == "rename":
        return Edit(file, path, op, draw(keys))
    if op == "add":
        value = draw(new_objects(file, path) | values)
        if isinstance(node, dict) and not isinstance(value, tuple):
            value = (draw(keys), value)
        return Edit(file, path, op, value)
    if op == "delete":
        return Edit(file, path, op)
    return Edit(file, path, op, draw(values))


def mappers() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "name": names,
            "protocol": st.just("openid-connect"),
            "protocolMapper": st.sampled_from(["oidc-audience-mapper", "oidc-hardcoded-claim"]),
        },
        optional={"config": st.dictionaries(names, st.sampled_from(["true", "x", 3]))},
    )


@st.composite
def new_objects(draw: st.DrawFn, file: str, path: tuple) -> Any:
    """A new group, user or API for a list or mapping of the seed (or any value)."""
    if file.endswith("groups.yml") and path == ():
        return {
            "name": draw(names),
            "attributes": {"description": [draw(st.text(max_size=10))]},
            "realmRoles": draw(st.lists(names, max_size=2)),
        }
    if file.endswith("users.yml") and path == ():
        return {
            "username": draw(names),
            "enabled": True,
            "groups": draw(st.lists(names, max_size=2)),
            "credentials": [{"type": "password", "value": "pw-1A-long-enough"}],
        }
    if file == "apis.yml" and path == ("apis",):
        scope = {"role": draw(names), "groups": draw(st.lists(names, max_size=2))}
        realm = draw(st.sampled_from(["demo", "research", "no-such-realm"]))
        return (draw(names), {"realm": realm, "scopes": {draw(names): scope}})
    return draw(values)


@st.composite
def new_files(draw: st.DrawFn) -> Write:
    """A new client, client scope or role file, with generated names and mappers."""
    realm = draw(st.sampled_from(REALMS))
    kind = draw(st.sampled_from(["clients", "client-scopes", "roles"]))
    file = f"realms/{realm}/{kind}/generated-{draw(st.integers(0, 3))}.yml"
    if kind == "clients":
        obj = draw(
            st.fixed_dictionaries(
                {"clientId": names},
                optional={
                    "publicClient": st.booleans(),
                    "redirectUris": st.lists(st.sampled_from(SPECIAL_STRINGS[-3:-1]), max_size=2),
                    "protocolMappers": st.lists(mappers(), max_size=3),
                    "defaultClientScopes": st.lists(names, max_size=2),
                    "optionalClientScopes": st.lists(names, max_size=2),
                    "attributes": st.dictionaries(names, st.text(max_size=5), max_size=2),
                },
            )
        )
        if draw(st.booleans()):
            obj.update(template="jupyterhub-hub", vars={"secret": "s", "path": "/x"})
    elif kind == "client-scopes":
        obj = draw(
            st.fixed_dictionaries(
                {"name": names},
                optional={
                    "protocol": st.just("openid-connect"),
                    "protocolMappers": st.lists(mappers(), max_size=3),
                    "roles": st.lists(names, max_size=2),
                },
            )
        )
    else:
        obj = {"name": draw(names), "description": draw(st.text(max_size=10))}
    return Write(file, yaml.safe_dump(obj, allow_unicode=True))


STRAY_NAMES = [
    "notes.txt",
    ".hidden.yml",
    "x y.yml",
    "ünï.yml",
    "roles.yml",
    "clients.yml",
    "client-scopes.yml",
    "extra.yaml",
    "backup.yml~",
    "new.yml",
]


@st.composite
def file_changes(draw: st.DrawFn) -> Change:
    kind = draw(st.sampled_from(["remove", "raw", "stray", "folder", "link", "realm"]))
    if kind == "remove":
        return Remove(draw(st.sampled_from([*SEED, *SEED_DIRS, "realms", "templates"])))
    if kind == "raw":
        file = draw(st.sampled_from(YAML_FILES))
        return Write(file, draw(raw_contents(file)))
    if kind == "stray":
        folder = draw(st.sampled_from(["", "realms", *SEED_DIRS]))
        name = draw(st.sampled_from(STRAY_NAMES))
        content = draw(raw_contents("apis.yml") | st.builds(lambda w: w.content, new_files()))
        return Write(f"{folder}/{name}".lstrip("/"), content)
    if kind == "folder":
        folder = draw(st.sampled_from(SEED_DIRS))
        return Write(f"{folder}/{draw(st.sampled_from(['dir.yml', 'realm.yml', 'x']))}", None)
    if kind == "link":
        folder = draw(st.sampled_from(SEED_DIRS))
        target = draw(st.sampled_from(["loop.yml", ".", "..", "/nonexistent/x.yml"]))
        return Link(f"{folder}/loop.yml", target)
    realm = draw(st.sampled_from(["stray", "demo copy", "research"]))
    return Write(f"realms/{realm}/realm.yml", draw(raw_contents("realms/demo/realm.yml")))


def leaves(data: Any) -> Iterator[Any]:
    if isinstance(data, dict):
        for value in data.values():
            yield from leaves(value)
    elif isinstance(data, list):
        for value in data:
            yield from leaves(value)
    else:
        yield data


SEED_LEAVES = sorted({repr(v): v for d in SEED_DATA.values() for v in leaves(d)}.items())


@st.composite
def likely_valid_edits(draw: st.DrawFn) -> Edit:
    """A value of the seed replaced by another value of the same type (often still valid:
    these reach apply's updates), or a new group, user or API."""
    file = draw(st.sampled_from(YAML_FILES))
    paths = [p for p in SEED_PATHS[file] if p]
    path = draw(st.sampled_from(paths))
    node = SEED_DATA[file]
    for key in path:
        node = node[key]
    if isinstance(node, dict | list):
        value = draw(new_objects(file, path))
        if isinstance(node, dict) and not isinstance(value, tuple):
            value = (draw(names), value)
        return Edit(file, path, "add", value)
    same_type = [v for _, v in SEED_LEAVES if type(v) is type(node)]
    pool = same_type + (NAMES if isinstance(node, str) else [])
    return Edit(file, path, "set", draw(st.sampled_from(pool)))


one_change = st.one_of(edits(), file_changes(), new_files())
changes = st.lists(one_change, min_size=1, max_size=4)
#: For apply: half of the cases made of changes that often leave the folder valid.
apply_changes = changes | st.lists(likely_valid_edits() | new_files(), min_size=1, max_size=4)
starts = st.sampled_from(["empty", "applied"])

# --- the fake Keycloak (tests/support/fake_keycloak.py), empty or applied -----------------


@contextmanager
def keycloak(start: str) -> Iterator[FakeKeycloak]:
    """A fake Keycloak, empty or holding what applying the real idp/ folder made."""
    fake = copy.deepcopy(applied_seed()) if start == "applied" else FakeKeycloak()
    fake.calls.clear()
    with mock.patch.object(cli, "connect", lambda variables: FakeAdmin(fake)):
        yield fake


@functools.cache
def applied_seed() -> FakeKeycloak:
    fake = FakeKeycloak()
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(cli, "connect", lambda variables: FakeAdmin(fake)),
    ):
        idp = Path(tmp) / "idp"
        write_seed(idp)
        code, lines = run("apply", idp)
        assert code == 0, lines
        assert run("plan", idp) == (0, [f"Realm {r}: no changes." for r in REALMS])
    return fake


# --- running idpctl and checking what it says ---------------------------------------------


def run(command: str, idp: Path) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = cli.run(command, idp, REALMS, VARIABLES, out=lines.append)
    return code, lines


@contextmanager
def changed_seed(mutations: list[Change] | tuple[Change, ...]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        idp = Path(tmp) / "idp"
        write_seed(idp)
        for change in mutations:
            apply_change(idp, change)
        yield idp


def problems_of(idp: Path, code: int, lines: list[str]) -> list[tuple[str, str, str]]:
    """(file relative to the idp folder, object, message) of each problem; none when valid.
    Asserts idpctl's output format: a header counting the problems, one line for each."""
    assert code in (0, 1), (code, lines)
    if code == 0:
        assert lines == [f"idp/ is valid: realms {', '.join(REALMS)}."], lines
        return []
    header, *found = lines
    assert header == (
        f"idp/ is not valid ({len(found)} problem(s)); nothing was sent to Keycloak:"
    ), lines
    assert found, lines
    out = []
    prefix = f"  {idp}/"
    for line in found:
        assert line.startswith(prefix), (line, lines)
        parts = line[len(prefix) :].split(": ", 2)
        assert len(parts) == 3, line
        file, obj, message = parts
        assert file and ".." not in file.split("/"), line
        assert obj.strip() and message.strip(), line
        assert "Traceback" not in line, line
        out.append((file, obj, message))
    return out


def validate(idp: Path) -> tuple[int, list[str], list[tuple[str, str, str]]]:
    code, lines = run("validate", idp)
    problems = problems_of(idp, code, lines)
    event("valid" if code == 0 else "invalid")
    return code, lines, problems


def is_yaml(content: str | bytes | None) -> bool:
    try:
        yaml.safe_load(content)  # type: ignore[arg-type]
    except (ValueError, yaml.YAMLError, RecursionError):
        return False
    return True


def mentions(problems: list[tuple[str, str, str]], words: list[str]) -> bool:
    text = "\n".join(": ".join(p) for p in problems)
    return any(w in text for w in words if w)


# --- the properties -----------------------------------------------------------------------


HUB_CLIENT = "realms/demo/clients/jupyterhub.yml"
HUB_TEMPLATE = "templates/clients/jupyterhub-hub.yml"
EXCHANGE_CLIENT = "realms/demo/clients/jupyterhub-exchange.yml"
EXCHANGE_TEMPLATE = "templates/clients/jupyterhub-exchange.yml"


# Inputs that once broke idpctl (tests/unit/test_idpctl_fuzz_regressions.py has each).
@example(change=Remove("apis.yml"))  # FileNotFoundError
@example(change=Remove("realms"))  # FileNotFoundError
@example(change=Link("realms/demo/clients/loop.yml", "."))  # IsADirectoryError
@example(change=Write("realms/demo/clients/dir.yml", None))  # IsADirectoryError
@example(change=Write("apis.yml", b"\xff\xfe\x00garbage"))  # UnicodeDecodeError
@example(change=Write("realms/demo/users.yml", b"key: \x80\x81\n"))  # UnicodeDecodeError
@example(change=Write(HUB_CLIENT, "realm: &r {x: *r}\n"))  # RecursionError
@example(change=Write("realms/demo/realm.yml", "[" * 900 + "]" * 900))  # RecursionError
@example(change=Write("realms/demo/realm.yml", alias_bomb(7, 9, "displayName")))  # 9 s: 4.8M values
@example(
    change=Write("realms/demo/realm.yml", "realm: demo\nenabled: true\nenabled: false\n")
)  # last won
@example(change=Edit(HUB_CLIENT, ("vars", "name"), "rename", 1.5))  # TypeError (sorted)
@example(change=Edit(HUB_CLIENT, ("vars",), "set", {1: "x", "path": "y"}))  # TypeError (sorted)
@example(change=Edit("realms/demo/groups.yml", (2, "name"), "set", [2149]))  # unhashable list
@example(change=Edit(HUB_TEMPLATE, ("redirectUris", 0), "set", None))  # TypeError (re.match)
@example(change=Edit("realms/research/groups.yml", (0,), "delete"))  # names no groups.yml
@example(change=Edit(HUB_TEMPLATE, (), "set", {False: False, "x": ""}))  # names no template
@example(change=Edit("realms/research/realm.yml", ("enabled",), "set", []))  # valid: HTTP 400 later
@example(change=Edit(EXCHANGE_CLIENT, ("template",), "set", "x" * 300))  # OSError: name too long
@example(change=Edit(HUB_TEMPLATE, ("defaultClientScopes", 0), "set", ""))  # no field named
@example(change=Edit(EXCHANGE_TEMPLATE, ("name",), "rename", datetime.date(2020, 1, 1)))  # a date
@given(change=one_change)
def test_one_change_is_reported_by_file_and_field(change: Change) -> None:
    """The seed is valid, so a single change that makes it invalid is the cause: a problem
    names the changed key (or, for a document or a list item, the changed file)."""
    note(f"change: {change!r}")
    with changed_seed([change]) as idp:
        code, lines, problems = validate(idp)
    if code == 0:
        return
    if isinstance(change, Edit):
        words = [str(k) for k in change.path if isinstance(k, str)]
        if change.op == "rename":  # the new key, as written or as the parser read it
            words += [str(change.value), repr(change.value)]
        if change.op == "add" and isinstance(change.value, tuple):
            words.append(str(change.value[0]))
        if not words or not mentions(problems, words):
            assert mentions(problems, [change.file]), (change, lines)
    elif isinstance(change, Write) and change.file in SEED and not is_yaml(change.content):
        assert any(file == change.file for file, _, _ in problems), (change, lines)


@example(mutations=[Write("realms/demo/roles/x", None), Remove("realms")])
@given(mutations=changes)
def test_validate_never_fails_without_naming_file_and_object(mutations: list[Change]) -> None:
    note(f"changes: {mutations!r}")
    with changed_seed(mutations) as idp:
        code, lines, _ = validate(idp)
        try:  # the error type behind the exit code: ConfigError, with the same problems
            cli.load(idp, REALMS, VARIABLES)
        except ConfigError as e:
            assert code == 1
            assert [f"  {p}" for p in e.problems] == lines[1:]
        else:
            assert code == 0


@example(mutations=[Edit(EXCHANGE_CLIENT, (), "add", (-1, {}))], start="applied")  # AttributeError
@example(mutations=[Edit(HUB_TEMPLATE, ("protocolMappers", 1, "name"), "delete")], start="applied")
@example(mutations=[Edit(HUB_TEMPLATE, ("protocolMappers",), "set", "groups")], start="applied")
@given(mutations=changes, start=starts)
def test_plan_says_what_validate_says_and_never_writes(mutations: list[Change], start: str) -> None:
    note(f"changes: {mutations!r}, Keycloak: {start}")
    with changed_seed(mutations) as idp, keycloak(start) as fake:
        code, lines, problems = validate(idp)
        assert fake.calls == []
        plan_code, plan_lines = run("plan", idp)
        if problems:
            assert (plan_code, plan_lines) == (code, lines)
            assert fake.calls == [], "an invalid folder must send nothing to Keycloak"
        else:
            assert plan_code == 0, plan_lines
            assert fake.writes() == [], plan_lines
            heads = [line.splitlines()[0] for line in plan_lines]
            assert [h.split(":")[0] for h in heads] == [f"Realm {r}" for r in REALMS], heads


def client_file(text: str, realm: str = "demo") -> Write:
    return Write(f"realms/{realm}/clients/generated-0.yml", text)


ROLE_WITH_HASH = [
    Write("realms/demo/roles/r.yml", "name: 'hash#frag'\n"),  # GET /roles/hash: another role
    Edit("realms/demo/groups.yml", (0,), "add", ("realmRoles", ["hash#frag"])),
]


@example(mutations=[Edit(EXCHANGE_CLIENT, (), "add", (-1, {}))], start="empty")  # AttributeError
@example(
    mutations=[Edit(HUB_CLIENT, ("vars", "name"), "set", datetime.date(2000, 2, 1))],
    start="applied",
)
@example(mutations=[Edit("realms/research/realm.yml", ("enabled",), "set", [])], start="empty")
@example(
    mutations=[
        Edit("realms/research/groups.yml", (1, "attributes", "description"), "rename", False)
    ],
    start="applied",
)  # never converges
@example(
    mutations=[
        client_file(
            "clientId: x\npublicClient: true\ntemplate: jupyterhub-hub\nvars: {secret: s}\n"
        )
    ],
    start="empty",
)  # a public client's secret: never converges
@example(
    mutations=[Write("realms/demo/client-scopes/s.yml", "name: profile\n")], start="empty"
)  # 409
@example(mutations=[client_file("clientId: x\noptionalClientScopes: [profile]\n")], start="empty")
@example(mutations=ROLE_WITH_HASH, start="applied")  # 404 half-way
@example(
    mutations=[Write("realms/demo/roles/r.yml", "name: '..'\n")], start="applied"
)  # see regressions
@example(
    mutations=[
        client_file(
            "clientId: x\npublicClient: true\nprotocolMappers:\n"
            "- {name: m, protocol: openid-connect, protocolMapper: oidc-audience-mapper}\n"
            "- {name: m, protocol: openid-connect, protocolMapper: oidc-hardcoded-claim}\n"
        )
    ],
    start="applied",
)  # 409 half-way
@example(mutations=[Edit(HUB_TEMPLATE, ("protocolMappers", 1, "name"), "delete")], start="applied")
@example(
    mutations=[Edit("realms/demo/users.yml", (0, "username"), "set", "Reader")], start="applied"
)
@example(mutations=[Edit("realms/demo/groups.yml", (0,), "add", ("id", "my-id"))], start="applied")
@example(
    mutations=[Edit("realms/demo/users.yml", (0, "firstName"), "set", "Ri\x00ta")], start="applied"
)
@example(
    mutations=[client_file('clientId: x\nattributes: {"nul\\0byte": ""}\n')], start="empty"
)  # NUL in a key: HTTP 500 half-way
@example(
    mutations=[Edit("realms/demo/realm.yml", (), "add", ("attributes", {"idpctl.managed": "x"}))],
    start="applied",
)  # never converges
@given(mutations=apply_changes, start=starts)
def test_apply_writes_nothing_for_an_invalid_change_and_all_of_a_valid_one(
    mutations: list[Change], start: str
) -> None:
    note(f"changes: {mutations!r}, Keycloak: {start}")
    with changed_seed(mutations) as idp, keycloak(start) as fake:
        code, lines, problems = validate(idp)
        apply_code, apply_lines = run("apply", idp)
        if problems:
            assert (apply_code, apply_lines) == (code, lines)
            assert fake.calls == [], "validation comes before any write"
            return
        assert apply_code == 0, "\n".join(apply_lines)
        desired = cli.load(idp, REALMS, VARIABLES)
        for realm in desired:
            left = plan.compute(realm, live_state.fetch(FakeAdmin(fake), realm))
            assert left == [], (plan.summary(realm.realm, left), apply_lines)


def test_the_fake_keycloak_takes_the_real_folder_and_converges() -> None:
    """The fake is good enough: the real idp/ applies to it, and a second plan is empty."""
    fake = applied_seed()
    assert {"demo", "research"} <= set(fake.realms)
    assert fake.writes()
