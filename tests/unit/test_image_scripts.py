"""images/pip/drop-absent-scripts.py: the console scripts an image drops (package absent)."""

from __future__ import annotations

import importlib.util
from importlib.metadata import EntryPoint
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "drop_absent_scripts", ROOT / "images" / "pip" / "drop-absent-scripts.py"
)
scripts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scripts)


def test_only_scripts_whose_package_is_missing_are_named() -> None:
    entry_points = [
        EntryPoint("present", "json.tool:main", "console_scripts"),
        EntryPoint("gone", "no_such_package_here.cli:main", "console_scripts"),
        EntryPoint("plugin", "no_such_package_either:thing", "some.plugins"),
    ]
    assert scripts.absent(entry_points) == ["gone"]
