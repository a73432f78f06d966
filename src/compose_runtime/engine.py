"""The Docker CLI and `docker compose` as compose_runtime calls them (subprocesses).

``Compose`` is one stack's `docker compose` command: its files, env files and project, and the
environment of the call. `make up` builds it from the settings (``Compose.of``); a deployment
passes its own (the Ansible playbooks' ``stack_compose_argv``). ``Project`` is what that
command's `docker compose config` says: the project name, each service's image and named
volume, the hub's environment. Those names have their owner in compose/compose.yml; nothing
here types them again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackconf import settings as conf
from stackconf.settings import StackSettings as Settings


class DockerError(RuntimeError):
    """A docker command failed; the message names the command, its error and what to check."""


def docker() -> str:
    """Debian's docker client first (BuildKit builds), else whatever is on PATH."""
    return (
        "/usr/bin/docker"
        if Path("/usr/bin/docker").exists()
        else (shutil.which("docker") or "docker")
    )


def failure(argv: list[str], returncode: int, stderr: bytes | str) -> DockerError:
    """A one-line error for a failed docker command: the command, its last error line, a fix."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    shown = " ".join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv[:6]))
    more = " ..." if len(argv) > 6 else ""
    reason = f": {lines[-1][:300]}" if lines else ""
    return DockerError(
        f"`{shown}{more}` failed (exit {returncode}){reason}. Check that Docker runs "
        "(`docker info`) and the stack's logs (`make logs`)."
    )


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a docker command, capturing its output; DockerError when it fails."""
    try:
        result = subprocess.run(argv, capture_output=True, check=False, **kwargs)
    except OSError as error:
        raise DockerError(f"cannot run {argv[0]}: {error}. Install the Docker CLI.") from None
    if result.returncode != 0:
        raise failure(argv, result.returncode, result.stderr)
    return result


def check_engine() -> None:
    """DockerError unless a Docker engine answers."""
    try:
        result = subprocess.run(
            [docker(), "info", "--format", "{{.ServerVersion}}"], capture_output=True, check=False
        )
    except OSError as error:
        raise DockerError(f"cannot run docker: {error}. Install the Docker CLI.") from None
    if result.returncode != 0:
        raise DockerError(
            "no Docker engine answers (`docker info` failed): start Docker, or check that this "
            "user may use it."
        )


def volume_exists(name: str) -> bool:
    return (
        subprocess.run(
            [docker(), "volume", "inspect", name], capture_output=True, check=False
        ).returncode
        == 0
    )


def image_id(image: str) -> str | None:
    """The local image's ID, or None when it is not there (not built or pulled)."""
    result = subprocess.run(
        [docker(), "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def volume_names() -> list[str]:
    return run([docker(), "volume", "ls", "--format", "{{.Name}}"], text=True).stdout.split()


def remove_user_containers(label: str) -> list[str]:
    """Remove every user container carrying the stack's label (running or not); their IDs."""
    found = run([docker(), "ps", "-aq", "--filter", f"label={label}"], text=True).stdout.split()
    if found:
        run([docker(), "rm", "-f", *found])
    return found


def user_volume_names(names: Iterable[str], template: str) -> dict[str, str]:
    """The user home volumes among ``names``, by user: the names the setting USER_VOLUME_NAME's
    template (e.g. ``jupyterhub-user-{username}``) makes."""
    if template.count("{username}") != 1:
        raise conf.SettingError(f"USER_VOLUME_NAME must contain {{username}} once: {template!r}")
    prefix, _, suffix = template.partition("{username}")
    return {
        name[len(prefix) : len(name) - len(suffix)]: name
        for name in sorted(names)
        if name.startswith(prefix)
        and name.endswith(suffix)
        and len(name) > len(prefix) + len(suffix)
    }


def user_volume_name(template: str, user: str) -> str:
    return template.replace("{username}", user)


@dataclass(frozen=True)
class Compose:
    """`docker compose` with one stack's files and env files: ``argv`` is the command up to its
    subcommand (``docker compose --env-file ... -f ...``), ``env`` the calls' environment."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    @classmethod
    def of(cls, s: Settings, env_file: Path | None = None) -> Compose:
        """The compose runtime's command (`make up`): compose/compose.yml (and the admin
        console's overlay when routed) with the secrets file, or ``env_file`` instead."""
        files = ["-f", str(s.repo / "compose" / "compose.yml")]
        if s.admin_console_routed:
            files += ["-f", str(s.repo / "compose" / "admin-console.yml")]
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
        if env.get("EXTRA_CA_BUNDLE"):  # an absolute host path: the hub mounts it into servers
            env["EXTRA_CA_BUNDLE"] = str(Path(env["EXTRA_CA_BUNDLE"]).resolve())
        env_file = env_file or s.secrets_file
        return cls((docker(), "compose", "--env-file", str(env_file), *files), env)

    def command(self, *args: str) -> list[str]:
        return [*self.argv, *args]

    def call(self, *args: str) -> int:
        """Run with the output on the terminal; the exit status."""
        return subprocess.run(self.command(*args), env=dict(self.env), check=False).returncode

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        """Run capturing the output; DockerError when it fails."""
        return run(self.command(*args), env=dict(self.env), **kwargs)

    def project(self, interpolate: bool = True) -> Project:
        """The project as `docker compose config` renders it. Without ``interpolate`` the
        names (project, volumes) are right without any env file; images and environments
        keep their ${VAR}s."""
        args = ["config", "--format", "json"] + ([] if interpolate else ["--no-interpolate"])
        return Project.from_config(json.loads(self.run(*args).stdout))

    def running_services(self) -> set[str]:
        ps = self.run("ps", "--status", "running", "--services", text=True)
        return set(ps.stdout.split())


@dataclass(frozen=True)
class Project:
    """What `docker compose config` says about the stack."""

    name: str
    #: service -> image
    images: dict[str, str]
    #: service -> the engine's name of the one named volume it mounts
    volumes: dict[str, str]
    #: service -> its environment, as compose renders it
    environments: dict[str, dict[str, str]]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Project:
        name = config["name"]
        declared = config.get("volumes") or {}
        services = config.get("services") or {}
        volumes = {}
        for service, spec in services.items():
            named = [
                (declared[m["source"]] or {}).get("name") or f"{name}_{m['source']}"
                for m in spec.get("volumes") or []
                if m.get("type") == "volume" and m.get("source") in declared
            ]
            if len(named) == 1:
                volumes[service] = named[0]
        return cls(
            name=name,
            images={s: spec["image"] for s, spec in services.items() if spec.get("image")},
            volumes=volumes,
            environments={
                s: {
                    k: "" if v is None else str(v)
                    for k, v in (spec.get("environment") or {}).items()
                }
                for s, spec in services.items()
            },
        )

    def image(self, service: str) -> str:
        try:
            return self.images[service]
        except KeyError:
            raise DockerError(f"the compose file has no image for service {service!r}") from None

    def volume(self, service: str) -> str:
        try:
            return self.volumes[service]
        except KeyError:
            raise DockerError(
                f"service {service!r} of the compose file mounts no single named volume"
            ) from None

    def setting(self, service: str, name: str) -> str:
        """A stack setting as ``service`` sees it: its environment in the compose file, else
        the table's default (what stackconf.settings.get gives inside the container)."""
        return conf.get(name, self.environments.get(service, {}))

    def image_tag(self, service: str) -> str:
        """The tag of ``service``'s image (for an image the stack builds: IMAGE_TAG)."""
        last = self.image(service).rsplit("/", 1)[-1]
        return last.rsplit(":", 1)[1] if ":" in last else "latest"
