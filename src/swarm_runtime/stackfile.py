"""The stack file `docker stack deploy` takes, made from compose.yml and compose/swarm.yml.

``docker compose config`` merges the two files and fills in the variables; ``stack_file`` then
turns that (a pure function, no I/O) into what Swarm reads (compose file format 3.9):

- the services compose/swarm.yml's ``x-swarm`` names as jobs or left out are not services;
- every image is the stack registry's copy (``qualify``), and so is ``SINGLEUSER_IMAGE``,
  which the hub and the Docker API filter are given;
- each secret a service gets from a Swarm secret is removed from its environment (its value
  stays out of the stack file), and the secrets are Swarm's, named after a hash of their
  value (``secret_name``: a new value is a new secret, as Swarm secrets never change);
- compose-only keys are dropped: builds, start order, restart (Swarm's restart policy
  applies), memory limits become ``deploy.resources``, fixed addresses and host IPs go.

``check_no_secret_values`` refuses a stack file that contains any secret's value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: The label Swarm puts on everything of a stack (services, networks, volumes, configs); the
#: runtime puts it on the secrets and job volumes it makes too.
STACK_LABEL = "com.docker.stack.namespace"
#: The compose file format `docker stack deploy` (Docker 20.10 and later) reads.
STACK_VERSION = "3.9"
#: Service keys Swarm has no use for, or that mean something else there.
COMPOSE_ONLY = frozenset(
    {
        "build",
        "depends_on",
        "restart",
        "container_name",
        "profiles",
        "mem_limit",
        "security_opt",
        "pull_policy",
    }
)
#: Service keys a stack file may carry (compose format 3.9 reads more; we use these).
STACK_KEYS = frozenset(
    {
        "image",
        "command",
        "entrypoint",
        "environment",
        "user",
        "volumes",
        "networks",
        "ports",
        "secrets",
        "configs",
        "healthcheck",
        "deploy",
        "cap_add",
        "cap_drop",
        "read_only",
        "tmpfs",
        "labels",
        "stop_grace_period",
    }
)
#: The settings whose value is an image the stack builds (the hub makes user servers of it).
IMAGE_SETTINGS = ("SINGLEUSER_IMAGE",)


class StackFileError(ValueError):
    """The rendered compose project cannot become a stack file; the message says why."""


@dataclass(frozen=True)
class SwarmPlan:
    """What compose/swarm.yml's ``x-swarm`` says is not a service."""

    before_deploy: tuple[str, ...]
    after_deploy: tuple[str, ...]
    left_out: tuple[str, ...]

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> SwarmPlan:
        spec = config.get("x-swarm") or {}
        services = set(config.get("services") or {})
        plan = cls(
            before_deploy=tuple(spec.get("before-deploy") or ()),
            after_deploy=tuple(spec.get("after-deploy") or ()),
            left_out=tuple(spec.get("left-out") or ()),
        )
        unknown = sorted(set(plan.not_services) - services)
        if unknown:
            raise StackFileError(f"x-swarm names services compose.yml does not have: {unknown}")
        return plan

    @property
    def jobs(self) -> tuple[str, ...]:
        return self.before_deploy + self.after_deploy

    @property
    def not_services(self) -> tuple[str, ...]:
        return self.jobs + self.left_out


def qualify(image: str, registry: str) -> str:
    """The registry's copy of an image: ``registry/name:tag``."""
    return f"{registry}/{image}"


#: The longest name Swarm takes for a secret or a config.
MAX_NAME = 64


def secret_name(project: str, name: str, value: str) -> str:
    """A Swarm secret's name: the stack's, the variable's, and a hash of the value."""
    return _versioned(project, name, value.encode())


def config_name(project: str, name: str, content: bytes) -> str:
    """A Swarm config's name, likewise (configs never change either)."""
    return _versioned(project, name, content)


def _versioned(project: str, name: str, content: bytes) -> str:
    digest = hashlib.sha256(content).hexdigest()[:10]
    return f"{project}_{name}"[: MAX_NAME - len(digest) - 1] + f"_{digest}"


def is_service(name: str, spec: Mapping[str, Any], plan: SwarmPlan) -> bool:
    """A service of the stack: not a job, not left out, not an image-only profile."""
    return name not in plan.not_services and not spec.get("profiles")


def stack_file(
    config: Mapping[str, Any],
    *,
    registry: str,
    secrets: Mapping[str, str],
    configs: Mapping[str, bytes],
) -> dict[str, Any]:
    """The stack file for ``config`` (`docker compose config --format json`).

    ``secrets``: each Swarm secret's variable -> value (only their names and hashes are
    written); ``configs``: each config's name -> its file's content."""
    project = config["name"]
    plan = SwarmPlan.of(config)
    services = {
        name: _service(name, spec, registry)
        for name, spec in (config.get("services") or {}).items()
        if is_service(name, spec, plan)
    }
    used_secrets = sorted(
        {s["source"] for spec in services.values() for s in spec.get("secrets", [])}
    )
    missing = [name for name in used_secrets if name not in secrets]
    if missing:
        raise StackFileError(f"no value for the Swarm secret(s) {missing} in the secrets file")
    used_configs = sorted(
        {c["source"] for spec in services.values() for c in spec.get("configs", [])}
    )
    stack: dict[str, Any] = {
        "version": STACK_VERSION,
        "services": services,
        "networks": {name: _network(spec) for name, spec in (config.get("networks") or {}).items()},
        "volumes": {
            name: {k: v for k, v in (spec or {}).items() if k in ("name", "driver", "driver_opts")}
            for name, spec in (config.get("volumes") or {}).items()
        },
        "secrets": {
            name: {"external": True, "name": secret_name(project, name, secrets[name])}
            for name in used_secrets
        },
        "configs": {
            name: {
                "file": config["configs"][name]["file"],
                "name": config_name(project, name, configs[name]),
            }
            for name in used_configs
        },
    }
    check_no_secret_values(stack, secrets.values())
    return stack


def _service(name: str, spec: Mapping[str, Any], registry: str) -> dict[str, Any]:
    if spec.get("network_mode"):
        raise StackFileError(
            f"service {name}: network_mode has no Swarm counterpart; list it under x-swarm "
            "left-out in compose/swarm.yml"
        )
    unknown = sorted(set(spec) - STACK_KEYS - COMPOSE_ONLY)
    if unknown:
        raise StackFileError(
            f"service {name}: {unknown} cannot be carried to Swarm; add a rule for them in "
            "src/swarm_runtime/stackfile.py or remove them from the compose files"
        )
    if not spec.get("image"):
        raise StackFileError(
            f"service {name}: no image; Swarm pulls every service's image from the stack's "
            "registry: give it `image:` (with `build:`, the name the build is tagged with)"
        )
    out = {key: value for key, value in spec.items() if key in STACK_KEYS and value is not None}
    out["image"] = qualify(spec["image"], registry)
    secret_targets = {s.get("target") or s["source"] for s in spec.get("secrets") or []}
    environment = {
        key: "" if value is None else str(value)
        for key, value in (spec.get("environment") or {}).items()
        if key not in secret_targets
    }
    for setting in IMAGE_SETTINGS:
        if environment.get(setting):
            environment[setting] = qualify(environment[setting], registry)
    out.pop("environment", None)  # compose's, with the secrets' values
    if environment:
        out["environment"] = environment
    if "networks" in spec:
        out["networks"] = {
            net: {k: v for k, v in (opts or {}).items() if k == "aliases"} or None
            for net, opts in spec["networks"].items()
        }
    if "ports" in spec:
        out["ports"] = [_port(name, port) for port in spec["ports"]]
    if "volumes" in spec:
        out["volumes"] = [_volume(mount) for mount in spec["volumes"]]
    for key in ("secrets", "configs"):  # compose renders a file's mode as an octal string
        if key in spec:
            out[key] = [_file_mode(item) for item in spec[key]]
    if "healthcheck" in spec:
        out["healthcheck"] = {k: v for k, v in spec["healthcheck"].items() if k != "start_interval"}
    deploy = json.loads(json.dumps(spec.get("deploy") or {}))
    if spec.get("mem_limit"):
        limits = deploy.setdefault("resources", {}).setdefault("limits", {})
        limits.setdefault("memory", str(spec["mem_limit"]))
    if deploy:
        out["deploy"] = deploy
    return out


def _file_mode(item: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(item)
    if isinstance(out.get("mode"), str):
        out["mode"] = int(out["mode"], 8)
    return out


def _port(service: str, port: Mapping[str, Any]) -> dict[str, Any]:
    """A published port on the node that runs the task (host mode: no routing mesh, which
    needs IPVS); Swarm publishes on every address, so the host IP is dropped."""
    if "published" not in port:
        raise StackFileError(f"service {service}: a port without a published port")
    try:
        target, published = int(port["target"]), int(port["published"])
    except (KeyError, TypeError, ValueError):
        raise StackFileError(
            f"service {service}: port {port.get('published')!r}:{port.get('target')!r} is not "
            "one published port for one target port (a range has no host-mode counterpart): "
            "list each port on its own"
        ) from None
    return {
        "target": target,
        "published": published,
        "protocol": port.get("protocol", "tcp"),
        "mode": "host",
    }


def _volume(mount: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in mount.items() if k in ("type", "source", "target", "read_only")}
    if mount.get("type") == "tmpfs" and mount.get("tmpfs"):
        out["tmpfs"] = {k: v for k, v in mount["tmpfs"].items() if k == "size"}
    return out


def _network(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    spec = dict(spec or {})
    if spec.get("driver") != "overlay":
        raise StackFileError(
            f"network {spec.get('name')}: Swarm needs driver overlay (compose/swarm.yml)"
        )
    opts = {
        k: v
        for k, v in (spec.pop("driver_opts", None) or {}).items()
        if not k.startswith("com.docker.network.bridge.")
    }
    if opts:
        spec["driver_opts"] = opts
    return spec


def check_no_secret_values(stack: Mapping[str, Any], values: Iterable[str]) -> None:
    """StackFileError if any secret's value appears anywhere in the stack file; the error
    names where (never the value)."""
    secrets = [value for value in values if value]
    for where, text in _strings(stack, ""):
        if any(value in text for value in secrets):
            for value in secrets:  # a value used as a key is part of the path: never shown
                where = where.replace(value, "<a secret value>")
            raise StackFileError(
                f"a secret's value would be written into the stack file at {where}: give it "
                "to the service as a Swarm secret (compose/swarm.yml), not as a value"
            )


def _strings(node: Any, where: str):
    """(path, text) of every key and string value in a nested structure."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield f"{where}.{key}", str(key)
            yield from _strings(value, f"{where}.{key}")
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _strings(value, f"{where}[{i}]")
    elif node is not None:
        yield where, str(node)
