"""``Refused``, and the small field rules the container and service rules are made of.

A rule is a function of a field's name (``HostConfig.CapDrop``, ``TaskTemplate.Resources``...)
and its value; it returns if the value is allowed, else raises ``Refused`` naming the field and
the rule. ``fields`` applies a table of rules (key -> rule: an allowlist) to a JSON object.

``parse_body`` reads a request body as Docker would, less its leniency: Docker's Go JSON decoder
matches keys case-insensitively and lets a later duplicate win, so a duplicate key is refused
(and the tables spell each key exactly as Docker's API does, so another spelling is unknown).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: A rule: checks one field (its name for the message, its value), raises Refused.
Rule = Callable[[str, Any], None]


class Refused(Exception):
    """A rule refused the request; ``reason`` names the field and the rule."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def empty(value: Any) -> bool:
    if value is None or value is False or value == "":
        return True
    return isinstance(value, list | dict) and not value


def must_be_empty(field: str, value: Any) -> None:
    if not empty(value):
        raise Refused(f"{field} must be absent, empty or false (got {short(value)})")


def one_of(*allowed: str) -> Rule:
    def rule(field: str, value: Any) -> None:
        if value is not None and value not in allowed:
            shown = " or ".join(repr(a) for a in allowed)
            raise Refused(f"{field} must be {shown} (got {short(value)})")

    return rule


def free(field: str, value: Any) -> None:
    """No rule: the user's own container may set this as it likes."""


def short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 80 else text[:77] + "..."


def json_object(field: str, value: Any, allowed_keys: Mapping[str, Any] | set[str]) -> dict:
    if not isinstance(value, dict):
        raise Refused(f"{field} must be a JSON object")
    unknown = sorted(set(value) - set(allowed_keys))
    if unknown:
        raise Refused(f"{field}.{unknown[0]} is not allowed (not a field DockerSpawner sends)")
    return value


def string_list(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused(f"{field} must be a list of strings")
    return value


def positive_int(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise Refused(f"{field} must be a positive integer (got {short(value)})")


def non_negative_int(field: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise Refused(f"{field} must be an integer >= 0 (got {short(value)})")


def fields(
    field: str,
    value: Any,
    rules: Mapping[str, Rule],
    required: Sequence[str] = (),
) -> dict:
    """An object whose keys are all on the allowlist ``rules`` and include ``required``; each
    key's rule is applied to its value (the field named ``field.key``; ``key`` in the body)."""
    obj = json_object(field, value, rules)
    prefix = "" if field == "body" else f"{field}."
    for key in required:
        if key not in obj:
            raise Refused(f"{prefix}{key} is missing")
    for key, item in obj.items():
        rules[key](f"{prefix}{key}", item)
    return obj


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise Refused(f"request body has the key {key!r} twice", 400)
        obj[key] = value
    return obj


def _no_constants(name: str) -> Any:
    raise Refused(f"request body is not JSON ({name})", 400)


def parse_body(body: bytes) -> dict:
    """A JSON object without duplicate keys, else Refused (400)."""
    try:
        value = json.loads(body, object_pairs_hook=no_duplicate_keys, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError):
        raise Refused("request body is not valid JSON", 400) from None
    if not isinstance(value, dict):
        raise Refused("request body must be a JSON object", 400)
    return value
