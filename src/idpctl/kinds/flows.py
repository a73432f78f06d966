"""Authentication flows: idp/realms/<realm>/authentication-flows/<file>.yml, one top-level
flow per file, its sub-flows nested under ``executions``.

A flow and a live one are compared in one canonical shape (``canonical``): a list of steps,
each ``{"authenticator", "requirement", "config"}`` or ``{"flow", "requirement",
"description", "executions"}``. When they differ, idpctl rebuilds the flow's executions
(deleting a top-level execution deletes its sub-flow). Realm settings that name a flow
(``BINDINGS``) are applied after the flows exist.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiregistry import Problem
from idpctl import fields, files
from idpctl.admin import segment
from idpctl.diff import Change, field_changes
from idpctl.kinds.base import ObjectKind, Source

if TYPE_CHECKING:
    from idpctl.admin import KeycloakAdmin
    from idpctl.apply import Applier
    from idpctl.live import Live
    from idpctl.model import Desired

FOLDER = "authentication-flows"
REQUIREMENTS = ("REQUIRED", "ALTERNATIVE", "DISABLED", "CONDITIONAL")
#: Realm settings that name a flow, and the built-in flow each names in a new realm.
BINDINGS = {
    "browserFlow": "browser",
    "registrationFlow": "registration",
    "directGrantFlow": "direct grant",
    "resetCredentialsFlow": "reset credentials",
    "clientAuthenticationFlow": "clients",
    "dockerAuthenticationFlow": "docker auth",
    "firstBrokerLoginFlow": "first broker login",
}
#: Top-level flows Keycloak creates in every realm: never redefined by a file.
BUILTIN_FLOWS = set(BINDINGS.values())
FLOW_KEYS = {"alias", "description", "executions"}
AUTHENTICATOR_KEYS = {"authenticator", "requirement", "config"}
SUB_FLOW_KEYS = {"flow", "requirement", "description", "executions"}
#: Nesting deeper than this is a mistake (Keycloak's own flows go three deep).
MAX_DEPTH = 8


class _Reader:
    """Checks one file's steps, collecting the aliases it defines."""

    def __init__(self, file: str, what: str, problems: list[Problem]) -> None:
        self.file, self.what, self.problems = file, what, problems
        self.aliases: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.what, f"{where}: {message}"))

    def unknown_keys(self, step: dict[str, Any], known: set[str], where: str) -> None:
        for key in sorted(set(map(str, step)) - known):
            self.problem(where, f"unknown key {key!r} (known: {', '.join(sorted(known))})")

    def steps(self, value: Any, where: str, depth: int) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(where, f"must be a list of steps, got {value!r}")
            return []
        if depth > MAX_DEPTH:
            self.problem(where, f"flows nest at most {MAX_DEPTH} deep")
            return []
        return [
            s
            for i, item in enumerate(value)
            if (s := self.step(item, f"{where}[{i}]", depth)) is not None
        ]

    def step(self, step: Any, where: str, depth: int) -> dict[str, Any] | None:
        if not isinstance(step, dict):
            self.problem(where, f"expected a mapping (authenticator: or flow:), got {step!r}")
            return None
        if ("authenticator" in step) == ("flow" in step):
            self.problem(
                where,
                "give exactly one of authenticator (a provider id) or flow (a sub-flow's alias)",
            )
            return None
        requirement = step.get("requirement")
        if requirement not in REQUIREMENTS:
            self.problem(
                f"{where}.requirement",
                f"must be one of {', '.join(REQUIREMENTS)}, got {requirement!r}",
            )
        if "authenticator" in step:
            return self.authenticator(step, where, requirement)
        return self.sub_flow(step, where, requirement, depth)

    def authenticator(self, step: dict[str, Any], where: str, requirement: Any) -> dict[str, Any]:
        self.unknown_keys(step, AUTHENTICATOR_KEYS, where)
        provider = step["authenticator"]
        if not fields.is_name(provider):
            self.problem(f"{where}.authenticator", f"must be a provider id, got {provider!r}")
        config = step.get("config") or {}
        ok = isinstance(config, dict) and all(
            isinstance(k, str) and isinstance(v, str | int | float | bool)
            for k, v in config.items()
        )
        if not ok:
            self.problem(f"{where}.config", f"must map option names to values, got {config!r}")
            config = {}
        return {"authenticator": provider, "requirement": requirement, "config": _strings(config)}

    def sub_flow(
        self, step: dict[str, Any], where: str, requirement: Any, depth: int
    ) -> dict[str, Any]:
        self.unknown_keys(step, SUB_FLOW_KEYS, where)
        alias = self.alias(step["flow"], f"{where}.flow")
        description = step.get("description") or ""
        if not isinstance(description, str):
            self.problem(f"{where}.description", "must be a string")
            description = ""
        return {
            "flow": alias,
            "requirement": requirement,
            "description": description,
            "executions": self.steps(step.get("executions"), f"{where}.executions", depth + 1),
        }

    def alias(self, alias: Any, where: str) -> str:
        if not fields.is_name(alias):
            self.problem(where, f"must be a flow alias (text on one line), got {alias!r}")
            return str(alias)
        self.aliases.append(alias)
        return alias


def config_alias(flow: str, authenticator: str, index: int) -> str:
    """The name of a step's config: its place in the flow (Keycloak takes letters, digits,
    spaces, - and _ only)."""
    return re.sub(r"[^A-Za-z0-9 _-]", "-", f"{flow} {index} {authenticator}")


def _strings(config: dict[str, Any]) -> dict[str, str]:
    """Keycloak keeps an authenticator's options as strings (true, not True)."""
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in config.items()}


def read_flow(data: Any, file: str, problems: list[Problem]) -> tuple[dict | None, list[str]]:
    """The flow of one file and every alias it defines (its own and its sub-flows')."""
    if not isinstance(data, dict):
        problems.append(Problem(file, "file", "expected a mapping (alias:, executions:)"))
        return None, []
    reader = _Reader(file, f"authentication flow {data.get('alias')}", problems)
    reader.unknown_keys(data, FLOW_KEYS, "(the flow)")
    alias = reader.alias(data.get("alias"), "alias")
    if alias in BUILTIN_FLOWS:
        reader.problem("alias", f"{alias!r} is a Keycloak built-in flow: choose another alias")
    description = data.get("description") or ""
    if not isinstance(description, str):
        reader.problem("description", "must be a string")
        description = ""
    executions = reader.steps(data.get("executions"), "executions", 1)
    if not executions:
        reader.problem("executions", "a flow needs at least one step")
    flow = {"alias": alias, "description": description, "_executions": executions}
    return flow, reader.aliases


def read_folder(realm_dir: Path, problems: list[Problem], load: Any) -> dict[str, dict[str, Any]]:
    """Every file's flow by alias; an alias defined twice (a flow or a sub-flow: one
    namespace in Keycloak) is a problem."""
    flows: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    for path in sorted((realm_dir / FOLDER).glob("*.yml")):
        file = str(path)
        flow, aliases = read_flow(load(path, dict), file, problems)
        for alias in aliases:
            if alias in seen:
                problems.append(
                    Problem(
                        file,
                        f"authentication flow {aliases[0]}",
                        f"alias {alias!r} is defined twice (also in {seen[alias]}): each flow "
                        "and sub-flow needs an alias of its own",
                    )
                )
            seen.setdefault(alias, file)
        if flow is not None and flow["alias"] not in flows:
            flow["_file"] = file
            flows[flow["alias"]] = flow
    return flows


def check_bindings(
    settings: dict[str, Any], flows: dict[str, Any], file: str, realm: str
) -> list[Problem]:
    """Each realm setting that names a flow names a built-in one or a file's."""
    problems = []
    for key in BINDINGS:
        alias = settings.get(key)
        if not isinstance(alias, str):
            continue  # absent, or a value of another type: fields.check reports it
        if alias not in BUILTIN_FLOWS and alias not in flows:
            problems.append(
                Problem(
                    file,
                    f"realm {realm}",
                    f"{key}: no flow {alias!r}: name a built-in flow "
                    f"({', '.join(sorted(BUILTIN_FLOWS))}) or one of {FOLDER}/",
                )
            )
    return problems


# -- the live flow ------------------------------------------------------------------------


def from_executions(executions: list[dict[str, Any]], configs: dict[str, dict]) -> list[dict]:
    """The canonical steps of Keycloak's flat execution list (level and index), with each
    execution's config (by its config id) from ``configs``."""
    root: list[dict[str, Any]] = []
    parents: list[list[dict[str, Any]]] = [root]
    for e in executions:  # depth first, as Keycloak lists them
        level = e.get("level", 0)
        del parents[level + 1 :]
        if e.get("authenticationFlow"):
            step = {
                "flow": e.get("displayName"),
                "requirement": e.get("requirement"),
                "description": e.get("description") or "",
                "executions": [],
            }
            parents[level].append(step)
            parents.append(step["executions"])
        else:
            config = configs.get(e.get("authenticationConfig") or "", {})
            parents[level].append(
                {
                    "authenticator": e.get("providerId"),
                    "requirement": e.get("requirement"),
                    "config": _strings(config.get("config") or {}),
                }
            )
    return root


def lines(steps: list[dict[str, Any]], depth: int = 0) -> list[str]:
    """A flow's steps as indented text, one per line (for a plan's details)."""
    out = []
    for step in steps:
        pad = "  " * depth
        if "flow" in step:
            out.append(f"{pad}{step['requirement']} flow {step['flow']!r}")
            out += lines(step["executions"], depth + 1)
        else:
            config = f" {step['config']}" if step["config"] else ""
            out.append(f"{pad}{step['requirement']} {step['authenticator']}{config}")
    return out


def differences(want: list[dict[str, Any]], have: list[dict[str, Any]]) -> list[str]:
    """The steps that differ, as + and - lines; [] when the flows are the same."""
    if want == have:
        return []
    diff = difflib.ndiff(lines(have), lines(want))
    return [f"executions: {d[0]} {d[2:]}" for d in diff if d[:1] in "+-"]


def fetch_flows(admin: KeycloakAdmin, realm: str, wanted: set[str], live: Live) -> None:
    """The top-level flows the files or the tracking record name, with their steps in
    the canonical shape."""
    names = wanted | live.managed["authentication_flows"]
    for flow in admin.get(f"/{realm}/authentication/flows"):
        if flow.get("alias") not in names or not flow.get("topLevel", True):
            continue
        executions = admin.get(f"/{realm}/authentication/flows/{segment(flow['alias'])}/executions")
        configs = {
            e["authenticationConfig"]: admin.get(
                f"/{realm}/authentication/config/{segment(e['authenticationConfig'])}"
            )
            for e in executions
            if e.get("authenticationConfig")
        }
        live.authentication_flows[flow["alias"]] = {
            "id": flow["id"],
            "alias": flow["alias"],
            "description": flow.get("description") or "",
            "builtIn": flow.get("builtIn", False),
            "_executions": from_executions(executions, configs),
        }


# -- the plan ------------------------------------------------------------------------------


def binding_changes(desired: Desired, live: Live, deleted_flows: set[str]) -> list[str]:
    """The realm settings that name a flow and differ; a binding to a flow idpctl deletes
    goes back to Keycloak's built-in flow."""
    want = {k: desired.settings[k] for k in BINDINGS if desired.settings.get(k) is not None}
    for key, builtin in BINDINGS.items():
        if key not in want and live.settings.get(key) in deleted_flows:
            want[key] = builtin
    return field_changes(want, live.settings)


# -- apply ---------------------------------------------------------------------------------


def flow_path(applier: Applier, alias: str) -> str:
    return f"{applier.r}/authentication/flows/{segment(alias)}"


def add_step(applier: Applier, parent: str, step: dict[str, Any]) -> None:
    """Add one step at the end of flow ``parent``, with its requirement, its config
    and, for a sub-flow, its own steps."""
    executions = f"{flow_path(applier, parent)}/executions"
    if "flow" in step:
        body = {
            "alias": step["flow"],
            "description": step["description"],
            "type": "basic-flow",
            "provider": "registration-page-form",
        }
        applier.admin.post(f"{executions}/flow", body)
    else:
        applier.admin.post(f"{executions}/execution", {"provider": step["authenticator"]})
    added = max(
        (e for e in applier.admin.get(executions) if e.get("level", 0) == 0),
        key=lambda e: e.get("index", 0),
    )
    if added.get("requirement") != step["requirement"]:
        applier.admin.put(executions, {**added, "requirement": step["requirement"]})
    if step.get("config"):
        alias = config_alias(parent, step["authenticator"], added.get("index", 0))
        applier.admin.post(
            f"{applier.r}/authentication/executions/{segment(added['id'])}/config",
            {"alias": alias, "config": step["config"]},
        )
    for sub in step.get("executions", []):
        add_step(applier, step["flow"], sub)


def apply_flow(applier: Applier, change: Change) -> None:
    flows_path = f"{applier.r}/authentication/flows"
    current = next(
        (f for f in applier.admin.get(flows_path) if f.get("alias") == change.name), None
    )
    if change.action == "delete":
        if current is not None:
            applier.admin.delete(f"{flows_path}/{segment(current['id'])}")
        return
    want = applier.d.authentication_flows[change.name]
    body = {
        "alias": change.name,
        "description": want["description"],
        "providerId": "basic-flow",
        "topLevel": True,
        "builtIn": False,
    }
    if current is None:
        applier.admin.post(flows_path, body)
    elif current.get("description", "") != want["description"]:
        applier.admin.put(f"{flows_path}/{segment(current['id'])}", {**body, "id": current["id"]})
    executions = applier.admin.get(f"{flow_path(applier, change.name)}/executions")
    configs = {
        e["authenticationConfig"]: applier.admin.get(
            f"{applier.r}/authentication/config/{segment(e['authenticationConfig'])}"
        )
        for e in executions
        if e.get("authenticationConfig")
    }
    if from_executions(executions, configs) == want["_executions"]:
        return
    for execution in executions:  # a top-level step's removal removes its sub-flow
        if execution.get("level", 0) == 0:
            applier.admin.delete(
                f"{applier.r}/authentication/executions/{segment(execution['id'])}"
            )
    for step in want["_executions"]:
        add_step(applier, change.name, step)


def apply_bindings(applier: Applier, change: Change) -> None:
    want = {k: applier.d.settings[k] for k in BINDINGS if applier.d.settings.get(k) is not None}
    managed = applier.managed_before.get("authentication_flows", set())
    deleting = managed - set(applier.d.authentication_flows)
    live = applier.admin.get(applier.r)
    for key, builtin in BINDINGS.items():
        if key not in want and live.get(key) in deleting:
            want[key] = builtin  # it names a flow idpctl deletes next
    applier.admin.put(applier.r, want)


class AuthenticationFlows(ObjectKind):
    """Top-level flows by alias, and (``flow_bindings``) the realm settings that name a
    flow, applied once the flows exist."""

    name = "authentication_flows"
    labels = {"authentication_flows": "authentication flow", "flow_bindings": "realm flows"}
    protected = BUILTIN_FLOWS

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        def load(path: Path, kind: type) -> Any:
            return files.load(path, source.variables, problems, kind)

        desired.authentication_flows = read_folder(source.realm_dir, problems, load)
        realm_file = str(source.realm_dir / "realm.yml")
        problems += check_bindings(
            desired.settings, desired.authentication_flows, realm_file, desired.realm
        )

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        fetch_flows(admin, realm, set(desired.authentication_flows), live)

    def sub_changes(self, want: dict[str, Any], have: dict[str, Any]) -> list[str]:
        return differences(want["_executions"], have.get("_executions", []))

    def changes(self, desired: Desired, live: Live) -> list[Change]:
        changes = super().changes(desired, live)
        deleted_flows = {c.name for c in self.deletes(desired, live)}
        details = binding_changes(desired, live, deleted_flows)
        if details:
            changes.append(Change("flow_bindings", "update", desired.realm, details))
        return changes

    def apply(self, applier: Applier, change: Change) -> None:
        if change.kind == "flow_bindings":
            apply_bindings(applier, change)
        else:
            apply_flow(applier, change)


KIND = AuthenticationFlows()
