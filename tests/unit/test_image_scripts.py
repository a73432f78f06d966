"""images/pip/drop-absent-scripts.py: the console scripts an image drops (package absent)."""

from __future__ import annotations

from importlib.metadata import EntryPoint

from tests.support.scripts import script_module

scripts = script_module("images/pip/drop-absent-scripts.py")


def test_only_scripts_whose_package_is_missing_are_named() -> None:
    entry_points = [
        EntryPoint("present", "json.tool:main", "console_scripts"),
        EntryPoint("gone", "no_such_package_here.cli:main", "console_scripts"),
        EntryPoint("plugin", "no_such_package_either:thing", "some.plugins"),
    ]
    assert scripts.absent(entry_points) == ["gone"]
