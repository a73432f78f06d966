"""`idpctl validate|plan|apply`: the realms in idp/ against a live Keycloak."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from apiregistry import ConfigError, Problem, is_name, load_registry
from idpctl import live as live_state
from idpctl import plan as planning
from idpctl.admin import AdminError, KeycloakAdmin
from idpctl.apply import Applier, ApplyError
from idpctl.model import Desired, load_realm
from stackconf import secrets as secrets_file
from stackconf import settings as conf


def variables_from(env_file: Path) -> dict[str, str]:
    """The ${VAR} values for idp/ files: the secrets file, then the environment; the hub's
    public and internal URLs default as everywhere else."""
    from_file = secrets_file.read(env_file) if env_file.is_file() else {}
    defaults = {name: conf.get(name) for name in ("HUB_PUBLIC_URL", "HUB_INTERNAL_URL")}
    return {**defaults, **from_file, **os.environ}


def load(idp_dir: Path, realms: list[str], variables: dict[str, str]) -> list[Desired]:
    """Read and check every requested realm; ConfigError lists all problems at once."""
    problems: list[Problem] = []
    apis = {}
    registry = idp_dir / "apis.yml"
    try:
        apis = load_registry(registry)
    except ConfigError as e:
        problems += e.problems
    except OSError as e:
        problems.append(
            Problem(
                str(registry),
                "file",
                f"cannot be read ({e.strerror or e}): the API registry is required "
                "(it may list no API: `apis: {}`)",
            )
        )
    desired = []
    for realm in realms:
        folder = idp_dir / "realms" / realm
        if not is_name(realm):
            problems.append(
                Problem(
                    str(idp_dir / "realms"),
                    f"realm {realm}",
                    "a realm's name (a folder of idp/realms/) may use letters, digits, : . _ -",
                )
            )
            continue
        try:
            found = folder.is_dir()
        except OSError:  # a name too long for a folder's
            found = False
        if not found:
            problems.append(
                Problem(
                    str(folder),
                    f"realm {realm}",
                    f"no such folder: add {folder}/realm.yml or drop it from IDP_REALMS",
                )
            )
            continue
        try:
            desired.append(load_realm(folder, apis, variables, str(registry)))
        except ConfigError as e:
            problems += e.problems
    folders = idp_dir / "realms"
    unknown = sorted(
        {api.realm for api in apis.values()}
        - set(realms)
        - ({p.name for p in folders.iterdir() if p.is_dir()} if folders.is_dir() else set())
    )
    for realm in unknown:
        problems.append(
            Problem(
                str(idp_dir / "apis.yml"),
                f"realm {realm}",
                "an API names this realm but idp/realms/ has no such folder",
            )
        )
    if problems:
        raise ConfigError(problems)
    return desired


def connect(variables: dict[str, str]) -> KeycloakAdmin:
    return KeycloakAdmin(
        conf.get("KEYCLOAK_ADMIN_URL", variables),
        variables.get("KC_BOOTSTRAP_ADMIN_USERNAME", "admin"),
        variables.get("KC_BOOTSTRAP_ADMIN_PASSWORD", ""),
    )


def run(
    command: str,
    idp_dir: Path,
    realms: list[str],
    variables: dict[str, str],
    out: Callable[[str], None] = print,
) -> int:
    """0: done (plan: no changes or changes shown); 1: config or Keycloak error."""
    try:
        desired = load(idp_dir, realms, variables)
    except ConfigError as e:
        out(f"idp/ is not valid ({len(e.problems)} problem(s)); nothing was sent to Keycloak:")
        for problem in e.problems:
            out(f"  {problem}")
        return 1
    if command == "validate":
        out(f"idp/ is valid: realms {', '.join(realms)}.")
        return 0
    try:
        admin = connect(variables)
        for realm in desired:
            current = live_state.fetch(admin, realm)
            changes = planning.compute(realm, current)
            out(planning.summary(realm.realm, changes))
            if command == "apply" and changes:
                Applier(admin, realm).apply(changes, current, report=out)
                out(f"Applied {len(changes)} change(s) to realm {realm.realm}.")
    except (AdminError, ApplyError) as e:
        out(str(e))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="idpctl", description=__doc__)
    parser.add_argument("command", choices=["validate", "plan", "apply"])
    parser.add_argument(
        "--idp-dir",
        type=Path,
        default=conf.get_path("IDP_DIR", base=Path.cwd()),
        help="the folder with apis.yml and realms/ (default: $IDP_DIR or ./idp)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=conf.get_path("SECRETS_FILE", base=Path.cwd()),
        help="secrets and ${VAR} values (default: $SECRETS_FILE or ./.state/secrets.env)",
    )
    parser.add_argument(
        "--realm",
        action="append",
        dest="realms",
        help="realm folder to use (repeatable; default: $IDP_REALMS or demo)",
    )
    args = parser.parse_args(argv)
    realms = args.realms or conf.get_list("IDP_REALMS")
    return run(args.command, args.idp_dir, realms, variables_from(args.env_file))


if __name__ == "__main__":
    sys.exit(main())
