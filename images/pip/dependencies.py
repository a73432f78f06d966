"""Print what an image installs before its sources: the requirements of this project and of
the extras given, one per line, read from pyproject.toml (an extra that names the project
itself, ``name[other]``, brings the other extra's). Installed in a layer of their own, they
are not downloaded again when only the sources change.

    python dependencies.py pyproject.toml hub,compose
"""

from __future__ import annotations

import re
import sys
import tomllib


def requirements(project: dict, extras: list[str]) -> list[str]:
    """The project's requirements and those of ``extras``, sorted, without its own name."""
    own = re.compile(rf"{re.escape(project['name'])}\[([\w,-]+)\]")
    optional = project.get("optional-dependencies", {})
    found, seen, todo = set(project.get("dependencies", [])), set(), list(extras)
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"pyproject.toml has no extra {extra!r} (it has {sorted(optional)})")
        seen.add(extra)
        for requirement in optional[extra]:
            if mine := own.fullmatch(requirement.replace(" ", "")):
                todo.extend(mine.group(1).split(","))
            else:
                found.add(requirement)
    return sorted(found)


def main(argv: list[str]) -> int:
    path, extras = argv
    with open(path, "rb") as f:
        project = tomllib.load(f)["project"]
    print("\n".join(requirements(project, [e for e in extras.split(",") if e])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
