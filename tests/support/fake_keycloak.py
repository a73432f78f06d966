"""Keycloak's admin REST API in memory, the part idpctl uses (``FakeKeycloak``), and idpctl's
admin client on it (``FakeAdmin``): the fuzz suite's fake (tests/fuzz/test_idpctl_files.py),
also what the golden tests (tests/unit/test_idpctl_golden.py) plan and apply against. It keeps
what it is sent and answers as Keycloak does; it refuses (HTTP 400/409) a value of another
JSON type than the real idp/ files use for the same field, a duplicate name, and a path that
names no object."""

from __future__ import annotations

import copy
import functools
import json
import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from idpctl import cli
from idpctl.admin import KeycloakAdmin
from idpctl.model import BUILTIN_CLIENTS, BUILTIN_SCOPES, Desired
from tests.support.idp_files import IDP_REALMS as REALMS
from tests.support.idp_files import IDP_REALMS_VARIABLES as VARIABLES
from tests.support.idp_files import write_seed


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
