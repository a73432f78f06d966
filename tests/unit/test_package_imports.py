"""Each program imports without the others' dependencies (issue 24: three programs, three
packages).

Each case runs a fresh interpreter in which some modules cannot be imported (a meta path
finder refuses them, as if they were not installed), then imports one of our packages. The
positive control shows that the blocker does block: the same interpreter fails to import a
blocked module, and a package that needs a blocked module fails too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src"

BLOCKER = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"blocked: {name}", name=name)
        return None
sys.meta_path.insert(0, Blocked())
for name in list(sys.modules):
    if name.split(".")[0] in blocked:
        del sys.modules[name]
import importlib
importlib.import_module(sys.argv[2])
print("imported", sys.argv[2])
"""

HUB = "jupyterhub,oauthenticator,tornado,traitlets,hubbroker"
HTTP = "httpx,requests,httpcore"


def import_without(package: str, blocked: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, blocked, package],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("package", "blocked"),
    [
        ("tokencontract", f"{HUB},{HTTP},jwt,yaml,hubtokens,stackconf"),
        ("tokencontract.claims", f"{HUB},{HTTP},jwt,yaml,hubtokens,stackconf"),
        ("apiregistry", f"{HUB},{HTTP},jwt,hubtokens"),
        ("fruit_api", f"{HUB},{HTTP},hubtokens"),
        ("hubtokens", f"{HUB},jwt,yaml,stackconf,apiregistry"),
        ("hubtokens.cli", f"{HUB},jwt,yaml,stackconf,apiregistry"),
    ],
)
def test_imports_without(package: str, blocked: str) -> None:
    result = import_without(package, blocked)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"imported {package}"


def test_the_blocker_blocks() -> None:
    # Positive controls: a blocked module itself, and a package that needs one.
    httpx = import_without("httpx", HTTP)
    assert httpx.returncode != 0 and "blocked: httpx" in httpx.stderr
    client = import_without("hubtokens", HTTP)
    assert client.returncode != 0 and "blocked: httpx" in client.stderr
    broker = import_without("hubbroker", "jupyterhub")
    assert broker.returncode != 0 and "blocked: jupyterhub" in broker.stderr


def test_tokencontract_imports_only_the_standard_library() -> None:
    outside = set()
    for path in (SRC / "tokencontract").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            outside |= {
                f"{path.name}: {n}"
                for n in names
                if n.split(".")[0] not in sys.stdlib_module_names | {"__future__", "tokencontract"}
            }
    assert outside == set()
