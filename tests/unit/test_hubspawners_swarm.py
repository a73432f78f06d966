"""PromptSwarmSpawner (swarm runtime): DockerSpawner's volumes as Swarm mounts (a named volume
as a volume, a host path as a read-only bind, the runtime dir as a tmpfs), and the process
limit added to the service it creates. No hub and no Docker: the spawner is made alone and
docker-py's calls are recorded."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from docker.types import ContainerSpec, Resources, TaskTemplate

from hubspawners.swarm import PromptSwarmSpawner

USER = SimpleNamespace(name="ann", escaped_name="ann", id=7, url="/user/ann/")
HOME = {"jupyterhub-user-{username}": "/home/jovyan"}
EXTRA_CA = {"/srv/ca/extra.pem": {"bind": "/etc/ssl/extra-ca.pem", "mode": "ro"}}


def spawner(**config: Any) -> PromptSwarmSpawner:
    return PromptSwarmSpawner(user=USER, **config)


def test_a_named_volume_is_a_volume_mount() -> None:
    assert spawner(volumes=HOME).mounts == [
        {
            "Target": "/home/jovyan",
            "Source": "jupyterhub-user-ann",
            "Type": "volume",
            "ReadOnly": False,
        }
    ]


def test_a_host_path_is_a_read_only_bind() -> None:
    assert spawner(volumes={**HOME, **EXTRA_CA}).mounts[0] == {
        "Target": "/etc/ssl/extra-ca.pem",
        "Source": "/srv/ca/extra.pem",
        "Type": "bind",
        "ReadOnly": True,
    }
    writable = spawner(volumes={"/srv/shared": "/shared"}).mounts
    assert writable == [
        {"Target": "/shared", "Source": "/srv/shared", "Type": "bind", "ReadOnly": False}
    ]


def test_read_only_volumes_are_read_only_volume_mounts() -> None:
    mounts = spawner(read_only_volumes={"datasets": "/data"}).mounts
    assert mounts == [{"Target": "/data", "Source": "datasets", "Type": "volume", "ReadOnly": True}]


def test_the_runtime_dir_is_a_tmpfs_open_to_all_and_sticky() -> None:
    mounts = spawner(volumes={**HOME, **EXTRA_CA}, runtime_dir="/run/user/1000").mounts
    assert [m["Type"] for m in mounts] == ["bind", "volume", "tmpfs"]
    assert mounts[-1] == {
        "Target": "/run/user/1000",
        "Source": None,
        "Type": "tmpfs",
        "ReadOnly": False,
        "TmpfsOptions": {"SizeBytes": 1024 * 1024, "Mode": 0o1777},
    }
    sized = spawner(runtime_dir="/run/user/1000", runtime_dir_bytes=4096).mounts
    assert sized[-1]["TmpfsOptions"]["SizeBytes"] == 4096


def test_no_runtime_dir_no_tmpfs() -> None:
    assert all(m["Type"] != "tmpfs" for m in spawner(volumes=HOME).mounts)
    assert spawner().mounts == []


class DockerPy:
    """docker-py's client as DockerSpawner calls it (in its executor thread): records calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def __call__(self, method: str, *args, **kwargs):
        self.calls.append((method, args, kwargs))
        return {"ID": "svc1"} if method == "create_service" else []


@pytest.fixture
def docker_py(monkeypatch) -> DockerPy:
    calls = DockerPy()
    monkeypatch.setattr(PromptSwarmSpawner, "_docker", calls)
    return calls


def task_template(resources: Resources | None) -> TaskTemplate:
    spec = ContainerSpec(image="reg:5000/jupyterhub-keycloak/singleuser:dev")
    return TaskTemplate(container_spec=spec, resources=resources)


async def test_a_service_is_created_with_the_process_limit_and_its_other_limits(
    docker_py: DockerPy,
) -> None:
    template = task_template(Resources(mem_limit=2 * 1024**3, cpu_limit=10**9))
    answer = await spawner(pids_limit=512).docker(
        "create_service", task_template=template, name="jupyter-ann"
    )
    assert answer == {"ID": "svc1"}
    [(method, args, kwargs)] = docker_py.calls
    assert method == "create_service" and args == () and kwargs["name"] == "jupyter-ann"
    assert kwargs["task_template"]["Resources"]["Limits"] == {
        "MemoryBytes": 2 * 1024**3,
        "NanoCPUs": 10**9,
        "Pids": 512,
    }


async def test_a_service_without_resources_gets_the_process_limit(docker_py: DockerPy) -> None:
    await spawner(pids_limit=64).docker("create_service", task_template=task_template(None))
    assert docker_py.calls[0][2]["task_template"]["Resources"] == {"Limits": {"Pids": 64}}
    await spawner(pids_limit=64).docker("create_service", task_template=task_template(Resources()))
    assert docker_py.calls[1][2]["task_template"]["Resources"] == {"Limits": {"Pids": 64}}


async def test_no_process_limit_leaves_the_service_as_it_is(docker_py: DockerPy) -> None:
    template = task_template(Resources(mem_limit=1024))
    before = copy.deepcopy(dict(template))
    await spawner().docker("create_service", task_template=template)
    assert docker_py.calls[0][2]["task_template"] == before
    assert "Pids" not in docker_py.calls[0][2]["task_template"]["Resources"]["Limits"]


async def test_other_calls_are_passed_on_unchanged(docker_py: DockerPy) -> None:
    filters = {"service": "jupyter-ann"}
    assert await spawner(pids_limit=512).docker("tasks", filters=filters) == []
    await spawner(pids_limit=512).docker("inspect_service", "jupyter-ann")
    assert docker_py.calls == [
        ("tasks", (), {"filters": {"service": "jupyter-ann"}}),
        ("inspect_service", ("jupyter-ann",), {}),
    ]
