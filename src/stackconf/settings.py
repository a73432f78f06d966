"""Every environment variable of the stack, its one default and what it means.

The table is ``settings.yml`` beside this module. Programs read a setting with ``get(NAME)``
(or ``get_int``, ``get_float``, ``get_list``, ``get_bool``, ``get_path``): the environment's
value when it is set and not empty, else the table's default. A default may name other
settings in braces (``{HUB_PUBLIC_URL}/auth``); they are resolved the same way.
``StackSettings`` gathers what both runtimes and the tests need.
docs/configuration.md shows the table (``python -m stackconf.settings``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

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


TABLE_FILE = Path(__file__).with_name("settings.yml")
READERS = {
    "stack": "Every runtime and tool",
    "hub": "The hub (hub/jupyterhub_config.py, KeycloakAuthenticator)",
    "native": "The native runtime",
    "compose": "The compose runtime",
    "swarm": "The swarm runtime",
}


def _load_table() -> dict[str, Variable]:
    table = yaml.safe_load(TABLE_FILE.read_text())
    unknown = sorted(set(table) - set(READERS))
    if unknown:
        raise ValueError(f"{TABLE_FILE}: unknown reader(s) {unknown} (known: {list(READERS)})")
    return {
        name: Variable(name, str(spec["default"]), spec["help"], reader)
        for reader, variables in table.items()
        for name, spec in variables.items()
    }


#: Every variable, from settings.yml beside this module.
VARIABLES: dict[str, Variable] = _load_table()


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


@dataclass(frozen=True)
class StackSettings:
    """What both runtimes and the tests share: where things are and where the stack answers."""

    repo: Path
    secrets_file: Path
    idp_dir: Path
    realms: list[str]
    public_url: str
    keycloak_public_url: str
    fruit_api_public_url: str
    realm: str
    admin_console_routed: bool
    user_subdomains: bool

    def server_url(self, user: str, base: str = "") -> str:
        """Where ``user``'s default server answers (stackconf.hosts.server_url)."""
        from stackconf.hosts import server_url

        return server_url(self.public_url, user, base, self.user_subdomains)

    @classmethod
    def from_env(cls, repo: Path = REPO, **more: object):
        """The shared fields from the environment; ``more`` fills a subclass's own fields."""
        return cls(
            repo=repo,
            secrets_file=get_path("SECRETS_FILE", base=repo),
            idp_dir=get_path("IDP_DIR", base=repo),
            realms=get_list("IDP_REALMS"),
            public_url=get("HUB_PUBLIC_URL").rstrip("/"),
            keycloak_public_url=get("KEYCLOAK_PUBLIC_URL").rstrip("/"),
            fruit_api_public_url=get("FRUIT_API_PUBLIC_URL").rstrip("/"),
            realm=get("KEYCLOAK_REALM"),
            admin_console_routed=get_bool("KEYCLOAK_ADMIN_CONSOLE"),
            user_subdomains=get_bool("HUB_USER_SUBDOMAINS"),
            **more,
        )


if __name__ == "__main__":
    print(markdown(), end="")
