"""Keycloak's admin API as idpctl.apply calls it, faked: ``FakeAdmin`` records every call
(authentication flows kept in memory as Keycloak keeps them); ``apply_all`` applies a plan
through it; ``first`` finds a call. Shared by the tests of idpctl's realm files (flows,
profile, permissions, default groups)."""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote

from idpctl.admin import KeycloakAdmin
from idpctl.apply import Applier
from idpctl.live import Live
from idpctl.model import Desired
from idpctl.plan import compute


class Response:
    def __init__(self, body: Any) -> None:
        self.body = body

    def json(self) -> Any:
        return self.body


class FakeAdmin(KeycloakAdmin):
    """Records every call as (method, path, body or query). GETs are answered from
    ``answers`` (by path; [] when absent); authentication flows are kept in memory as
    Keycloak keeps them (executions listed depth first with level and index); an object is
    found by name as ``<kind>-<name>``; a POST answers {"id": "new-<n>"}."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.answers = {"/demo": {}, **(answers or {})}
        self.flows: dict[str, dict[str, Any]] = {}  # by alias, sub-flows too
        self.configs: dict[str, dict[str, Any]] = {}
        self.ids = 0

    def new_id(self, prefix: str) -> str:
        self.ids += 1
        return f"{prefix}-{self.ids}"

    def writes(self) -> list[tuple[str, str, Any]]:
        return [c for c in self.calls if c[0] != "GET"]

    def find_id(self, realm: str, kind: str, name: str) -> str:
        return f"{kind.rstrip('s')}-{name}"

    # -- authentication flows --------------------------------------------------------------

    def add_flow(self, alias: str, description: str = "", top: bool = True) -> dict[str, Any]:
        flow = {"id": self.new_id("flow"), "alias": alias, "description": description}
        self.flows[alias] = {**flow, "topLevel": top, "steps": []}
        return self.flows[alias]

    def flat(self, alias: str, level: int = 0) -> list[dict[str, Any]]:
        out = []
        for index, step in enumerate(self.flows[alias]["steps"]):
            out.append({**step, "level": level, "index": index})
            if step.get("authenticationFlow"):
                out += self.flat(step["displayName"], level + 1)
        return out

    def remove(self, step: dict[str, Any]) -> None:
        if step.get("authenticationFlow"):
            for sub in self.flows[step["displayName"]]["steps"]:
                self.remove(sub)
            del self.flows[step["displayName"]]

    def authentication(self, method: str, rest: list[str], body: Any) -> Any:
        if rest == ["flows"] and method == "GET":
            return [
                {k: v for k, v in f.items() if k != "steps"}
                for f in self.flows.values()
                if f["topLevel"]
            ]
        if rest == ["flows"] and method == "POST":
            return self.add_flow(body["alias"], body["description"])
        if len(rest) == 2 and rest[0] == "flows":
            (flow,) = [f for f in self.flows.values() if f["id"] == rest[1]]
            if method == "DELETE":
                for step in flow["steps"]:
                    self.remove(step)
                del self.flows[flow["alias"]]
            else:
                flow["description"] = body["description"]
            return None
        if rest[0] == "flows" and rest[2] == "executions":
            steps = self.flows[rest[1]]["steps"]
            if method == "GET":
                return self.flat(rest[1])
            if method == "PUT":
                (step,) = [s for s in steps if s["id"] == body["id"]]
                step["requirement"] = body["requirement"]
                return None
            step = {"id": self.new_id("execution"), "requirement": "DISABLED"}
            if rest[3] == "flow":
                self.add_flow(body["alias"], body["description"], top=False)
                step.update(
                    authenticationFlow=True,
                    displayName=body["alias"],
                    description=body["description"],
                )
            else:
                step["providerId"] = body["provider"]
            steps.append(step)
            return None
        if rest[0] == "executions":
            (step,) = [s for f in self.flows.values() for s in f["steps"] if s["id"] == rest[1]]
            if method == "DELETE":
                self.remove(step)
                for flow in self.flows.values():
                    if step in flow["steps"]:
                        flow["steps"].remove(step)
            else:  # POST .../config
                step["authenticationConfig"] = self.new_id("config")
                self.configs[step["authenticationConfig"]] = body
            return None
        if rest[0] == "config":
            return self.configs[rest[1]]
        raise AssertionError(f"{method} {rest}")

    # -- the calls idpctl makes --------------------------------------------------------------

    def call(self, method: str, path: str, body: Any) -> Any:
        self.calls.append((method, path, copy.deepcopy(body)))
        parts = [unquote(p) for p in path.split("/")]
        if parts[2:3] == ["authentication"]:
            return copy.deepcopy(self.authentication(method, parts[3:], body))
        if method == "GET":
            return copy.deepcopy(self.answers.get(path, []))
        return None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params or None)

    def post(self, path: str, body: Any) -> Any:
        result = self.call("POST", path, body)
        return Response(result if result is not None else {"id": self.new_id("new")})

    def put(self, path: str, body: Any = None) -> Any:
        return self.call("PUT", path, body)

    def delete(self, path: str, body: Any = None) -> Any:
        return self.call("DELETE", path, body)


def apply_all(desired: Desired, live: Live, admin: FakeAdmin | None = None) -> FakeAdmin:
    """Plan ``desired`` against ``live`` and apply every change through a fake admin API."""
    admin = admin or FakeAdmin()
    Applier(admin, desired).apply(compute(desired, live), live, report=lambda _: None)
    return admin


def first(calls: list[tuple[str, str, Any]], method: str, pattern: str) -> int:
    """The index of the first call of ``method`` whose path matches ``pattern``."""
    for i, (m, path, _) in enumerate(calls):
        if m == method and re.fullmatch(pattern, path):
            return i
    raise AssertionError(f"no {method} {pattern} in {calls}")
