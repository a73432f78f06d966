"""Reading one idp/ YAML file: every way it can be unreadable is a ``ConfigError`` that names
the file, never a traceback from the YAML library or the text decoder.

Stricter than ``yaml.safe_load`` where it silently does something surprising: a duplicate key
(YAML forbids it; safe_load keeps the last value) is an error, and so is a document that
expands, through anchors and aliases, into more values than any idp/ file has (a "billion
laughs" would otherwise take the memory and the time of whoever reads it), or nests deeper
than any idp/ file does, or refers to itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

from apiregistry.problems import ConfigError, Problem

#: At most this many values in a document, aliases expanded (idp/ files have hundreds).
MAX_VALUES = 100_000
#: At most this many levels of nesting (idp/ files have fewer than ten).
MAX_DEPTH = 64
MERGE_TAG = "tag:yaml.org,2002:merge"

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """yaml.safe_load's loader, refusing duplicate keys in a mapping."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *defaults` may be overridden key by key
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class reports it
                duplicate = False
            if duplicate:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_size(root: Node) -> str | None:
    """What is wrong with the size of the document, aliases expanded; None when it is fine.
    Iterative, and each node counted once: the check itself stays cheap on a bomb."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth)
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            below = [sizes[id(c)] for c in _children(node)]
            values = 1 + sum(v for v, _ in below)
            depth = 1 + max((d for _, d in below), default=0)
            if values > MAX_VALUES:
                return (
                    f"expands to more than {MAX_VALUES} values through anchors and aliases "
                    "(&name, *name)"
                )
            if depth > MAX_DEPTH:
                return f"nests deeper than {MAX_DEPTH} levels"
            sizes[key] = (values, depth)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            mark = node.start_mark
            return (
                f"an alias refers to a value that contains it (line {mark.line + 1}, "
                f"column {mark.column + 1})"
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(_children(node)))
    return None


def _describe(error: yaml.YAMLError) -> str:
    """One line: where, and what the YAML library found."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = error.problem or error.context or "syntax error"
        context = f" ({error.context})" if error.context and error.problem else ""
        return f"{where}{what}{context}"
    return " ".join(str(error).split())


def read_yaml(path: Path) -> Any:
    """The document in ``path``: None when it is empty. ConfigError (naming the file) when it
    is not UTF-8 text or not valid YAML, or too big or too deep; OSError when it cannot be
    read at all (callers say what to do then)."""
    raw = path.read_bytes()
    file = str(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            [Problem(file, "file", f"not UTF-8 text (byte {e.start}): is it a YAML file?")]
        ) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        too_big = _check_size(node)
        if too_big:
            raise ConfigError([Problem(file, "file", f"not a usable YAML document: {too_big}")])
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise ConfigError([Problem(file, "file", f"not valid YAML: {_describe(e)}")]) from None
    finally:
        loader.dispose()
