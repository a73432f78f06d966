"""`compose-runtime up|down|ps|logs|clean|idp-plan|idp-apply|backup|restore`: docker compose
with the generated secrets."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from compose_runtime import backup as backups
from compose_runtime.engine import (
    Compose,
    DockerError,
    docker,
    remove_user_containers,
    run,
    user_volume_names,
    volume_exists,
    volume_names,
)
from compose_runtime.manifest import BackupError
from stackconf import hosts
from stackconf import secrets as secrets_file
from stackconf import settings as conf
from stackconf.banner import banner
from stackconf.settings import StackSettings as Settings


def compose_command(s: Settings) -> list[str]:
    """`docker compose` with the stack's env file and compose files, up to the subcommand."""
    return list(Compose.of(s).argv)


def compose_env(s: Settings) -> dict[str, str]:
    """The environment of the stack's compose calls (the origins, SECRETS_FILE, BuildKit)."""
    return dict(Compose.of(s).env)


def compose(s: Settings, *args: str, check: bool = True) -> int:
    returncode = Compose.of(s).call(*args)
    if check and returncode != 0:
        raise SystemExit(
            f"`docker compose {' '.join(args)}` failed (exit {returncode}); "
            "see the output above, and `make logs`."
        )
    return returncode


def database_volume_exists(s: Settings) -> bool:
    """Whether the stack's Postgres volume exists (its name from the compose file, read
    without the secrets file)."""
    try:
        names = Compose.of(s, env_file=Path(os.devnull)).project(interpolate=False)
        return volume_exists(names.volume(backups.POSTGRES))
    except DockerError:
        return False  # compose cannot read its file: the build below says why


def up(s: Settings) -> int:
    started = time.monotonic()
    if not s.secrets_file.exists() and database_volume_exists(s):
        print(
            f"{s.secrets_file} is missing but the stack's database volume exists: new "
            "passwords would not match the stored ones. Restore the secrets file (a backup "
            "has it: `make restore BACKUP=folder`), or delete the old data with `make clean`, "
            "then `make up`.",
            file=sys.stderr,
        )
        return 1
    try:
        hosts.check_origins(s.public_url, s.keycloak_public_url)
    except conf.SettingError as error:
        print(error, file=sys.stderr)
        return 1
    secrets = secrets_file.ensure(s.secrets_file)
    print("Building images (cached after the first run) ...", flush=True)
    compose(s, "--profile", "images", "build")
    print("Starting the stack and waiting for every healthcheck ...", flush=True)
    if compose(s, "up", "--detach", "--wait", check=False) != 0:
        compose(s, "ps", "--all", check=False)
        compose(s, "logs", "--tail", "40", check=False)
        print(
            "The stack did not become healthy: see the logs above. Fix the cause, then "
            "`make up` again.",
            file=sys.stderr,
        )
        return 1
    runtime = "compose runtime: one container per user server"
    print(banner(s, secrets, runtime=runtime, seconds=time.monotonic() - started))
    return 0


def clean(s: Settings) -> int:
    """User containers the hub left (e.g. of users deleted while their server ran: they carry
    the stack's label), containers, networks, the stack's volumes, per-user volumes."""
    try:
        remove_user_containers(conf.get("DOCKER_API_STACK_LABEL"))
    except DockerError as error:
        print(f"warning: {error}", file=sys.stderr)
    compose(s, "down", "--volumes", check=False)
    homes = user_volume_names(volume_names(), conf.get("USER_VOLUME_NAME"))
    if homes:
        try:
            run([docker(), "volume", "rm", *homes.values()])
        except DockerError as error:
            print(f"warning: {error}", file=sys.stderr)
    return 0


def backup(s: Settings, to: Path | None) -> int:
    folder = to.resolve() if to else backups.default_folder()
    backups.report(backups.backup(Compose.of(s), s.secrets_file, folder), folder)
    return 0


def restore(s: Settings, folder: Path, force: bool) -> int:
    folder = folder.resolve()
    # Until the backup's secrets file is back in place compose reads the backup's copy (the
    # stack may have none yet); the restored file is byte for byte the same.
    backup_secrets = folder / "secrets.env"
    env_file = backup_secrets if backup_secrets.is_file() else None
    return backups.restore(
        Compose.of(s, env_file=env_file),
        s.secrets_file,
        folder,
        force=force,
        start=lambda: up(s),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compose-runtime", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, what in [
        ("up", "build and start the stack, print its URL and demo users"),
        ("down", "stop the stack (volumes are kept)"),
        ("ps", "list the stack's containers"),
        ("logs", "the last lines of every service's log"),
        ("clean", "remove the stack's containers, networks, volumes and user volumes"),
        ("idp-plan", "show what idpctl apply would change in Keycloak"),
        ("idp-apply", "apply idp/ to Keycloak"),
    ]:
        commands.add_parser(name, help=what)
    make = commands.add_parser(
        "backup", help="back up the running stack: databases, fruits, user homes, secrets"
    )
    make.add_argument(
        "--to", type=Path, help="a new or empty folder (default: a new one under BACKUP_DIR)"
    )
    put = commands.add_parser("restore", help="replace the stack's data with a backup, start it")
    put.add_argument("folder", type=Path, help="a folder `compose-runtime backup` made")
    put.add_argument(
        "--force", action="store_true", help="replace existing data (it is lost: back it up first)"
    )
    args = parser.parse_args(argv)
    s = Settings.from_env()
    if args.command == "up":
        return up(s)
    try:
        if args.command == "restore":
            return restore(s, args.folder, args.force)
        if args.command == "backup":
            return backup(s, args.to)
    except (BackupError, DockerError, conf.SettingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not s.secrets_file.exists():
        print("Nothing to do: the stack was never started (no .state/secrets.env).")
        return 0
    # Names added to the stack since the file was made (a newer checkout) get values, so that
    # compose can read the file; no existing value changes.
    secrets_file.ensure(s.secrets_file)
    if args.command == "down":
        return compose(s, "down", check=False)
    if args.command in ("idp-plan", "idp-apply"):
        # The same idpctl, in the hub image, on the stack's network; idp/ is mounted live.
        verb = args.command.removeprefix("idp-")
        return compose(
            s,
            "run",
            "--rm",
            "--no-deps",
            "idp",
            "idpctl",
            verb,
            "--idp-dir",
            "/srv/idp",
            check=False,
        )
    if args.command == "ps":
        return compose(s, "ps", "--all", check=False)
    if args.command == "logs":
        return compose(s, "logs", "--tail", "60", check=False)
    return clean(s)


if __name__ == "__main__":
    sys.exit(main())
