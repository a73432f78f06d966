"""The repository's idp/ folder and the ${VAR} values unit tests load it with; its files as
bytes (the seed the fuzz suite changes, written anywhere by ``write_seed``); and running
``idpctl validate`` on a copy of it: ``edit`` a file of the copy, ``validate`` it, the
``problems`` it reports, ``the_problem`` naming a file and an object."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from idpctl import cli
from stackconf.settings import REPO

IDP = REPO / "idp"
IDP_VARIABLES = {
    "JUPYTERHUB_CLIENT_SECRET": "hub-secret-x",
    "JUPYTERHUB_EXCHANGE_CLIENT_SECRET": "exchange-secret-x",
    "JUPYTERHUB_ACCOUNTS_CLIENT_SECRET": "accounts-secret-x",
    "JUPYTERHUB_JOBS_CLIENT_SECRET": "jobs-secret-x",
    "DEMO_TOTP_HUBADMIN": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "HUB_PUBLIC_URL": "http://localhost:8000",
    "HUB_INTERNAL_URL": "http://127.0.0.1:8081",
    "DEMO_PASSWORD_READER": "pw-reader-1A",
    "DEMO_PASSWORD_CURATOR": "pw-curator-1A",
    "DEMO_PASSWORD_VISITOR": "pw-visitor-1A",
    "DEMO_PASSWORD_HUBADMIN": "pw-hubadmin-1A",
}
#: Every realm of idp/, and the ${VAR} values all of them need (IDP_VARIABLES: the demo's).
IDP_REALMS = ["demo", "research"]
IDP_REALMS_VARIABLES = {
    **IDP_VARIABLES,
    "RESEARCH_HUB_CLIENT_SECRET": "research-hub-secret",
    "RESEARCH_EXCHANGE_CLIENT_SECRET": "research-exchange-secret",
    "DEMO_PASSWORD_RESEARCHER": "pw-researcher-1A",
}

# --- the seed: the repository's idp/ folder -----------------------------------------------

SEED: dict[str, bytes] = {
    str(p.relative_to(IDP)): p.read_bytes() for p in sorted(IDP.rglob("*")) if p.is_file()
}


def write_seed(idp: Path) -> None:
    for rel, content in SEED.items():
        (idp / rel).parent.mkdir(parents=True, exist_ok=True)
        (idp / rel).write_bytes(content)


# --- idpctl validate on a copy of idp/ ----------------------------------------------------


def edit(path: Path, change: Callable[[Any], Any]) -> None:
    """Change the parsed file in place (the return value is ignored) and write it back."""
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def validate(
    idp: Path, realms: list[str] | None = None, variables: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = cli.run(
        "validate", idp, realms or ["demo"], variables or IDP_VARIABLES, out=lines.append
    )
    return code, lines


def problems(lines: list[str]) -> list[str]:
    """The problem lines; the header's count must match them."""
    assert lines[0].startswith("idp/ is not valid (")
    found = [line.strip() for line in lines[1:]]
    assert lines[0].startswith(f"idp/ is not valid ({len(found)} problem(s))")
    assert "nothing was sent to Keycloak" in lines[0]
    return found


def the_problem(idp: Path, file: str, obj: str, *words: str, **kw: Any) -> str:
    """Validate, expect failure, and return the one problem line naming file and object."""
    code, lines = validate(idp, **kw)
    assert code == 1, lines
    found = [p for p in problems(lines) if p.startswith(f"{idp / file}: {obj}: ")]
    assert len(found) == 1, lines
    for word in words:
        assert word in found[0], found[0]
    return found[0]
