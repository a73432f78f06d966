"""Reading idp/ files: a YAML file as an object or list, ${VAR} placeholders resolved, and
the objects of one kind collected by name, each problem naming the file and the object."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from apiregistry import Problem
from idpctl import fields
from idpctl.templates import read_yaml_file

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(value: Any, variables: dict[str, str], missing: dict[str, str]) -> Any:
    """``value`` with every ``${VAR}`` replaced; each unset name is left, and added to
    ``missing`` with the key path where it is first used."""

    def walk(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if not isinstance(value, str):
            return value

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                missing.setdefault(name, fields.key_path(path))
                return match.group(0)
            return variables[name]

        return PLACEHOLDER.sub(repl, value)

    return walk(value, ())


def read_file(path: Path, problems: list[Problem], kind: type) -> Any:
    """The parsed file, or an empty ``kind`` when it is absent, empty or invalid."""
    if not path.exists() and not path.is_symlink():
        return kind()
    data = read_yaml_file(path, problems)
    if data is None:
        return kind()
    if not isinstance(data, kind):
        problems.append(Problem(str(path), "file", f"expected a {kind.__name__} of objects"))
        return kind()
    return data


def resolve_variables(
    data: Any, variables: dict[str, str], file: str, problems: list[Problem]
) -> Any:
    """``data`` with every ${VAR} replaced; each unset variable is a problem of ``file``."""
    missing: dict[str, str] = {}
    data = substitute(data, variables, missing)
    for name, where in sorted(missing.items()):
        problems.append(
            Problem(
                file,
                "file",
                f"${{{name}}} is not set (in {where}): add it to the "
                "secrets file (.state/secrets.env) or the environment",
            )
        )
    return data


def load(path: Path, variables: dict[str, str], problems: list[Problem], kind: type) -> Any:
    """``read_file`` with ${VAR} resolved."""
    return resolve_variables(read_file(path, problems, kind), variables, str(path), problems)


def names(
    obj: dict[str, Any], key: str, file: str, what: str, problems: list[Problem]
) -> list[str] | None:
    """A list of names from ``obj[key]`` (removed from obj); None when the key is absent."""
    if key not in obj:
        return None
    value = obj.pop(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Problem(file, what, f"{key} must be a list of names"))
        return []
    return list(value)


def add_object(
    kind: dict[str, dict[str, Any]],
    key: str,
    obj: Any,
    file: str,
    what: str,
    problems: list[Problem],
    builtin: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Add ``obj`` to ``kind`` under ``obj[key]``, remembering its file; a missing or
    duplicate name is a problem, and so is the name of an object Keycloak creates itself
    (``builtin``: a new realm has it already, so creating it would fail half-way)."""
    if not isinstance(obj, dict):
        problems.append(Problem(file, what, f"expected a mapping, got {obj!r}"))
        return
    name = obj.get(key)
    if not name:
        problems.append(Problem(file, what, f"{key} is required"))
    elif not fields.is_name(name):
        problems.append(
            Problem(
                file,
                what,
                f"{key} must be a name (text on one line, not blank, not . or ..), got {name!r}",
            )
        )
    elif name in builtin:
        problems.append(
            Problem(
                file,
                f"{what} {name}",
                f"{key} {name!r} is the name of a Keycloak built-in {what} (every realm has "
                "it): choose another name",
            )
        )
    elif name in kind:
        problems.append(Problem(file, f"{what} {name}", f"duplicate {what} {name!r}"))
    else:
        obj["_file"] = file
        kind[name] = obj


def protocol_mappers(
    obj: dict[str, Any], file: str, what: str, problems: list[Problem]
) -> list[dict[str, Any]]:
    """``obj``'s protocolMappers (removed from obj): each needs a name of its own, the key
    idpctl and Keycloak know it by. Their fields are checked with the object's."""
    mappers = obj.pop("protocolMappers", None)
    if not isinstance(mappers, list) or not all(isinstance(m, dict) for m in mappers):
        return []  # None, or a problem fields.check reports
    seen: set[str] = set()
    for i, mapper in enumerate(mappers):
        name = mapper.get("name")
        if not fields.is_name(name):
            problems.append(
                Problem(
                    file,
                    what,
                    f"protocolMappers[{i}].name must be a name (text on one line), got {name!r}",
                )
            )
        elif name in seen:
            problems.append(
                Problem(file, what, f"protocolMappers[{i}]: a second protocol mapper {name!r}")
            )
        else:
            seen.add(name)
    return mappers
