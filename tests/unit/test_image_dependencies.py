"""images/pip/dependencies.py: what an image installs before its sources (images/pip/install.sh)."""

from __future__ import annotations

import tomllib

import pytest

from tests.support.scripts import script_module
from tests.support.stack import REPO

dependencies = script_module("images/pip/dependencies.py")

PROJECT = {
    "name": "demo-project",
    "dependencies": ["httpx>=0.27"],
    "optional-dependencies": {
        "core": ["jupyterhub==6.1.1"],
        "jwt": ["pyjwt[crypto]==2.15.1"],
        "hub": ["demo-project[core]", "demo-project[jwt, core]", "limits==5.8.0"],
        "loop": ["demo-project[loop]", "six"],
    },
}


def test_the_projects_own_extras_are_followed_and_its_name_left_out() -> None:
    assert dependencies.requirements(PROJECT, ["hub"]) == [
        "httpx>=0.27",
        "jupyterhub==6.1.1",
        "limits==5.8.0",
        "pyjwt[crypto]==2.15.1",
    ]


def test_no_extra_gives_the_base_requirements_and_a_loop_ends() -> None:
    assert dependencies.requirements(PROJECT, []) == ["httpx>=0.27"]
    assert dependencies.requirements(PROJECT, ["loop"]) == ["httpx>=0.27", "six"]


def test_an_unknown_extra_is_named() -> None:
    with pytest.raises(SystemExit, match="no extra 'hbu'"):
        dependencies.requirements(PROJECT, ["hbu"])


@pytest.mark.parametrize("image", ["hub", "singleuser", "fruit-api"])
def test_each_image_installs_its_extras_dependencies_before_its_sources(image: str) -> None:
    """The image's EXTRAS exist in pyproject.toml, and its dependency layer comes before the
    sources are copied (else every source change installs every dependency again)."""
    dockerfile = (REPO / "images" / image / "Dockerfile").read_text()
    [extras] = [
        line.split("=", 1)[1] for line in dockerfile.splitlines() if line.startswith("ARG EXTRAS=")
    ]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert dependencies.requirements(project, extras.split(","))
    assert project["name"] not in "".join(dependencies.requirements(project, extras.split(",")))
    assert dockerfile.index("install.sh dependencies") < dockerfile.index("COPY src")
    assert dockerfile.index("COPY src") < dockerfile.index("install.sh project")
