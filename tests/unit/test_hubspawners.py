"""PromptReady: a spawner's ``start()`` returns once the new server answers, or gives up
quietly (at ``http_timeout``, or when the server ended) and leaves the rest to JupyterHub."""

from __future__ import annotations

import time
from types import SimpleNamespace

import docker
import httpx
import pytest
import respx

from hubspawners import ready
from hubspawners.docker import PromptDockerSpawner
from hubspawners.ready import PromptReady

URL = "http://10.0.0.7:8888/user/alice/"


class Base:
    """JupyterHub's spawner as PromptReady sees it: start, poll, server, http_timeout."""

    def __init__(self, started=("10.0.0.7", 8888), ended_after=None, http_timeout=5.0):
        self.started = started
        self.server = SimpleNamespace(base_url="/user/alice/")
        self.http_timeout = http_timeout
        self.polls = 0
        self.ended_after = ended_after

    async def start(self):
        return self.started

    async def poll(self):
        self.polls += 1
        return 1 if self.ended_after is not None and self.polls >= self.ended_after else None


class Spawner(PromptReady, Base):
    pass


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(ready, "POLL_SECONDS", 0.01)


def answers_after(router, failures):
    calls = []

    def answer(request):
        calls.append(str(request.url))
        if len(calls) <= failures:
            raise httpx.ConnectError("refused")
        return httpx.Response(302, headers={"Location": "/user/alice/lab"})

    router.get(URL).mock(side_effect=answer)
    return calls


async def test_start_returns_when_the_server_first_answers():
    with respx.mock() as router:
        calls = answers_after(router, failures=5)
        assert await Spawner().start() == ("10.0.0.7", 8888)
    assert len(calls) == 6  # five refusals, then the answer: no poll after it
    assert set(calls) == {URL}


async def test_a_url_from_start_is_polled_under_the_servers_prefix():
    with respx.mock() as router:
        calls = answers_after(router, failures=0)
        assert await Spawner(started="http://10.0.0.7:8888").start() == "http://10.0.0.7:8888"
    assert calls == [URL]


async def test_a_server_that_ended_is_left_to_jupyterhub():
    with respx.mock() as router:
        calls = answers_after(router, failures=10_000)
        spawner = Spawner(ended_after=1)
        started = time.monotonic()
        assert await spawner.start() == ("10.0.0.7", 8888)
    assert time.monotonic() - started < 2  # not the whole http_timeout
    assert spawner.polls == 1 and len(calls) == ready.ALIVE_EVERY - 1


async def test_a_server_that_never_answers_is_given_up_at_http_timeout():
    with respx.mock() as router:
        answers_after(router, failures=10_000)
        started = time.monotonic()
        assert await Spawner(http_timeout=0.3).start() == ("10.0.0.7", 8888)
    assert 0.25 < time.monotonic() - started < 2


class DockerCalls:
    """DockerSpawner's ``docker(method, ...)`` calls, answered like the Docker API would."""

    def __init__(self, gone: bool = False) -> None:
        self.calls: list[str] = []
        self.gone = gone

    async def __call__(self, method: str, *args, **kwargs):
        self.calls.append(method)
        if self.gone:
            raise docker.errors.NotFound("no such container")


async def test_a_leftover_container_is_stopped_before_it_is_removed(monkeypatch):
    """A running container the hub lost track of: removing it without a stop is refused by
    Docker (409), which DockerSpawner took for a removal under way."""
    spawner = PromptDockerSpawner.__new__(PromptDockerSpawner)
    calls = DockerCalls()
    monkeypatch.setattr(PromptDockerSpawner, "docker", calls, raising=False)
    monkeypatch.setattr(PromptDockerSpawner, "object_id", "abc123", raising=False)
    monkeypatch.setattr(PromptDockerSpawner, "log", SimpleNamespace(info=print, debug=print))
    await spawner.remove_object()
    assert calls.calls == ["stop", "remove_container"]


async def test_a_container_already_gone_is_not_removed_again(monkeypatch):
    spawner = PromptDockerSpawner.__new__(PromptDockerSpawner)
    calls = DockerCalls(gone=True)
    monkeypatch.setattr(PromptDockerSpawner, "docker", calls, raising=False)
    monkeypatch.setattr(PromptDockerSpawner, "object_id", "abc123", raising=False)
    await spawner.remove_object()
    assert calls.calls == ["stop"]
