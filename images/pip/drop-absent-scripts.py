"""Remove the project's console scripts whose package this image does not hold.

pyproject.toml declares the commands of every program (idpctl, the runtimes, the fruit API...),
and `pip install` writes them all; an image holds only its own packages (the user's image: the
notebook client and what it shares). Without this a user who types `idpctl` in a terminal gets
a traceback instead of "command not found".

    python drop-absent-scripts.py pyproject.toml
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sys
import tomllib


def absent(entry_points: list[importlib.metadata.EntryPoint]) -> list[str]:
    """The names of the console scripts whose top-level package cannot be found."""
    return [
        ep.name
        for ep in entry_points
        if ep.group == "console_scripts"
        and importlib.util.find_spec(ep.module.split(".")[0]) is None
    ]


def main(argv: list[str]) -> int:
    [path] = argv
    with open(path, "rb") as f:
        name = tomllib.load(f)["project"]["name"]
    for script in absent(list(importlib.metadata.distribution(name).entry_points)):
        if found := shutil.which(script):
            os.remove(found)
            print(f"removed {found}: its package is not in this image")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
