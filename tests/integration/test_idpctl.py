"""idpctl against the real Keycloak: idempotent, deletes what it manages, refuses bad files."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.idp_helpers import IDP, client_exists, forget, idpctl, mint
from tests.support.stack import REPO, Stack
from tokencontract.claims import unverified_claims


@pytest.fixture
def idp_copy(tmp_path: Path, stack: Stack) -> Iterator[Path]:
    """A copy of idp/ to edit; the real idp/ is applied again afterwards."""
    copy = tmp_path / "idp"
    shutil.copytree(IDP, copy)
    yield copy
    code, output = idpctl(stack, "apply")
    assert code == 0, output


def test_second_apply_changes_nothing(stack: Stack) -> None:
    assert idpctl(stack, "apply")[0] == 0
    code, output = idpctl(stack, "plan")
    assert code == 0
    assert output == "Realm demo: no changes."


def test_a_client_removed_from_config_is_deleted(stack: Stack, idp_copy: Path) -> None:
    extra = idp_copy / "realms" / "demo" / "clients" / "itest-extra.yml"
    extra.write_text("clientId: itest-extra\npublicClient: true\nstandardFlowEnabled: false\n")
    code, output = idpctl(stack, "apply", idp_copy)
    assert code == 0, output
    assert "+ client itest-extra" in output
    assert client_exists(stack, "itest-extra")
    extra.unlink()
    code, output = idpctl(stack, "apply", idp_copy)
    assert code == 0, output
    assert "- client itest-extra" in output
    assert not client_exists(stack, "itest-extra")
    assert client_exists(stack, "account")  # built-ins are never touched


def test_a_scope_taken_from_a_group_is_refused_at_the_next_mint(
    stack: Stack, idp_copy: Path
) -> None:
    assert mint(stack, "reader", "fruit-api", "fruits:read").status_code == 200
    registry = idp_copy / "apis.yml"
    data = yaml.safe_load(registry.read_text())
    data["apis"]["fruit-api"]["scopes"]["fruits:read"]["groups"] = ["fruit-curators"]
    registry.write_text(yaml.safe_dump(data))
    code, output = idpctl(stack, "apply", idp_copy)
    assert code == 0, output
    assert "realm roles: - fruit-reader" in output or "~ group fruit-readers" in output
    forget(stack, "reader")  # a cached token lives on (docs/security.md: the bound); not asked
    refused = mint(stack, "reader", "fruit-api", "fruits:read")
    assert refused.status_code == 403
    assert refused.json()["error"] == "scope_not_allowed"
    assert mint(stack, "curator", "fruit-api", "fruits:read").status_code == 200


def test_an_invalid_file_changes_nothing(stack: Stack, idp_copy: Path) -> None:
    clients = idp_copy / "realms" / "demo" / "clients"
    (clients / "itest-never.yml").write_text("clientId: itest-never\npublicClient: true\n")
    users = idp_copy / "realms" / "demo" / "users.yml"
    users.write_text(users.read_text().replace("- fruit-readers", "- no-such-group", 1))
    code, output = idpctl(stack, "apply", idp_copy)
    assert code == 1
    assert "users.yml: user reader: group 'no-such-group' is not defined" in output
    assert "nothing was sent to Keycloak" in output
    assert not client_exists(stack, "itest-never")
    assert idpctl(stack, "plan")[1] == "Realm demo: no changes."


def _three_steps() -> tuple[str, list[str]]:
    """The YAML and the commands of docs/add-an-api.md, "Add a protected API in three steps"."""
    doc = (REPO / "docs" / "add-an-api.md").read_text()
    section = doc.split("## Add a protected API in three steps", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)
    snippet = next(body for lang, body in blocks if lang == "yaml")
    commands = [
        line.strip()
        for lang, body in blocks
        if lang == "bash"
        for line in body.splitlines()
        if line.strip()
    ]
    indent = min(len(line) - len(line.lstrip()) for line in snippet.splitlines() if line.strip())
    snippet = "\n".join(line[indent - 2 :] if line.strip() else "" for line in snippet.splitlines())
    return snippet, commands


@pytest.fixture
def registry_restored(stack: Stack) -> Iterator[Path]:
    registry = IDP / "apis.yml"
    original = registry.read_text()
    yield registry
    registry.write_text(original)
    code, output = idpctl(stack, "apply")
    assert code == 0, output


def test_the_docs_three_steps_add_a_working_api(stack: Stack, registry_restored: Path) -> None:
    snippet, commands = _three_steps()
    assert commands == ["make idp-plan", "make idp-apply"]
    registry_restored.write_text(registry_restored.read_text().rstrip("\n") + "\n" + snippet + "\n")
    outputs = [
        subprocess.run(command.split(), cwd=REPO, capture_output=True, text=True, check=True).stdout
        for command in commands
    ]
    assert "+ client weather-api" in outputs[0]
    assert "Applied" in outputs[1]
    minted = mint(stack, "reader", "weather-api", "weather:read")
    assert minted.status_code == 200, minted.text
    claims = unverified_claims(minted.json()["access_token"])
    assert claims["aud"] in ("weather-api", ["weather-api"])
    assert "weather:read" in claims["scope"].split()
    # Removing it again deletes the API's client.
    registry_restored.write_text(registry_restored.read_text().replace(snippet, ""))
    code, output = idpctl(stack, "apply")
    assert code == 0 and "- client weather-api" in output, output
    assert not client_exists(stack, "weather-api")
