"""Load a script of the repository that is not in a package (images/pip/*.py) as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from tests.support.stack import REPO


def script_module(relative: str) -> ModuleType:
    """The module the file ``relative`` (to the repository) defines, loaded under its stem."""
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(Path(relative).stem.replace("-", "_"), path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
