"""Object templates: idp/templates/<kind>/<name>.yml, shared by the realms' object files.

A template is an object (e.g. a ClientRepresentation) plus ``vars:``, the variables it takes,
each with its default (no value: the variable is required). ``{{name}}`` in the template's
strings is replaced by the variable's value. An object file that names ``template: <name>``
is that template with ``{{...}}`` filled from the file's ``vars:``, deep-merged with the
file's own keys (mappings merge key by key; any other value, lists included, replaces the
template's). ${VAR} substitution from the secrets file and environment comes afterwards,
on the merged object.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apiregistry import ConfigError, Problem, read_yaml

TEMPLATE_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: Keys of an object file that belong to the template mechanism, not to the object.
TEMPLATE_KEYS = ("template", "vars")


def read_yaml_file(path: Path, problems: list[Problem]) -> Any:
    """The document in ``path``; None, with the problem added, when it cannot be read or
    parsed (a folder, a broken link, binary data, invalid YAML)."""
    try:
        return read_yaml(path)
    except ConfigError as e:
        problems.extend(e.problems)
    except OSError as e:
        problems.append(Problem(str(path), "file", f"cannot be read: {e.strerror or e}"))
    return None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override``'s keys: mappings merged key by key, other values replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def map_strings(value: Any, change: Callable[[str], Any]) -> Any:
    """``value`` (YAML data) with ``change`` applied to every string in it, at any depth."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [map_strings(v, change) for v in value]
    if isinstance(value, dict):
        return {k: map_strings(v, change) for k, v in value.items()}
    return value


def used_variables(value: Any) -> set[str]:
    """The ``{{name}}`` variables used in the strings of ``value``."""
    found: set[str] = set()
    map_strings(value, lambda text: found.update(TEMPLATE_VARIABLE.findall(text)))
    return found


def fill(value: Any, values: dict[str, Any]) -> Any:
    """``value`` with every ``{{name}}`` replaced; a string that is exactly one variable
    takes the variable's value as it is (a number or boolean stays one). Variables without
    a value are left as they are (their absence is reported by ``Template.values``)."""

    def fill_string(text: str) -> Any:
        whole = TEMPLATE_VARIABLE.fullmatch(text)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return TEMPLATE_VARIABLE.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)

    return map_strings(value, fill_string)


class Template:
    """One template file: its declared variables (name -> default; None: required) and body."""

    def __init__(self, name: str, file: str, variables: dict[str, Any], body: dict[str, Any]):
        self.name, self.file, self.variables, self.body = name, file, variables, body

    def values(
        self, given: dict[str, Any], file: str, what: str, problems: list[Problem]
    ) -> dict[str, Any]:
        """The value of every variable: ``given`` over the defaults; unknown, missing and
        non-scalar values are problems of ``file``."""
        for key in sorted(set(given) - set(self.variables), key=repr):
            problems.append(
                Problem(
                    file,
                    what,
                    f"unknown key {key!r} in vars: template {self.name} ({self.file}) takes "
                    f"{sorted(self.variables)}",
                )
            )
        values = {**{k: v for k, v in self.variables.items() if v is not None}, **given}
        for key in sorted(set(self.variables) - set(values)):
            problems.append(
                Problem(
                    file,
                    what,
                    f"missing template variable {key!r}: template {self.name} ({self.file}) "
                    "needs it in vars",
                )
            )
        for key, value in sorted(given.items(), key=lambda item: repr(item[0])):
            if key in self.variables and not isinstance(value, str | int | float | bool):
                problems.append(
                    Problem(
                        file,
                        what,
                        f"vars: {key} must be a string, a number or a boolean, got {value!r}",
                    )
                )
        return values


def read_template(
    folder: Path, name: Any, file: str, what: str, problems: list[Problem]
) -> Template | None:
    """The template ``name`` in ``folder``; None (with a problem) when it cannot be used."""
    known = sorted(p.stem for p in folder.glob("*.yml"))
    if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
        problems.append(
            Problem(file, what, f"template must name a file of {folder} (known: {known})")
        )
        return None
    path = folder / f"{name}.yml"
    try:
        found_file = path.is_file()
    except OSError:  # a name too long for a file name
        found_file = False
    if not found_file:
        problems.append(
            Problem(file, what, f"unknown template {name!r}: no {path} (known: {known})")
        )
        return None
    found = len(problems)
    data = read_yaml_file(path, problems)
    if len(problems) != found:
        return None
    where = f"template {name}"
    if not isinstance(data, dict):
        problems.append(Problem(str(path), where, "expected a mapping (an object and vars:)"))
        return None
    body = dict(data)
    variables = body.pop("vars", None) or {}
    if "template" in body:
        problems.append(Problem(str(path), where, "a template cannot name another template"))
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and TEMPLATE_VARIABLE.fullmatch(f"{{{{{k}}}}}") for k in variables
    ):
        problems.append(
            Problem(
                str(path),
                where,
                "vars must map each variable (a name: letters, digits, _) to its default "
                "(or nothing)",
            )
        )
        variables = {}
    for key in sorted(used_variables(body) - set(variables)):
        problems.append(
            Problem(str(path), where, f"uses {{{{{key}}}}} but vars does not declare {key!r}")
        )
    if len(problems) != found:
        return None
    return Template(name, str(path), variables, body)


def expand(
    obj: dict[str, Any],
    folder: Path,
    file: str,
    label: str,
    key: str,
    problems: list[Problem],
) -> dict[str, Any] | None:
    """The object an object file describes: ``obj`` itself, or, when it names a template
    of ``folder``, the filled template deep-merged with ``obj``'s own keys.

    ``label`` and ``key`` name the object in problems (e.g. "client" and "clientId"). None
    when the template cannot be used (the problem is reported)."""
    if "template" not in obj:
        if "vars" in obj:
            what = f"{label} {obj.get(key)}"
            problems.append(Problem(file, what, "unknown key 'vars' (used only with template:)"))
            return {k: v for k, v in obj.items() if k != "vars"}
        return obj
    own = {k: v for k, v in obj.items() if k not in TEMPLATE_KEYS}
    given = obj.get("vars") or {}
    what = f"{label} {own.get(key)}"
    template = read_template(folder, obj["template"], file, what, problems)
    if template is None:
        return None
    what = f"{label} {own.get(key, template.body.get(key))}"
    if key not in own and key not in template.body:
        problems.append(
            Problem(
                template.file,
                f"template {template.name}",
                f"{key} is required: the template defines none, nor does {file}",
            )
        )
    if not isinstance(given, dict):
        problems.append(Problem(file, what, "vars must map template variables to values"))
        given = {}
    values = template.values(given, file, what, problems)
    return deep_merge(fill(template.body, values), own)
