"""`compose-runtime up|down|ps|logs|clean`: docker compose with the generated secrets."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from stackconf import hosts
from stackconf import secrets as secrets_file
from stackconf import settings as conf
from stackconf.banner import banner
from stackconf.settings import StackSettings as Settings


def docker() -> str:
    """Debian's docker client first (BuildKit builds), else whatever is on PATH."""
    return (
        "/usr/bin/docker"
        if Path("/usr/bin/docker").exists()
        else (shutil.which("docker") or "docker")
    )


def compose_command(s: Settings) -> list[str]:
    files = ["-f", str(s.repo / "compose" / "compose.yml")]
    if s.admin_console_routed:
        files += ["-f", str(s.repo / "compose" / "admin-console.yml")]
    return [docker(), "compose", "--env-file", str(s.secrets_file), *files]


def compose(s: Settings, *args: str, check: bool = True) -> int:
    # SECRETS_FILE: the idp job mounts it (idpctl reads its ${VAR}s there).
    env = {
        **os.environ,
        "COMPOSE_BAKE": "false",
        "DOCKER_BUILDKIT": "1",
        "SECRETS_FILE": str(s.secrets_file),
        # The origins as stackconf resolves them (compose.yml's x-public-urls).
        "HUB_PUBLIC_URL": s.public_url,
        "KEYCLOAK_PUBLIC_URL": s.keycloak_public_url,
        "HUB_USER_SUBDOMAINS": str(s.user_subdomains).lower(),
    }
    if env.get("EXTRA_CA_BUNDLE"):  # an absolute host path: the hub mounts it into user servers
        env["EXTRA_CA_BUNDLE"] = str(Path(env["EXTRA_CA_BUNDLE"]).resolve())
    result = subprocess.run([*compose_command(s), *args], env=env, check=False)
    if check and result.returncode != 0:
        raise SystemExit(
            f"`docker compose {' '.join(args)}` failed (exit {result.returncode}); "
            "see the output above, and `make logs`."
        )
    return result.returncode


def volume_exists(name: str) -> bool:
    return (
        subprocess.run(
            [docker(), "volume", "inspect", name], capture_output=True, check=False
        ).returncode
        == 0
    )


def up(s: Settings) -> int:
    started = time.monotonic()
    if not s.secrets_file.exists() and volume_exists("jupyterhub-keycloak_postgres"):
        print(
            f"{s.secrets_file} is missing but the stack's database volume exists: new "
            "passwords would not match the stored ones. Restore the secrets file, or delete "
            "the old data with `make clean`, then `make up`.",
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compose-runtime", description=__doc__)
    parser.add_argument(
        "command", choices=["up", "down", "ps", "logs", "clean", "idp-plan", "idp-apply"]
    )
    args = parser.parse_args(argv)
    s = Settings.from_env()
    if args.command == "up":
        return up(s)
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
    # clean: user containers the hub left (e.g. of users deleted while their server ran: they
    # carry the stack's label), containers, networks, the stack's volumes, per-user volumes.
    label = conf.get("DOCKER_API_STACK_LABEL")
    leftovers = subprocess.run(
        [docker(), "ps", "-aq", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if leftovers:
        subprocess.run([docker(), "rm", "-f", *leftovers], check=False, capture_output=True)
    compose(s, "down", "--volumes", check=False)
    volumes = subprocess.run(
        [docker(), "volume", "ls", "-q", "--filter", "name=jupyterhub-user-"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if volumes:
        subprocess.run([docker(), "volume", "rm", *volumes], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
