"""One-shot jobs (compose/swarm.yml's x-swarm): a compose service run once with `docker run`
on this manager, on the stack's attachable network, instead of as a Swarm service.

``run_argv`` is a pure function of the service as `docker compose config` renders it. Only the
keys our jobs use are carried over; any other key is an error, so that nothing a job's
definition says is silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swarm_runtime.stackfile import STACK_LABEL, StackFileError, qualify

#: Keys of a job's service that `docker run` carries over (the rest: compose-only).
JOB_KEYS = frozenset(
    {
        "image",
        "command",
        "entrypoint",
        "environment",
        "user",
        "volumes",
        "networks",
        "network_mode",
        "secrets",
        "cap_add",
        "cap_drop",
        "security_opt",
        "mem_limit",
        "depends_on",
        "restart",
    }
)


def run_argv(
    name: str,
    spec: Mapping[str, Any],
    *,
    config: Mapping[str, Any],
    registry: str,
    secret_files: Mapping[str, str],
) -> list[str]:
    """`docker run` arguments (after `docker`) for job ``name``. ``secret_files``: a file
    secret's name -> the host path it is read from (mounted read-only at /run/secrets/)."""
    unknown = sorted(set(spec) - JOB_KEYS)
    if unknown:
        raise StackFileError(f"job {name}: {unknown} cannot be carried to `docker run`")
    argv = ["run", "--rm", "--name", f"{config['name']}-{name}-job"]
    if spec.get("network_mode"):
        argv += ["--network", spec["network_mode"]]
    for network in spec.get("networks") or {}:
        argv += ["--network", config["networks"][network]["name"]]
    if spec.get("user"):
        argv += ["--user", str(spec["user"])]
    if spec.get("mem_limit"):
        argv += ["--memory", str(spec["mem_limit"])]
    for cap in spec.get("cap_drop") or []:
        argv += ["--cap-drop", cap]
    for cap in spec.get("cap_add") or []:
        argv += ["--cap-add", cap]
    for option in spec.get("security_opt") or []:
        argv += ["--security-opt", option]
    for key, value in (spec.get("environment") or {}).items():
        argv += ["--env", f"{key}={'' if value is None else value}"]
    for mount in spec.get("volumes") or []:
        argv += ["--mount", _mount(config, mount)]
    for secret in spec.get("secrets") or []:
        source = secret["source"]
        if source not in secret_files:
            raise StackFileError(f"job {name}: no file for its secret {source}")
        target = secret.get("target") or source
        if not target.startswith("/"):
            target = f"/run/secrets/{target}"
        argv += ["--mount", f"type=bind,source={secret_files[source]},target={target},readonly"]
    # `docker run --entrypoint` takes one word: the entrypoint's other words lead the command
    # (as for Docker itself: the process is the entrypoint followed by the command).
    entrypoint = list(spec.get("entrypoint") or [])
    if entrypoint:
        argv += ["--entrypoint", entrypoint[0]]
    argv.append(qualify(spec["image"], registry))
    argv += entrypoint[1:] + list(spec.get("command") or [])
    return argv


def _mount(config: Mapping[str, Any], mount: Mapping[str, Any]) -> str:
    kind = mount["type"]
    if kind not in ("volume", "bind"):
        raise StackFileError(f"a job's mount of type {kind} cannot be carried to `docker run`")
    source = mount["source"]
    extra = ",readonly" if mount.get("read_only") else ""
    if kind == "volume":
        source = (config.get("volumes") or {})[source].get("name") or source
        # A volume a job creates first is the stack's, as if Swarm had made it.
        extra += f",volume-label={STACK_LABEL}={config['name']}"
    return f"type={kind},source={source},target={mount['target']}{extra}"
