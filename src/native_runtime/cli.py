"""`native-runtime up|down|status|ps|logs`: the stack as local processes under supervisord."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from idpctl import cli as idpctl_cli
from native_runtime import keycloak, render
from native_runtime.settings import Settings
from stackconf import hosts, localhost_names
from stackconf import secrets as secrets_file
from stackconf import settings as conf
from stackconf.banner import banner

SUPERVISORD = str(Path(sys.executable).parent / "supervisord")
SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")


def _ctl(s: Settings, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    supervisor_conf = s.state_dir / "supervisord.conf"
    command = [SUPERVISORCTL, "-c", str(supervisor_conf), *args]
    return subprocess.run(command, capture_output=True, text=True, check=check)


def running(s: Settings) -> bool:
    return (s.state_dir / "supervisor.sock").exists() and _ctl(s, "pid").returncode == 0


def readiness_checks(s: Settings) -> dict[str, str]:
    """What must answer 200 before the demo is usable (all through Traefik but Keycloak's
    management port)."""
    return {
        "keycloak": f"http://127.0.0.1:{s.keycloak_management_port}/auth/health/ready",
        "realm": f"{s.keycloak_public_url}/realms/{s.realm}/.well-known/openid-configuration",
        "fruit-api": f"{s.fruit_api_public_url}/health",
        "jupyterhub": f"{s.public_url}/hub/health",
    }


def wait_ready(s: Settings, timeout: float, names: list[str] | None = None) -> list[str]:
    """Poll the checks (all, or ``names``) until they pass or ``timeout``; returns the names
    still failing."""
    pending = {k: v for k, v in readiness_checks(s).items() if names is None or k in names}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0) as http:
        while pending and time.monotonic() < deadline:
            for name, url in list(pending.items()):
                try:
                    if http.get(url).status_code == 200:
                        print(f"  ready: {name}", flush=True)
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending:
                time.sleep(1)
    return sorted(pending)


def apply_idp(s: Settings, secrets: dict[str, str]) -> int:
    variables = {
        **os.environ,
        **secrets,
        "HUB_PUBLIC_URL": s.public_url,
        # Keycloak's back-channel logout reaches the hub where it binds (render.py).
        "HUB_INTERNAL_URL": f"http://127.0.0.1:{s.hub_api_port}",
        "KEYCLOAK_ADMIN_URL": s.keycloak_internal_url,
    }
    return idpctl_cli.run("apply", s.idp_dir, s.realms, variables)


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def refuse_unsafe_bind(s: Settings) -> str | None:
    """The native runtime has no TLS: it serves the loopback only, unless the public URL is
    https (a TLS proxy in front of it). Returns the problem, or None."""
    if s.public_bind in LOOPBACK or s.public_url.startswith("https://"):
        return None
    return (
        f"PUBLIC_BIND={s.public_bind} would serve logins, cookies and tokens unencrypted to "
        f"the network ({s.public_url}): the native runtime has no TLS. Keep PUBLIC_BIND="
        "127.0.0.1, put a TLS proxy in front and set HUB_PUBLIC_URL=https://..., or deploy "
        "with the Ansible playbooks (TLS)."
    )


def up(s: Settings, timeout: float) -> int:
    started = time.monotonic()
    problem = refuse_unsafe_bind(s)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        hosts.check_origins(s.public_url, s.keycloak_public_url)
    except conf.SettingError as error:
        print(error, file=sys.stderr)
        return 2
    secrets = secrets_file.ensure(s.secrets_file)
    secrets_file.private_dir(s.state_dir)
    kc_home = keycloak.install(s)
    supervisor_conf = render.write_all(s, secrets, kc_home)
    if running(s):
        _ctl(s, "update")
        _ctl(s, "start", "all")
    else:
        command = [SUPERVISORD, "-c", str(supervisor_conf)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            print(f"supervisord did not start: {result.stderr or result.stdout}", file=sys.stderr)
            return 1
    print("Waiting for Keycloak ...", flush=True)
    failing = wait_ready(s, timeout, ["keycloak"])
    if not failing:
        print("Applying idp/ to Keycloak (idpctl apply) ...", flush=True)
        if apply_idp(s, secrets) != 0:
            print(
                "Fix idp/ as shown above, then run `make idp-apply` (or `make up`).",
                file=sys.stderr,
            )
            return 1
        print("Waiting for the fruit API and JupyterHub ...", flush=True)
        failing = wait_ready(s, timeout)
    if failing:
        print(f"\nNot ready after {timeout:.0f}s: {', '.join(failing)}.", file=sys.stderr)
        print(_ctl(s, "status").stdout, file=sys.stderr)
        for name in failing:
            log = s.logs_dir / f"{name if name != 'realm' else 'keycloak'}.log"
            if log.exists():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
                print(f"--- last lines of {log} ---\n{tail}", file=sys.stderr)
        print(
            "Fix the cause above, then run `make up` again (`make down` stops it all).",
            file=sys.stderr,
        )
        return 1
    runtime = "native runtime: local processes, users are not isolated"
    print(banner(s, secrets, runtime=runtime, seconds=time.monotonic() - started))
    return 0


def down(s: Settings) -> int:
    if not running(s):
        print("The native runtime is not running.")
        return 0
    result = _ctl(s, "shutdown")
    for _ in range(60):
        if not (s.state_dir / "supervisord.pid").exists():
            break
        time.sleep(0.5)
    print(result.stdout.strip() or "Stopped.")
    return 0


def status(s: Settings) -> int:
    if not running(s):
        print("The native runtime is not running (start it with `make up`).")
        return 3
    result = _ctl(s, "status")
    print(result.stdout, end="")
    return result.returncode


def logs(s: Settings, lines: int) -> int:
    for log in sorted(s.logs_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"==> {log} <==\n" + "\n".join(tail))
    return 0


def main(argv: list[str] | None = None) -> int:
    localhost_names.install()  # it waits for Keycloak at auth.localhost (its public URL)
    parser = argparse.ArgumentParser(prog="native-runtime", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start everything and wait until it is ready")
    p_up.add_argument("--timeout", type=float, default=300.0)
    sub.add_parser("down", help="stop everything")
    sub.add_parser("status", help="show each process")
    sub.add_parser("ps", help="the same as status")
    p_logs = sub.add_parser("logs", help="print the last lines of each log")
    p_logs.add_argument("-n", type=int, default=40)
    args = parser.parse_args(argv)
    s = Settings.from_env()
    if args.command == "up":
        return up(s, args.timeout)
    if args.command == "down":
        return down(s)
    if args.command in ("status", "ps"):
        return status(s)
    return logs(s, args.n)


if __name__ == "__main__":
    sys.exit(main())
