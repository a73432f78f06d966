"""The one scope normalisation, shared by the notebook client and the broker.

Imports nothing beyond the standard library, so that both sides can use it.
"""

from __future__ import annotations

from typing import Any

#: What ``normalize_scope`` accepts: ``None``, ``"a b"``, or a list/tuple such as ``["a", "b c"]``.
ScopeArg = str | list[str] | tuple[str, ...] | None

SCOPE_FORM = (
    "scope must be a space-separated string or a list of scope names, "
    'e.g. "fruits:read fruits:exotic"'
)


def normalize_scope(scope: Any) -> tuple[str, ...]:
    """The sorted unique scope names of ``scope``.

    ``"b a"``, ``["a", "b"]``, ``("b", "a", "a")`` and ``["a b"]`` all give ``("a", "b")``;
    ``None``, ``""`` and ``[]`` give ``()``. List items may themselves be space-separated.
    Anything else (a non-string item, another type) raises ``ValueError`` naming the
    expected form.
    """
    if scope is None:
        return ()
    if isinstance(scope, str):
        items = [scope]
    elif isinstance(scope, list | tuple) and all(isinstance(item, str) for item in scope):
        items = list(scope)
    else:
        raise ValueError(SCOPE_FORM)
    return tuple(sorted({name for item in items for name in item.split()}))
