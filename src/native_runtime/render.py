"""Config files for Traefik and supervisord, written into the state directory."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import yaml

from native_runtime.keycloak import java_home
from native_runtime.settings import Settings
from stackconf import settings as conf

BIN = Path(sys.executable).parent


#: Routes both runtimes share (compose mounts the same files): Keycloak's public endpoints
#: and the fruit API; the admin console only when KEYCLOAK_ADMIN_CONSOLE is true.
ROUTES_DIR = ("compose", "traefik")
ROUTES, ADMIN_CONSOLE_ROUTES = "routes.yml", "admin-console.yml"


def route_files(s: Settings) -> list[Path]:
    names = [ROUTES] + ([ADMIN_CONSOLE_ROUTES] if s.admin_console_routed else [])
    return [s.repo.joinpath(*ROUTES_DIR, name) for name in names]


def traefik_static(s: Settings) -> dict:
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            # The one front door: hub, Keycloak's public endpoints and the fruit API.
            "http": {
                "address": f"{s.public_bind}:{s.public_port}",
                "http": {"middlewares": ["security-headers@file"]},
            },
            # Traefik's API for the hub's proxy (jupyterhub-traefik-proxy), loopback only.
            "auth_api": {"address": f"127.0.0.1:{s.traefik_api_port}"},
        },
        "api": {"dashboard": False},
        "ping": {"entryPoint": "auth_api"},
        "log": {"level": "INFO"},
        "providers": {
            "providersThrottleDuration": "0s",
            "file": {"directory": str(s.state_dir / "traefik" / "dynamic"), "watch": True},
        },
    }


def program_env(s: Settings, secrets: dict[str, str], kc_home: Path) -> dict[str, dict[str, str]]:
    """Each program gets only the settings and secrets it needs."""
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    common = {"PATH": path, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    keycloak = {
        **common,
        "JAVA_HOME": java_home(),
        "KC_HTTP_ENABLED": "true",
        "KC_HTTP_HOST": "127.0.0.1",
        "KC_HTTP_PORT": str(s.keycloak_port),
        "KC_HTTP_MANAGEMENT_PORT": str(s.keycloak_management_port),
        "KC_HOSTNAME": s.keycloak_public_url,
        "KC_HOSTNAME_BACKCHANNEL_DYNAMIC": "true",
        "KC_PROXY_HEADERS": "xforwarded",
        "KC_BOOTSTRAP_ADMIN_USERNAME": secrets["KC_BOOTSTRAP_ADMIN_USERNAME"],
        "KC_BOOTSTRAP_ADMIN_PASSWORD": secrets["KC_BOOTSTRAP_ADMIN_PASSWORD"],
    }
    issuer = f"{s.keycloak_public_url}/realms/{s.realm}"
    fruit_api = {
        **common,
        "FRUIT_API_ISSUER": issuer,
        "FRUIT_API_JWKS_URL": (
            f"{s.keycloak_internal_url}/realms/{s.realm}/protocol/openid-connect/certs"
        ),
        "FRUIT_API_DATABASE_URL": f"sqlite:///{s.state_dir / 'fruits.sqlite'}",
        "FRUIT_API_PORT": str(s.fruit_api_port),
        "FRUIT_API_HOST": "127.0.0.1",
    }
    hub = {
        **common,
        # Hub settings the admin set (stackconf's names), then what this runtime decides.
        **{
            name: os.environ[name]
            for name, variable in conf.VARIABLES.items()
            if variable.reader in ("stack", "hub") and os.environ.get(name)
        },
        "HUB_PUBLIC_URL": s.public_url,
        "KEYCLOAK_PUBLIC_URL": s.keycloak_public_url,
        "HUB_BIND_URL": f"http://127.0.0.1:{s.hub_api_port}",
        "HUB_STATE_DIR": str(s.state_dir / "hub"),
        # Local processes; the load benchmark asks for its stand-ins (HUB_SPAWNER=standin).
        "HUB_SPAWNER": "standin" if conf.get("HUB_SPAWNER") == "standin" else "local",
        "KEYCLOAK_INTERNAL_URL": s.keycloak_internal_url,
        "TRAEFIK_API_URL": f"http://127.0.0.1:{s.traefik_api_port}",
        "TRAEFIK_DYNAMIC_CONFIG_FILE": str(s.state_dir / "traefik" / "dynamic" / "jupyterhub.toml"),
        "IDP_API_REGISTRY": str(conf.get_path("IDP_API_REGISTRY", base=s.repo)),
        "PYTHONPATH": str(s.repo / "src"),
        **{
            k: secrets[k]
            for k in (
                "JUPYTERHUB_CLIENT_SECRET",
                "JUPYTERHUB_CRYPT_KEY",
                "JPY_COOKIE_SECRET",
                "TRAEFIK_API_PASSWORD",
            )
        },
        "TOKEN_EXCHANGE_CLIENT_SECRET": secrets["JUPYTERHUB_EXCHANGE_CLIENT_SECRET"],
        "ACCOUNTS_CLIENT_SECRET": secrets["JUPYTERHUB_ACCOUNTS_CLIENT_SECRET"],
        "JOB_GRANTS_CLIENT_SECRET": secrets["JUPYTERHUB_JOBS_CLIENT_SECRET"],
    }
    # The upstreams of the shared route files (compose's defaults are the service names).
    traefik = {
        **common,
        "KEYCLOAK_PUBLIC_URL": s.keycloak_public_url,  # Keycloak's router matches its host
        "HUB_PUBLIC_URL": s.public_url,  # and the fruit API's the hub's
        "KEYCLOAK_UPSTREAM_URL": f"http://127.0.0.1:{s.keycloak_port}",
        "FRUIT_API_UPSTREAM_URL": f"http://127.0.0.1:{s.fruit_api_port}",
    }
    return {"keycloak": keycloak, "traefik": traefik, "fruit-api": fruit_api, "jupyterhub": hub}


def _env_line(env: dict[str, str]) -> str:
    for key, value in env.items():
        if any(ch in value for ch in '"%\n'):
            raise ValueError(f"{key}: value contains a character supervisord cannot carry")
    return ",".join(f'{key}="{value}"' for key, value in env.items())


def supervisord_conf(s: Settings, secrets: dict[str, str], kc_home: Path) -> str:
    state, logs = s.state_dir, s.logs_dir
    envs = program_env(s, secrets, kc_home)
    programs = {
        "keycloak": (
            [str(kc_home / "bin" / "kc.sh"), "start", "--optimized"],
            kc_home,
            10,
            60,
        ),
        "traefik": (
            [str(BIN / "traefik"), f"--configfile={state / 'traefik' / 'traefik.yml'}"],
            state,
            20,
            10,
        ),
        "fruit-api": ([sys.executable, "-m", "fruit_api"], state, 30, 10),
        "jupyterhub": (
            [
                sys.executable,
                "-m",
                "jupyterhub",
                "-f",
                str(s.repo / "hub" / "jupyterhub_config.py"),
            ],
            state / "hub",
            40,
            30,
        ),
    }
    lines = [
        "; Generated by `make up` (native runtime). Holds secrets: mode 0600, never commit.",
        "[unix_http_server]",
        f"file={state / 'supervisor.sock'}",
        "chmod=0700",
        "[supervisord]",
        f"logfile={logs / 'supervisord.log'}",
        f"pidfile={state / 'supervisord.pid'}",
        f"childlogdir={logs}",
        f"directory={state}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{state / 'supervisor.sock'}",
    ]
    for name, (command, directory, priority, stopwait) in programs.items():
        lines += [
            f"[program:{name}]",
            "command=" + " ".join(command),
            f"directory={directory}",
            f"environment={_env_line(envs[name])}",
            f"priority={priority}",
            "autorestart=true",
            "startsecs=3",
            f"stopwaitsecs={stopwait}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={logs / (name + '.log')}",
            "stdout_logfile_maxbytes=10MB",
            "stdout_logfile_backups=2",
        ]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def write_all(s: Settings, secrets: dict[str, str], kc_home: Path) -> Path:
    for sub in ("traefik/dynamic", "hub", "logs"):
        (s.state_dir / sub).mkdir(parents=True, exist_ok=True)
    (s.state_dir / "traefik" / "traefik.yml").write_text(
        yaml.safe_dump(traefik_static(s), sort_keys=False)
    )
    dynamic = s.state_dir / "traefik" / "dynamic"
    wanted = route_files(s)
    for stale in {ROUTES, ADMIN_CONSOLE_ROUTES} - {f.name for f in wanted}:
        (dynamic / stale).unlink(missing_ok=True)
    for source in wanted:
        shutil.copyfile(source, dynamic / source.name)
    conf = s.state_dir / "supervisord.conf"
    write_private(conf, supervisord_conf(s, secrets, kc_home))
    return conf
