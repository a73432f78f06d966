"""`swarm-runtime up|down|ps|logs|render|clean`: the stack on a Docker Swarm (docs/swarm.md).

Run on a manager of a formed swarm (the Ansible play playbooks/swarm.yml forms one; so does
`docker swarm init` plus `docker swarm join` on the other hosts). `up` builds the images, pushes
them to the stack's registry on this manager, makes the Swarm secrets from the secrets file,
runs the jobs, deploys the stack and waits until every service runs, then applies idp/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from compose_runtime.engine import Compose, DockerError, docker, run
from stackconf import hosts
from stackconf import secrets as secrets_file
from stackconf import settings as conf
from stackconf.banner import banner
from stackconf.settings import StackSettings as Settings
from swarm_runtime import jobs
from swarm_runtime.registry import Registry
from swarm_runtime.stackfile import STACK_LABEL, StackFileError, SwarmPlan, stack_file

#: What idpctl apply prints when it changed Keycloak (src/idpctl/cli.py): the job changed it.
IDP_APPLIED = "Applied "
#: How long `up` waits for every service to run, and for the idp job to succeed.
DEPLOY_SECONDS = 600
IDP_SECONDS = 300


def overlay(s: Settings) -> Path:
    return s.repo / "compose" / "swarm.yml"


def stack_compose(s: Settings) -> Compose:
    """`docker compose` with compose.yml (and its overlays) plus compose/swarm.yml."""
    base = Compose.of(s)
    return Compose((*base.argv, "-f", str(overlay(s))), base.env)


def swarm_addresses(nodes: list[Mapping[str, Any]]) -> list[str]:
    """Every node's swarm address in `docker node inspect`'s output, sorted (a manager's
    Status.Addr may be 0.0.0.0, "unknown": its ManagerStatus.Addr, host:port, has it)."""
    found = set()
    for node in nodes:
        manager = (node.get("ManagerStatus") or {}).get("Addr", "")
        for address in ((node.get("Status") or {}).get("Addr", ""), manager.rpartition(":")[0]):
            if address and address != "0.0.0.0":  # noqa: S104 (not a bind: Docker's "unknown")
                found.add(address)
    return sorted(found)


def state_dir(s: Settings) -> Path:
    return s.secrets_file.parent / "swarm"


def manager_address() -> str:
    """This engine's swarm address; DockerError unless it is a swarm manager."""
    info = run([docker(), "info", "--format", "{{json .Swarm}}"], text=True).stdout.strip()
    swarm = json.loads(info or "{}")
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise DockerError(
            "this Docker engine is not a swarm manager: form the swarm first (the Ansible "
            "play playbooks/swarm.yml, or `docker swarm init` here and `docker swarm join` on "
            "the other hosts), then run this on a manager"
        )
    return swarm["NodeAddr"]


def registry(s: Settings) -> Registry:
    address = conf.get("SWARM_REGISTRY") or f"{manager_address()}:5000"
    return Registry(address, state_dir(s) / "registry")


def images(config: Mapping[str, Any]) -> list[str]:
    """Every image the stack runs: its services' and jobs', and the user servers'."""
    found = {spec["image"] for spec in config["services"].values() if spec.get("image")}
    for spec in config["services"].values():
        image = (spec.get("environment") or {}).get("SINGLEUSER_IMAGE")
        if image:
            found.add(image)
    return sorted(found)


def compose_config(s: Settings) -> dict[str, Any]:
    """compose.yml with compose/swarm.yml, as `docker compose config` renders them; unless
    SWARM_NODE_ADDRESSES is set, the swarm's nodes' addresses (user servers reach none)."""
    base = stack_compose(s)
    env = dict(base.env)
    if not conf.get("SWARM_NODE_ADDRESSES", env):
        ids = run([docker(), "node", "ls", "--quiet"], text=True).stdout.split()
        nodes = json.loads(run([docker(), "node", "inspect", *ids], text=True).stdout)
        env["SWARM_NODE_ADDRESSES"] = ",".join(swarm_addresses(nodes))
    return json.loads(Compose(base.argv, env).run("config", "--format", "json").stdout)


def image_tag(config: Mapping[str, Any]) -> str:
    """The tag of the images the stack builds (IMAGE_TAG in compose.yml): the hub's."""
    return config["services"]["hub"]["image"].rsplit(":", 1)[1]


def render(config: Mapping[str, Any], reg: Registry, secrets: Mapping[str, str]) -> dict[str, Any]:
    """The stack file made of the compose project ``config`` (`docker compose config`)."""
    configs = {
        name: Path(spec["file"]).read_bytes()
        for name, spec in (config.get("configs") or {}).items()
    }
    secret = {name: value for name, value in secrets.items() if name in secrets_file.SECRET_NAMES}
    return stack_file(config, registry=reg.address, secrets=secret, configs=configs)


def create_secrets(project: str, stack: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
    """The stack's Swarm secrets, from the secrets file (a name that exists is kept), with the
    stack's label (`clean` finds them by it)."""
    for name, spec in stack["secrets"].items():
        exists = subprocess.run(
            [docker(), "secret", "inspect", spec["name"]], capture_output=True, check=False
        )
        if exists.returncode != 0:
            label = f"{STACK_LABEL}={project}"
            run(
                [docker(), "secret", "create", "--label", label, spec["name"], "-"],
                input=secrets[name].encode(),
            )


def remove_old_secrets(project: str, stack: Mapping[str, Any]) -> None:
    """The stack's secrets that no service uses any more (earlier values): Swarm refuses to
    remove one a service still uses, so only unused ones go."""
    used = {spec["name"] for spec in stack["secrets"].values()}
    names = run(
        [
            docker(),
            "secret",
            "ls",
            "--filter",
            f"label={STACK_LABEL}={project}",
            "--format",
            "{{.Name}}",
        ],
        text=True,
    ).stdout.split()
    for name in sorted(set(names) - used):
        subprocess.run([docker(), "secret", "rm", name], capture_output=True, check=False)


def run_job(
    s: Settings, config: Mapping[str, Any], reg: Registry, name: str, capture: bool = False
) -> subprocess.CompletedProcess:
    """Run one job; with ``capture``, its output is also kept (and printed)."""
    secret_files = {
        n: spec["file"] for n, spec in (config.get("secrets") or {}).items() if spec.get("file")
    }
    argv = jobs.run_argv(
        name,
        config["services"][name],
        config=config,
        registry=reg.address,
        secret_files=secret_files,
    )
    if not capture:
        return subprocess.run([docker(), *argv], check=False)
    done = subprocess.run([docker(), *argv], capture_output=True, text=True, check=False)
    print(done.stdout + done.stderr, end="", flush=True)
    return done


def service_ls(project: str, template: str) -> list[str]:
    """`docker service ls` of the stack's services, one ``template`` line each."""
    argv = [docker(), "service", "ls", "--filter", f"label={STACK_LABEL}={project}"]
    out = run([*argv, "--format", template], text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def services(project: str) -> dict[str, str]:
    """The stack's services and their replicas (`1/2`)."""
    return dict(line.split(" ", 1) for line in service_ls(project, "{{.Name}} {{.Replicas}}"))


def converged(replicas: Mapping[str, str], expected: int) -> bool:
    def running(value: str) -> bool:
        done, _, wanted = value.split(" ", 1)[0].partition("/")
        return done == wanted and done != "0"

    return len(replicas) == expected and all(running(v) for v in replicas.values())


def wait_converged(project: str, expected: int, seconds: float = DEPLOY_SECONDS) -> None:
    try:
        Retrying(
            stop=stop_after_delay(seconds),
            wait=wait_fixed(2),
            retry=retry_if_result(lambda ok: not ok),
        )(lambda: converged(services(project), expected))
    except RetryError:
        raise DockerError(
            f"the stack's services did not all run within {seconds:.0f}s: {services(project)}; "
            f"see `docker stack ps {project} --no-trunc`"
        ) from None


def start_registry(s: Settings, config: Mapping[str, Any]) -> tuple[Registry, bool]:
    """The stack's registry running on this manager, trusted here, and whether it was started
    now; its CA (`ca.crt`) is what the other nodes must trust (the Ansible play copies it).
    ``config``: the rendered compose project (its images' tag)."""
    reg = registry(s)
    image = f"jupyterhub-keycloak/registry:{image_tag(config)}"
    run([docker(), "build", "--quiet", "-t", image, str(s.repo / "images" / "registry")])
    new_tls = reg.ensure_tls()
    reg.trust()
    return reg, reg.start(image, new_tls=new_tls)


def service_specs(project: str) -> dict[str, str]:
    """Each of the stack's services' spec (with its images' digests), as JSON text."""
    ids = service_ls(project, "{{.ID}}")
    if not ids:
        return {}
    specs = json.loads(run([docker(), "service", "inspect", *ids], text=True).stdout)
    return {spec["Spec"]["Name"]: json.dumps(spec["Spec"], sort_keys=True) for spec in specs}


def phases(started: float) -> Callable[[], int]:
    """A clock: each call returns the whole seconds since the call before (first: ``started``)."""
    last = [started]

    def took() -> int:
        now = time.monotonic()
        seconds, last[0] = round(now - last[0]), now
        return seconds

    return took


def up(s: Settings) -> int:
    started = time.monotonic()
    hosts.check_origins(s.public_url, s.keycloak_public_url)
    secrets = secrets_file.ensure(s.secrets_file)
    print("Building images (cached after the first run) ...", flush=True)
    if Compose.of(s).call("--profile", "images", "build") != 0:
        raise DockerError("building the images failed: see the output above")
    took = phases(started)
    print(f"swarm-runtime: built in {took()} s", flush=True)
    config = compose_config(s)
    reg, _ = start_registry(s, config)
    stack = render(config, reg, secrets)
    print(f"Pushing the images to the stack's registry {reg.address} ...", flush=True)
    reg.push(images(config))
    print(f"swarm-runtime: pushed in {took()} s", flush=True)
    project = config["name"]
    create_secrets(project, stack, secrets)
    stack_path = state_dir(s) / "stack.yml"
    stack_path.write_text(yaml.safe_dump(stack, sort_keys=False))
    plan = SwarmPlan.of(config)
    for job in plan.before_deploy:
        if run_job(s, config, reg, job).returncode != 0:
            raise DockerError(f"the job {job} failed: see its output above")
    print("Deploying the stack and waiting for every service ...", flush=True)
    before = service_specs(project)
    run([docker(), "stack", "deploy", "--prune", "-c", str(stack_path), project])
    wait_converged(project, len(stack["services"]))
    print(f"swarm-runtime: deployed in {took()} s (every service running)", flush=True)
    remove_old_secrets(project, stack)
    after = service_specs(project)
    changed = sorted(
        name for name in set(before) | set(after) if before.get(name) != after.get(name)
    )
    for job in plan.after_deploy:
        try:
            output = Retrying(
                stop=stop_after_delay(IDP_SECONDS),
                wait=wait_fixed(5),
                retry=retry_if_result(lambda done: done.returncode != 0),
            )(lambda job=job: run_job(s, config, reg, job, capture=True))
        except RetryError:
            raise DockerError(f"the job {job} did not succeed within {IDP_SECONDS}s") from None
        if IDP_APPLIED in output.stdout:
            changed.append(job)
        print(f"swarm-runtime: {job} done in {took()} s", flush=True)
    runtime = "swarm runtime: one Swarm service per user server"
    commands = "Status: .venv/bin/swarm-runtime ps    Stop: .venv/bin/swarm-runtime down"
    seconds = time.monotonic() - started
    print(banner(s, secrets, runtime=runtime, seconds=seconds, commands=commands))
    # One line for automation (the Ansible play's changed_when).
    print(f"swarm-runtime: {'changed: ' + ', '.join(changed) if changed else 'unchanged'}")
    return 0


def down(s: Settings) -> int:
    project = project_name(s)
    subprocess.run([docker(), "stack", "rm", project], check=False)
    return 0


def clean(s: Settings) -> int:
    """The stack's services, then what it left on this manager: its volumes, Swarm secrets
    and configs, the registry (container, data, trusted CA). User servers' volumes on other
    nodes stay there."""
    project = project_name(s)
    subprocess.run([docker(), "stack", "rm", project], capture_output=True, check=False)
    label = f"label={STACK_LABEL}={project}"

    def listed(*argv: str) -> list[str]:
        out = subprocess.run([docker(), *argv, "--filter", label], capture_output=True, text=True)
        return out.stdout.split()

    for kind in ("secret", "config"):
        names = listed(kind, "ls", "-q")
        if names:
            subprocess.run([docker(), kind, "rm", *names], capture_output=True, check=False)
    # The tasks' containers go first; their volumes can be removed once they are gone.
    try:
        Retrying(stop=stop_after_delay(60), wait=wait_fixed(1), retry=retry_if_result(bool))(
            lambda: listed("ps", "-aq")
        )
    except RetryError:
        print("warning: the stack's containers were still there after 60 s", file=sys.stderr)
    volumes = listed("volume", "ls", "-q")
    if volumes:
        subprocess.run([docker(), "volume", "rm", *volumes], capture_output=True, check=False)
    Registry.recorded(state_dir(s) / "registry").remove()
    return 0


def project_name(s: Settings) -> str:
    config = json.loads(
        stack_compose(s).run("config", "--format", "json", "--no-interpolate").stdout
    )
    return config["name"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="swarm-runtime", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, what in [
        ("up", "build, push and deploy the stack on this swarm; print its URL and demo users"),
        ("down", "remove the stack's services (volumes, secrets and the registry are kept)"),
        ("ps", "the stack's tasks and the node each runs on"),
        ("render", "print the stack file (no secret values in it)"),
        ("clean", "remove the stack, its volumes, secrets and configs here, and the registry"),
        ("registry", "start the stack's registry here; print its CA file (the nodes trust it)"),
    ]:
        commands.add_parser(name, help=what)
    args = parser.parse_args(argv)
    s = Settings.from_env()
    try:
        if args.command == "up":
            return up(s)
        if args.command == "down":
            return down(s)
        if args.command == "clean":
            return clean(s)
        if args.command == "registry":
            secrets_file.ensure(s.secrets_file)  # compose reads it
            reg, started = start_registry(s, compose_config(s))
            # JSON for automation (the Ansible play): where it is, its CA, whether it started.
            print(json.dumps({"address": reg.address, "ca": str(reg.ca), "started": started}))
            return 0
        if args.command == "ps":
            return subprocess.run(
                [
                    docker(),
                    "stack",
                    "ps",
                    project_name(s),
                    "--format",
                    "{{.Name}}\t{{.Node}}\t{{.CurrentState}}\t{{.Error}}",
                ],
                check=False,
            ).returncode
        secrets = secrets_file.ensure(s.secrets_file)
        stack = render(compose_config(s), registry(s), secrets)
        print(yaml.safe_dump(stack, sort_keys=False))
        return 0
    except (DockerError, StackFileError, conf.SettingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
