"""docs/architecture.md against the code: the package drawing and the one-owner table.

The drawing must show every package of ``src/`` and exactly the package-level imports that
exist (read with grimp, the graph import-linter checks); every owner the table names (a file,
a module, an attribute, a setting, a Traefik router) must exist. A page that drifts from the
code fails here, not in a reader's head.
"""

from __future__ import annotations

import configparser
import fnmatch
import importlib
import re
from functools import cache
from pathlib import Path

import grimp
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PAGE = ROOT / "docs" / "architecture.md"
PACKAGES = frozenset(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())

NODE = re.compile(r"^\s*([a-z_]+)\[")
EDGE = re.compile(r"^\s*([a-z_]+)\s*-->\s*([a-z_]+)\s*$")


def section(text: str, title: str) -> str:
    """The text of the ``## title`` section of ``text``."""
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def drawn_graph(text: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The packages and import edges the page's package drawing shows."""
    part = section(text, "The code: packages and who may import whom")
    block = part.split("```mermaid", 1)[1].split("```", 1)[0]
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    for line in block.splitlines():
        if match := EDGE.match(line):
            edges.add(match.groups())
            nodes.update(match.groups())
        elif match := NODE.match(line):
            nodes.add(match.group(1))
    return nodes, edges


@cache
def code_graph() -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """The packages of src/ and which imports which (at least one module of it)."""
    graph = grimp.build_graph(*sorted(PACKAGES))
    edges = {
        (importer, imported)
        for importer in PACKAGES
        for imported in PACKAGES
        if importer != imported
        and graph.direct_import_exists(importer=importer, imported=imported, as_packages=True)
    }
    return PACKAGES, frozenset(edges)


def drift(text: str) -> list[str]:
    """What the drawing in ``text`` gets wrong about the code, one line each."""
    nodes, edges = drawn_graph(text)
    packages, imports = code_graph()
    return (
        [f"package {name} is not drawn" for name in sorted(packages - nodes)]
        + [f"{name} is drawn but is no package of src/" for name in sorted(nodes - packages)]
        + [f"import {a} --> {b} is not drawn" for a, b in sorted(imports - edges)]
        + [f"{a} --> {b} is drawn but {a} does not import {b}" for a, b in sorted(edges - imports)]
    )


def test_the_drawing_shows_every_package_and_every_import_and_nothing_else():
    assert drift(PAGE.read_text()) == []


def test_a_drawn_edge_that_the_code_lacks_is_caught():
    # The check's positive control: the page with one edge that does not exist, one missing.
    text = PAGE.read_text()
    stale = text.replace("  apiregistry --> tokencontract\n", "  tokencontract --> stackconf\n")
    assert stale != text
    assert drift(stale) == [
        "import apiregistry --> tokencontract is not drawn",
        "tokencontract --> stackconf is drawn but tokencontract does not import stackconf",
    ]


def test_every_package_is_in_the_layers_contract():
    config = configparser.ConfigParser()
    config.read(ROOT / "importlinter.ini")
    roots = set(config["importlinter"]["root_packages"].split())
    layers = config["importlinter:contract:layers"]["layers"]
    layered = {name for name in re.split(r"[\s|:]+", layers) if name}
    assert roots == PACKAGES
    assert layered == PACKAGES


# --- the one-owner table ---------------------------------------------------------------------

ALL_CAPS = re.compile(r"^[A-Z][A-Z0-9_]*\*?$")
CLASS_NAME = re.compile(r"^[A-Z][a-z]+[A-Za-z]*$")
ROUTER = re.compile(r"the `([a-z0-9-]+)` router of `([^`]+)`")


def owner_rows(text: str) -> list[tuple[str, str]]:
    """(fact, owner cell) of each row of the one-owner table."""
    rows = []
    for line in section(text, "One owner per fact").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("fact", "") and not cells[0].startswith("---"):
            rows.append((cells[0], cells[1]))
    return rows


@cache
def setting_names() -> frozenset[str]:
    table = yaml.safe_load((SRC / "stackconf" / "settings.yml").read_text())
    return frozenset(name for group in table.values() for name in group)


@cache
def class_names() -> frozenset[str]:
    """Every class defined in src/ (read once)."""
    pattern = re.compile(r"^\s*class (\w+)[(:]", re.M)
    return frozenset(name for f in SRC.rglob("*.py") for name in pattern.findall(f.read_text()))


def resolves(dotted: str) -> bool:
    """``package.module[.attribute...]`` names something that exists."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for name in parts[split:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def missing_owners(cell: str) -> list[str]:
    """The names of ``cell`` that name nothing in the repository."""
    names = re.findall(r"`([^`]+)`", cell)
    modules = [n for n in names if n.split(".")[0] in PACKAGES]
    missing = []
    for name in names:
        if name.split(".")[0] in PACKAGES:
            ok = resolves(name)
        elif "/" in name:
            pattern = re.sub(r"<[^>]+>", "*", name.rstrip("/"))
            ok = bool(list(ROOT.glob(pattern)))
        elif ALL_CAPS.match(name):
            ok = any(fnmatch.fnmatch(s, name) for s in setting_names()) or any(
                resolves(f"{module}.{name}") for module in modules
            )
        elif CLASS_NAME.match(name):
            ok = name in class_names()
        else:
            continue  # a word of prose in code style (`requester`, `make venv`)
        if not ok:
            missing.append(name)
    for router, file in ROUTER.findall(cell):
        routers = yaml.safe_load((ROOT / file).read_text())["http"]["routers"]
        if router not in routers:
            missing.append(f"router {router} of {file}")
    return missing


def test_every_owner_in_the_table_exists():
    rows = owner_rows(PAGE.read_text())
    assert len(rows) >= 20
    problems = {fact: missing for fact, cell in rows if (missing := missing_owners(cell))}
    assert problems == {}


def test_an_owner_that_does_not_exist_is_caught():
    # Positive control of the owner check: each kind of name, once right and once wrong.
    cell = (
        "`tokencontract.scopes` `tokencontract.nope` `idp/apis.yml` `idp/nope.yml` "
        "`HUB_PUBLIC_URL` `NO_SUCH_SETTING` `KeycloakAuthenticator` `NoSuchClass` "
        "and the `hub-inside-only` router of `compose/traefik/routes.yml`, "
        "the `token-broker-not-public` router of `compose/traefik/routes.yml`"
    )
    assert missing_owners(cell) == [
        "tokencontract.nope",
        "idp/nope.yml",
        "NO_SUCH_SETTING",
        "NoSuchClass",
        "router token-broker-not-public of compose/traefik/routes.yml",
    ]
