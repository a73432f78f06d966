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
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import unquote

import httpx
import yaml
from hypothesis import event, example, given, note
from hypothesis import strategies as st

from apiregistry import ConfigError
from idpctl import cli, plan
from idpctl import live as live_state
from idpctl.admin import KeycloakAdmin
from idpctl.model import BUILTIN_CLIENTS, BUILTIN_SCOPES, Desired
from tests.support.idp_files import IDP, IDP_VARIABLES

REALMS = ["demo", "research"]
VARIABLES = {
    **IDP_VARIABLES,
    "RESEARCH_HUB_CLIENT_SECRET": "research-hub-secret",
    "RESEARCH_EXCHANGE_CLIENT_SECRET": "research-exchange-secret",
    "DEMO_PASSWORD_RESEARCHER": "pw-researcher-1A",
}

# --- the seed: the repository's idp/ folder -----------------------------------------------

SEED: dict[str, bytes] = {
    str(p.relative_to(IDP)): p.read_bytes() for p in sorted(IDP.rglob("*")) if p.is_file()
}
SEED_DIRS = sorted(
    {str(Path(f).parent) for f in SEED if str(Path(f).parent) != "."}
    | {"realms/demo/roles", "realms/demo/client-scopes"}
)
YAML_FILES = sorted(f for f in SEED if f.endswith(".yml"))
SEED_DATA: dict[str, Any] = {f: yaml.safe_load(SEED[f]) for f in YAML_FILES}


def write_seed(idp: Path) -> None:
    for rel, content in SEED.items():
        (idp / rel).parent.mkdir(parents=True, exist_ok=True)
        (idp / rel).write_bytes(content)


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

# --- a fake Keycloak admin API ------------------------------------------------------------


def shape(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return None


def learn(samples: list[Any]) -> dict[str, Any] | None:
    """The JSON shape all ``samples`` share (None: they differ, or there are none)."""
    kinds = {shape(s) for s in samples if s is not None}
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    schema: dict[str, Any] = {"kind": kind}
    if kind == "list":
        schema["items"] = learn([x for s in samples if s for x in s])
    elif kind == "dict":
        by_key: dict[str, list[Any]] = {}
        for s in samples:
            for k, v in s.items():
                by_key.setdefault(k, []).append(v)
        schema["keys"] = {k: learn(v) for k, v in by_key.items()}
        schema["values"] = learn([v for s in samples for v in s.values()])
    return schema


def conforms(schema: dict[str, Any] | None, value: Any) -> bool:
    """Would Keycloak's JSON reader (Jackson) take ``value`` for a field of this shape?"""
    if schema is None or value is None:
        return True
    kind = schema["kind"]
    if kind == "bool":
        return isinstance(value, bool) or (
            isinstance(value, str) and value.lower() in ("true", "false")
        )
    if kind == "number":
        return (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value) is not None
        )
    if kind == "string":
        return isinstance(value, str | int | float | bool)
    if kind == "list":
        return isinstance(value, list) and all(conforms(schema["items"], x) for x in value)
    return isinstance(value, dict) and all(
        conforms(schema["keys"].get(k, schema["values"]), v) for k, v in value.items()
    )


@functools.cache
def seed_desired() -> tuple[Desired, ...]:
    with tempfile.TemporaryDirectory() as tmp:
        idp = Path(tmp) / "idp"
        write_seed(idp)
        return tuple(cli.load(idp, REALMS, VARIABLES))


@functools.cache
def field_shapes() -> dict[str, dict[str, Any]]:
    """Per kind of object, the shape of each field as the real files give it: what the fake
    refuses to take in another shape. Top-level unknown fields are taken."""
    samples: dict[str, list[dict[str, Any]]] = {}
    for d in seed_desired():
        samples.setdefault("realm", []).append(d.settings)
        for kind in ("roles", "client_scopes", "clients", "groups", "users"):
            for obj in getattr(d, kind).values():
                samples.setdefault(kind, []).append(obj)
                for mapper in obj.get("_protocolMappers") or []:
                    samples.setdefault("mappers", []).append(mapper)
    out = {}
    for kind, objs in samples.items():
        public = [{k: v for k, v in o.items() if not k.startswith("_")} for o in objs]
        schema = learn(public)
        assert schema is not None
        out[kind] = {**schema, "values": None}
    return out


class Fault(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


PREFIX = "/admin/realms"
DEFAULT_SCOPES = ["basic", "profile", "email", "roles", "web-origins", "acr"]


class FakeKeycloak:
    """Keycloak's admin REST API in memory, the part idpctl uses. Requests are recorded."""

    def __init__(self) -> None:
        self.realms: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.next_id = 0

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]

    # -- plumbing ---------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode("ascii").split("?", 1)[0]
        self.calls.append((request.method, raw))
        assert raw.startswith(PREFIX), raw
        rest = raw[len(PREFIX) :].lstrip("/")
        segments = [unquote(s) for s in rest.split("/")] if rest else []
        body = json.loads(request.content) if request.content else None
        try:
            result = self.route(request.method, segments, dict(request.url.params), body)
        except Fault as e:
            return httpx.Response(e.status, json={"errorMessage": str(e)})
        if result is None:
            return httpx.Response(204)
        return httpx.Response(200, json=copy.deepcopy(result))

    def new_id(self) -> str:
        self.next_id += 1
        return f"id-{self.next_id}"

    def check(self, kind: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise Fault(400, f"expected a JSON object for {kind}")
        if "\\u0000" in json.dumps(body):  # the database refuses NUL in text
            raise Fault(500, "ERROR: invalid byte sequence for encoding UTF8: 0x00")
        schema = field_shapes().get(kind)
        for key, value in body.items():
            if schema and not conforms(schema["keys"].get(key), value):
                raise Fault(400, f"Cannot deserialize field {key!r} of {kind}: {value!r}")
        return body

    def realm(self, name: str) -> dict[str, Any]:
        if name not in self.realms:
            raise Fault(404, f"Realm not found: {name}")
        return self.realms[name]

    @staticmethod
    def one(objects: dict[str, dict[str, Any]], oid: str, what: str) -> dict[str, Any]:
        if oid not in objects:
            raise Fault(404, f"Could not find {what} {oid}")
        return objects[oid]

    @staticmethod
    def update(obj: dict[str, Any], body: dict[str, Any]) -> None:
        """Keycloak's updates leave a field alone when the body has null for it."""
        obj.update({k: v for k, v in body.items() if v is not None and k != "id"})

    # -- realms -----------------------------------------------------------------------------

    def create_realm(self, body: dict[str, Any]) -> None:
        name = body.get("realm")
        if not isinstance(name, str) or not name:
            raise Fault(400, "realm name required")
        if name in self.realms:
            raise Fault(409, f"Conflict detected. Realm {name} exists")
        r: dict[str, Any] = {
            "rep": {**{k: v for k, v in body.items() if v is not None}, "id": name},
            "roles": {},
            "scopes": {},
            "clients": {},
            "groups": {},
            "users": {},
            "mappers": {},
            "links": {},  # (owner id, relation) -> set of names or ids
            "default_groups": set(),  # group ids
            "policies": {},  # admin permissions and their client policies, by id
            "flows": {},  # authentication flows by id: alias, description, steps
            "configs": {},  # authenticator configs by id
            "profile": {"attributes": [{"name": "username", "validations": {}}]},
        }
        self.realms[name] = r
        for flow in ("browser", "direct grant", "registration", "reset credentials", "clients"):
            fid = self.new_id()
            r["flows"][fid] = {
                "id": fid,
                "alias": flow,
                "topLevel": True,
                "builtIn": True,
                "steps": [],
            }
        for role in ("offline_access", "uma_authorization", f"default-roles-{name}"):
            r["roles"][role] = {"id": self.new_id(), "name": role}
        for scope in sorted(BUILTIN_SCOPES):
            sid = self.new_id()
            r["scopes"][sid] = {"id": sid, "name": scope, "protocol": "openid-connect"}
        for client in sorted(BUILTIN_CLIENTS):
            self.create_client(r, {"clientId": client, "publicClient": True})
        self.admin_permissions_client(r)

    def admin_permissions_client(self, r: dict[str, Any]) -> None:
        """Keycloak adds the client admin-permissions to a realm that enables them."""
        enabled = str(r["rep"].get("adminPermissionsEnabled")).lower() == "true"
        if enabled and not any(c["clientId"] == "admin-permissions" for c in r["clients"].values()):
            self.create_client(r, {"clientId": "admin-permissions", "publicClient": False})

    def create_client(self, r: dict[str, Any], body: dict[str, Any]) -> None:
        client_id = body.get("clientId")
        if not isinstance(client_id, str) or not client_id:
            raise Fault(400, "clientId required")
        if any(c["clientId"] == client_id for c in r["clients"].values()):
            raise Fault(409, f"Client {client_id} already exists")
        cid = self.new_id()
        r["clients"][cid] = {**{k: v for k, v in body.items() if v is not None}, "id": cid}
        by_name = {s["name"]: sid for sid, s in r["scopes"].items()}
        r["links"][cid, "default"] = {by_name[s] for s in DEFAULT_SCOPES if s in by_name}
        r["links"][cid, "optional"] = {by_name[s] for s in ("address", "phone") if s in by_name}

    def route(self, method: str, seg: list[str], params: dict[str, str], body: Any) -> Any:
        if not seg or seg == [""]:
            if method == "POST":
                return self.create_realm(self.check("realm", body))
            raise Fault(405, method)
        r = self.realm(seg[0])
        if len(seg) == 1:
            if method == "GET":
                return {**r["rep"]}
            if method == "PUT":
                body = self.check("realm", body)
                attributes = {**r["rep"].get("attributes", {}), **(body.get("attributes") or {})}
                self.update(r["rep"], body)
                r["rep"]["attributes"] = attributes
                self.admin_permissions_client(r)
                return None
            raise Fault(405, method)
        kind, rest = seg[1], seg[2:]
        if kind == "events" and rest == ["config"] and method == "GET":
            events = ("eventsEnabled", "eventsExpiration", "eventsListeners", "enabledEventTypes")
            return {k: r["rep"][k] for k in events if k in r["rep"]}
        if kind == "roles":
            return self.roles(r, method, rest, body)
        if kind == "roles-by-id" and len(rest) == 1:
            by_id = {role["id"]: name for name, role in r["roles"].items()}
            return self.roles(r, method, [self.one(by_id, rest[0], "role")], body)
        if kind == "client-scopes":
            return self.client_scopes(r, method, rest, body)
        if kind == "clients":
            return self.clients(r, method, rest, params, body)
        if kind == "groups":
            return self.groups(r, method, rest, params, body)
        if kind == "users" and rest == ["profile"]:
            if method == "PUT":
                r["profile"] = body
            return r["profile"]
        if kind == "users":
            return self.users(r, method, rest, params, body)
        if kind == "default-groups":
            return self.default_groups(r, method, rest)
        if kind == "authentication":
            return self.authentication(r, method, rest, body)
        raise Fault(404, "/".join(seg))

    def default_groups(self, r: dict[str, Any], method: str, rest: list[str]) -> Any:
        if not rest and method == "GET":
            return [r["groups"][g] for g in sorted(r["default_groups"]) if g in r["groups"]]
        if len(rest) == 1:
            self.one(r["groups"], rest[0], "group")
            if method == "PUT":
                r["default_groups"].add(rest[0])
                return None
            if method == "DELETE":
                r["default_groups"].discard(rest[0])
                return None
        raise Fault(404, f"default-groups/{'/'.join(rest)}")

    def authorization(
        self, r: dict[str, Any], method: str, rest: list[str], params: dict[str, str], body: Any
    ) -> Any:
        """The admin permissions' authorization server: client policies and scope
        permissions, one namespace of names."""
        policies = r["policies"]
        if rest in (["policy"], ["permission"]) and method == "GET":
            want = "scope" if rest == ["permission"] or params.get("permission") == "true" else None
            found = [
                p
                for p in policies.values()
                if (want == "scope") == (p["type"] == "scope")
                and params.get("type") in (None, p["type"])
                and params.get("name", "") in p["name"]
            ]
            return [
                {
                    k: v
                    for k, v in p.items()
                    if k not in ("clients", "resources", "scopes", "policies")
                }
                for p in found
            ]
        if len(rest) == 2 and rest[0] in ("policy", "permission") and method == "POST":
            body = self.check("policies", body)
            if any(p["name"] == body.get("name") for p in policies.values()):
                raise Fault(409, "Policy with name already exists")
            pid = self.new_id()
            policies[pid] = {**body, "id": pid, "type": rest[1]}
            return policies[pid]
        if (
            len(rest) == 3
            and method in ("GET", "PUT")
            and rest[0] in ("policy", "permission")
            and rest[1] in ("client", "scope")
        ):
            policy = self.one(policies, rest[2], "policy")
            if method == "PUT":
                policy.update({**self.check("policies", body), "id": rest[2]})
                return None
            return policy
        if len(rest) == 2 and rest[0] == "policy" and method == "DELETE":
            self.one(policies, rest[1], "policy")
            del policies[rest[1]]
            return None
        if len(rest) == 3 and rest[0] == "policy" and method == "GET":
            policy = self.one(policies, rest[1], "policy")
            if rest[2] == "resources":
                return [
                    {"name": n, "_id": n}
                    for n in policy.get("resources") or [policy["resourceType"]]
                ]
            if rest[2] == "scopes":
                return [{"id": n, "name": n} for n in policy.get("scopes", [])]
            if rest[2] == "associatedPolicies":
                return [policies[i] for i in policy.get("policies", []) if i in policies]
        raise Fault(404, f"authz/resource-server/{'/'.join(rest)}")

    def flow(self, r: dict[str, Any], alias: str) -> dict[str, Any]:
        for flow in r["flows"].values():
            if flow["alias"] == alias:
                return flow
        raise Fault(404, f"Could not find flow {alias}")

    def flat(self, r: dict[str, Any], flow: dict[str, Any], level: int = 0) -> list[dict]:
        out = []
        for index, step in enumerate(flow["steps"]):
            out.append({**step, "level": level, "index": index})
            if step.get("authenticationFlow"):
                out += self.flat(r, r["flows"][step["flowId"]], level + 1)
        return out

    def delete_step(self, r: dict[str, Any], step: dict[str, Any]) -> None:
        if step.get("authenticationFlow"):
            for sub in r["flows"][step["flowId"]]["steps"]:
                self.delete_step(r, sub)
            del r["flows"][step["flowId"]]

    def authentication(self, r: dict[str, Any], method: str, rest: list[str], body: Any) -> Any:
        flows = r["flows"]
        if rest == ["flows"]:
            if method == "GET":
                return [
                    {k: v for k, v in f.items() if k != "steps"}
                    for f in flows.values()
                    if f["topLevel"]
                ]
            if method == "POST":
                if any(f["alias"] == body.get("alias") for f in flows.values()):
                    raise Fault(409, "Flow already exists")
                fid = self.new_id()
                flows[fid] = {**body, "id": fid, "steps": []}
                return None
        if len(rest) == 2 and rest[0] == "flows" and method in ("PUT", "DELETE"):
            flow = self.one(flows, rest[1], "flow")
            if method == "DELETE":
                for step in flow["steps"]:
                    self.delete_step(r, step)
                del flows[rest[1]]
            else:
                flow.update({k: v for k, v in body.items() if k != "id"})
            return None
        if len(rest) >= 3 and rest[0] == "flows" and rest[2] == "executions":
            flow = self.flow(r, rest[1])
            if len(rest) == 3 and method == "GET":
                return self.flat(r, flow)
            if len(rest) == 3 and method == "PUT":
                for step in flow["steps"]:
                    if step["id"] == body.get("id"):
                        step["requirement"] = body["requirement"]
                return None
            if rest[3:] == ["execution"] and method == "POST":
                eid = self.new_id()
                flow["steps"].append(
                    {"id": eid, "providerId": body["provider"], "requirement": "DISABLED"}
                )
                return None
            if rest[3:] == ["flow"] and method == "POST":
                if any(f["alias"] == body.get("alias") for f in flows.values()):
                    raise Fault(409, "Flow already exists")
                fid, eid = self.new_id(), self.new_id()
                flows[fid] = {
                    "id": fid,
                    "alias": body["alias"],
                    "description": body.get("description"),
                    "topLevel": False,
                    "steps": [],
                }
                flow["steps"].append(
                    {
                        "id": eid,
                        "authenticationFlow": True,
                        "flowId": fid,
                        "displayName": body["alias"],
                        "description": body.get("description"),
                        "requirement": "DISABLED",
                    }
                )
                return None
        if len(rest) == 2 and rest[0] == "executions" and method == "DELETE":
            for flow in list(flows.values()):
                for step in flow["steps"]:
                    if step["id"] == rest[1]:
                        self.delete_step(r, step)
                        flow["steps"].remove(step)
                        return None
            raise Fault(404, "Could not find execution")
        if len(rest) == 3 and rest[0] == "executions" and rest[2] == "config" and method == "POST":
            cid = self.new_id()
            r["configs"][cid] = {**body, "id": cid}
            for flow in flows.values():
                for step in flow["steps"]:
                    if step["id"] == rest[1]:
                        step["authenticationConfig"] = cid
            return None
        if len(rest) == 2 and rest[0] == "config" and method == "GET":
            return self.one(r["configs"], rest[1], "config")
        raise Fault(404, f"authentication/{'/'.join(rest)}")

    def roles(self, r: dict[str, Any], method: str, rest: list[str], body: Any) -> Any:
        roles = r["roles"]
        if not rest:
            if method == "GET":
                return list(roles.values())
            if method == "POST":
                body = self.check("roles", body)
                name = body.get("name")
                if not isinstance(name, str) or not name:
                    raise Fault(400, "role name required")
                if name in roles:
                    raise Fault(409, f"Role with name {name} already exists")
                roles[name] = {**body, "id": self.new_id()}
                return None
        elif len(rest) == 1:
            role = self.one(roles, rest[0], "role")
            if method == "GET":
                return role
            if method == "PUT":
                self.update(role, self.check("roles", body))
                if role["name"] != rest[0]:
                    roles[role["name"]] = roles.pop(rest[0])
                return None
            if method == "DELETE":
                del roles[rest[0]]
                return None
        raise Fault(404, f"roles/{'/'.join(rest)}")

    def mappers(self, r: dict[str, Any], owner: str, method: str, rest: list[str], body: Any):
        models = r["mappers"].setdefault(owner, {})
        if rest == [] and method == "GET":
            return list(models.values())
        if rest == [] and method == "POST":
            body = self.check("mappers", body)
            if any(m.get("name") == body.get("name") for m in models.values()):
                raise Fault(409, f"Protocol mapper exists with same name {body.get('name')}")
            mid = self.new_id()
            models[mid] = {**body, "id": mid}
            return None
        if len(rest) == 1:
            mapper = self.one(models, rest[0], "protocol mapper")
            if method == "PUT":
                self.update(mapper, self.check("mappers", body))
                return None
            if method == "DELETE":
                del models[rest[0]]
                return None
        raise Fault(404, f"protocol-mappers/models/{'/'.join(rest)}")

    def role_links(self, r: dict[str, Any], key: tuple, method: str, body: Any) -> Any:
        have: set[str] = r["links"].setdefault(key, set())
        if method == "GET":
            return [r["roles"][n] for n in sorted(have) if n in r["roles"]]
        if not isinstance(body, list):
            raise Fault(400, "expected a list of roles")
        names = set()
        for role in body:
            if not isinstance(role, dict) or role.get("name") not in r["roles"]:
                raise Fault(404, f"Could not find role {role!r}")
            names.add(role["name"])
        if method == "POST":
            have |= names
        elif method == "DELETE":
            have -= names
        return None

    def client_scopes(self, r: dict[str, Any], method: str, rest: list[str], body: Any) -> Any:
        scopes = r["scopes"]
        if not rest:
            if method == "GET":
                return [
                    {**s, "protocolMappers": list(r["mappers"].get(sid, {}).values())}
                    for sid, s in scopes.items()
                ]
            if method == "POST":
                body = self.check("client_scopes", body)
                name = body.get("name")
                if not isinstance(name, str) or not name:
                    raise Fault(400, "client scope name required")
                if any(s["name"] == name for s in scopes.values()):
                    raise Fault(409, f"Client Scope {name} already exists")
                sid = self.new_id()
                scopes[sid] = {**body, "id": sid}
                return None
        else:
            scope = self.one(scopes, rest[0], "client scope")
            if len(rest) == 1 and method == "PUT":
                self.update(scope, self.check("client_scopes", body))
                return None
            if len(rest) == 1 and method == "DELETE":
                del scopes[rest[0]]
                return None
            if rest[1:3] == ["protocol-mappers", "models"]:
                return self.mappers(r, rest[0], method, rest[3:], body)
            if rest[1:] == ["scope-mappings", "realm"]:
                return self.role_links(r, (rest[0], "scope-roles"), method, body)
        raise Fault(404, f"client-scopes/{'/'.join(rest)}")

    def clients(
        self, r: dict[str, Any], method: str, rest: list[str], params: dict[str, str], body: Any
    ) -> Any:
        clients = r["clients"]
        if not rest:
            if method == "GET":
                found = (
                    [c for c in clients.values() if c["clientId"] == params["clientId"]]
                    if ("clientId" in params)
                    else list(clients.values())
                )
                scope_names = {sid: s["name"] for sid, s in r["scopes"].items()}
                return [
                    {
                        **{k: v for k, v in c.items() if k != "secret"},
                        "protocolMappers": list(r["mappers"].get(c["id"], {}).values()),
                        "defaultClientScopes": sorted(
                            scope_names[s] for s in r["links"][c["id"], "default"]
                        ),
                    }
                    for c in found
                ]
            if method == "POST":
                self.create_client(r, self.check("clients", body))
                return None
        else:
            client = self.one(clients, rest[0], "client")
            if len(rest) == 1 and method == "PUT":
                body = self.check("clients", body)
                if body.get("clientId") not in (None, client["clientId"]) and any(
                    c["clientId"] == body["clientId"] for c in clients.values()
                ):
                    raise Fault(409, "Client already exists")
                self.update(client, body)
                return None
            if len(rest) == 1 and method == "DELETE":
                del clients[rest[0]]
                return None
            if rest[1:3] == ["authz", "resource-server"]:
                return self.authorization(r, method, rest[3:], params, body)
            if rest[1:] == ["client-secret"] and method == "GET":
                return {"type": "secret", "value": client.get("secret", "generated-secret")}
            if rest[1:3] == ["protocol-mappers", "models"]:
                return self.mappers(r, rest[0], method, rest[3:], body)
            if len(rest) in (2, 3) and rest[1] in (
                "default-client-scopes",
                "optional-client-scopes",
            ):
                which = rest[1].split("-")[0]
                linked = r["links"][rest[0], which]
                if len(rest) == 2 and method == "GET":
                    return [r["scopes"][s] for s in sorted(linked) if s in r["scopes"]]
                if len(rest) == 3:
                    self.one(r["scopes"], rest[2], "client scope")
                    other = r["links"][rest[0], "optional" if which == "default" else "default"]
                    if method == "PUT":  # Keycloak skips a scope linked already, either way
                        if rest[2] not in other:
                            linked.add(rest[2])
                        return None
                    if method == "DELETE":
                        linked.discard(rest[2])
                        return None
        raise Fault(404, f"clients/{'/'.join(rest)}")

    def groups(
        self, r: dict[str, Any], method: str, rest: list[str], params: dict[str, str], body: Any
    ) -> Any:
        groups = r["groups"]
        if not rest:
            if method == "GET":
                found = list(groups.values())
                if "search" in params:
                    found = [g for g in found if g["name"] == params["search"]]
                return found
            if method == "POST":
                body = self.check("groups", body)
                name = body.get("name")
                if not isinstance(name, str) or not name:
                    raise Fault(400, "group name required")
                if any(g["name"] == name for g in groups.values()):
                    raise Fault(409, f"Top level group named '{name}' already exists.")
                gid = self.new_id()
                groups[gid] = {**body, "id": gid, "path": f"/{name}"}
                return None
        else:
            group = self.one(groups, rest[0], "group")
            if len(rest) == 1 and method == "PUT":
                self.update(group, self.check("groups", body))
                return None
            if len(rest) == 1 and method == "DELETE":
                del groups[rest[0]]
                return None
            if rest[1:] == ["role-mappings", "realm"]:
                return self.role_links(r, (rest[0], "group-roles"), method, body)
        raise Fault(404, f"groups/{'/'.join(rest)}")

    def users(
        self, r: dict[str, Any], method: str, rest: list[str], params: dict[str, str], body: Any
    ) -> Any:
        users = r["users"]
        if body is not None and method in ("POST", "PUT"):
            body = self.check("users", body)
            body = {  # Keycloak keeps usernames and e-mail addresses in lowercase
                k: v.lower() if k in ("username", "email") and isinstance(v, str) else v
                for k, v in body.items()
            }
        if not rest:
            if method == "GET":
                wanted = str(params.get("username")).lower()
                return [u for u in users.values() if u["username"] == wanted]
            if method == "POST":
                name = body.get("username")
                if not isinstance(name, str) or not name:
                    raise Fault(400, "username required")
                if any(u["username"] == name for u in users.values()):
                    raise Fault(409, "User exists with same username")
                uid = self.new_id()
                users[uid] = {
                    **{k: v for k, v in body.items() if k != "credentials"},
                    "id": uid,
                }
                return None
        else:
            user = self.one(users, rest[0], "user")
            if len(rest) == 1 and method == "PUT":
                self.update(user, body)
                return None
            if len(rest) == 1 and method == "DELETE":
                del users[rest[0]]
                return None
            member: set[str] = r["links"].setdefault((rest[0], "groups"), set())
            if rest[1:] == ["groups"] and method == "GET":
                return [r["groups"][g] for g in sorted(member) if g in r["groups"]]
            if len(rest) == 3 and rest[1] == "groups":
                self.one(r["groups"], rest[2], "group")
                if method == "PUT":
                    member.add(rest[2])
                    return None
                if method == "DELETE":
                    member.discard(rest[2])
                    return None
        raise Fault(404, f"users/{'/'.join(rest)}")


class FakeAdmin(KeycloakAdmin):
    """idpctl's admin client, unchanged but for its transport: the fake, without a login."""

    def __init__(self, keycloak: FakeKeycloak) -> None:
        self.base_url = "http://keycloak.invalid"
        self._credentials = ("admin", "")
        self.http = httpx.Client(
            base_url=f"{self.base_url}/admin/realms", transport=httpx.MockTransport(keycloak.handle)
        )

    def _login(self) -> None:
        raise AssertionError("the fake never answers 401")


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
