"""Traits whose default, help and environment variable are one row of the settings table.

``setting(Float, "TOKEN_CACHE_MARGIN")`` is a configurable trait whose default is read when
first used, through ``stackconf.settings`` (the variable's value, else the table's default),
and whose help is the table's help: ``src/stackconf/settings.yml`` stays the one owner of the
name, the default and the meaning, and a value set in ``jupyterhub_config.py`` still wins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from traitlets import Bool, Float, Integer, TraitType, Undefined, Unicode

from stackconf import settings as conf

#: How each kind of trait reads its variable.
READERS: dict[type[TraitType], Callable[[str], Any]] = {
    Unicode: conf.get,
    Float: conf.get_float,
    Integer: conf.get_int,
    Bool: conf.get_bool,
}


def setting(kind: type[TraitType], name: str) -> TraitType:
    """A ``kind`` trait (``config=True``) for the setting ``name`` of the settings table."""
    read = READERS[kind]
    variable = conf.VARIABLES[name]

    class FromSetting(kind):  # type: ignore[misc, valid-type]
        default_value = Undefined

        def make_dynamic_default(self) -> Any:
            return read(name)

        def default_value_repr(self) -> str:
            return f"${name}, else {variable.default!r}"

    FromSetting.__name__ = FromSetting.__qualname__ = kind.__name__
    text = variable.help[:1].upper() + variable.help[1:]
    return FromSetting(config=True, help=f"{text}. Env: {name}.")
