"""Tokens never reach a saved notebook: a pre-save hook that removes them from outputs.

Before the server writes a notebook (and so before any checkpoint, which is a copy of the
written file), every string in its outputs and in its widget state that looks like a JWT (a
signed one: ``eyJ<header>.eyJ<payload>.<signature>``, base64url) is replaced with
``PLACEHOLDER``. That is every token the hub's broker or a laptop login mints, and, being
conservative, any other signed JWT a cell printed. It looks in every place an output can hold
text: ``text/plain``, ``text/html``, ``application/json`` (nested), any other MIME type,
stream text (also split across lines and across consecutive stream outputs, which are merged
first, as JupyterLab shows them), error tracebacks and widget state.

On by default; ``USER_SAVE_SCRUBBER=false`` (stackconf, passed to each server) turns it off.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: A signed JWT: two base64url JSON segments ("eyJ" is '{"') and a signature.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
PLACEHOLDER = "[token removed when saved: hubtokens keeps tokens out of notebooks]"


def scrub_text(text: str) -> tuple[str, int]:
    """``text`` with each JWT replaced, and how many were."""
    return JWT.subn(PLACEHOLDER, text)


def _join(value: Any) -> tuple[str, bool]:
    """nbformat's multiline strings: a string, or a list of lines."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value), True
    return value, False


def _split(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def scrub_lines(value: Any) -> tuple[Any, int]:
    """An nbformat multiline string (a string, or a list of lines): a token split across
    lines is found whole; the lines are re-split only if something was removed."""
    joined, was_lines = _join(value)
    if not isinstance(joined, str):
        return scrub_value(value)
    text, n = scrub_text(joined)
    if not n:
        return value, 0
    return (_split(text) if was_lines else text), n


def scrub_value(value: Any) -> tuple[Any, int]:
    """Any JSON value (JSON output data, widget state) with every JWT in its strings
    replaced, string by string."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list):
        total, items = 0, []
        for item in value:
            item, n = scrub_value(item)
            items.append(item)
            total += n
        return items, total
    if isinstance(value, dict):
        total, entries = 0, {}
        for key, item in value.items():
            entries[key], n = scrub_value(item)
            total += n
        return entries, total
    return value, 0


def is_json_type(mime: str) -> bool:
    return mime == "application/json" or mime.endswith("+json")


def scrub_output(output: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """One output: stream text and every non-JSON MIME type as multiline strings, JSON data
    string by string, then everything else (tracebacks, metadata) string by string."""
    output, removed = dict(output), 0
    if "text" in output:
        output["text"], n = scrub_lines(output["text"])
        removed += n
    data = output.get("data")
    if isinstance(data, dict):
        cleaned = {}
        for mime, value in data.items():
            scrub = scrub_value if is_json_type(str(mime)) else scrub_lines
            cleaned[mime], n = scrub(value)
            removed += n
        output["data"] = cleaned
    output, n = scrub_value(output)
    return output, removed + n


def merge_streams(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive stream outputs of the same stream as one (as JupyterLab displays them), so
    that a token printed in two writes is seen whole."""
    merged: list[dict[str, Any]] = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (
            last is not None
            and output.get("output_type") == "stream"
            and last.get("output_type") == "stream"
            and output.get("name") == last.get("name")
        ):
            text = _join(last.get("text", ""))[0] + _join(output.get("text", ""))[0]
            merged[-1] = {**last, "text": _split(text)}
        else:
            merged.append(output)
    return merged


def scrub_notebook(notebook: dict[str, Any]) -> int:
    """Remove JWTs from a notebook's outputs and widget state, in place; how many."""
    removed = 0
    for cell in notebook.get("cells") or []:
        if not isinstance(cell, dict) or not isinstance(cell.get("outputs"), list):
            continue
        outputs = merge_streams(cell["outputs"])
        cleaned = []
        for output in outputs:
            output, n = scrub_output(output) if isinstance(output, dict) else (output, 0)
            cleaned.append(output)
            removed += n
        cell["outputs"] = cleaned
    metadata = notebook.get("metadata")
    if isinstance(metadata, dict) and "widgets" in metadata:
        metadata["widgets"], n = scrub_value(metadata["widgets"])
        removed += n
    return removed


def make_pre_save_hook(log: Any) -> Callable[..., None]:
    """The hook for ``ContentsManager.register_pre_save_hook``."""

    def scrub_before_save(model: dict[str, Any], path: str, **kwargs: Any) -> None:
        if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
            return
        removed = scrub_notebook(model["content"])
        if removed:
            log.info("hubtokens: removed %d token(s) from %s before saving it", removed, path)

    return scrub_before_save
