"""userserver.tokenfiles: each token file written at once, rewritten after the client's cache
stops serving its token, deleted when refused or no longer wanted, kept while the hub or
Keycloak is down."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hubtokens.errors import Forbidden, IdpUnavailable, LoginRequired, ScopeNotAllowed
from hubtokens.files import TokenFile
from hubtokens.token import AccessToken
from userserver import tokenfiles
from userserver.tokenfiles import TokenFileKeeper

NOW = 1_800_000_000.0
FRUIT = TokenFile("fruit-api", "fruit-api", ("fruits:read",), "idp/apis.yml")


class Client:
    """TokenClient as the keeper sees it: get, available, cache_margin; answers scripted."""

    cache_margin = 30.0

    def __init__(self, answers, listing=None):
        self.answers = list(answers)
        self.asked: list[tuple[str, tuple[str, ...]]] = []
        self.listing = listing or {"audiences": {}}

    def get(self, audience, scopes):
        self.asked.append((audience, tuple(scopes)))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def available(self):
        return self.listing


def token(value: str, expires_in: float = 300.0) -> AccessToken:
    expires = datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=expires_in)
    return AccessToken(value=value, audience="fruit-api", scope="fruits:read", expires_at=expires)


class Sleeps:
    """The keeper's sleep: records each wait; checks the files on each; stops after ``rounds``."""

    def __init__(self, directory: Path, rounds: int):
        self.directory = directory
        self.rounds = rounds
        self.waits: list[float] = []
        self.files: list[dict[str, str]] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.files.append({p.name: p.read_text() for p in sorted(self.directory.iterdir())})
        if len(self.waits) >= self.rounds:
            raise asyncio.CancelledError
        await asyncio.sleep(0)


def keeper(tmp_path: Path, client: Client, rounds: int, config: str = "") -> TokenFileKeeper:
    directory = tmp_path / "hubtokens"
    directory.mkdir()
    config_path = tmp_path / "files.toml"
    if config:
        config_path.write_text(config)
    sleeps = Sleeps(directory, rounds)
    return TokenFileKeeper(
        client, directory, config_path, logging.getLogger("test"), clock=lambda: NOW, sleep=sleeps
    )


async def run_keep(k: TokenFileKeeper, token_file: TokenFile = FRUIT) -> Sleeps:
    with pytest.raises(asyncio.CancelledError):
        await k.keep(token_file)
    return k.sleep  # type: ignore[return-value]


async def test_written_then_rewritten_after_the_clients_margin(tmp_path):
    client = Client([token("first", 300), token("second", 280)])
    sleeps = await run_keep(keeper(tmp_path, client, rounds=2), FRUIT)
    assert sleeps.files == [{"fruit-api": "first"}, {"fruit-api": "second"}]
    # Woken 1 s after the client's 30 s margin: the next get mints anew.
    assert sleeps.waits == [300 - 30 + 1, 280 - 30 + 1]
    assert client.asked == [("fruit-api", ("fruits:read",))] * 2


async def test_the_same_token_again_waits_at_least_the_minimum(tmp_path):
    client = Client([token("near-expiry", 20)])
    sleeps = await run_keep(keeper(tmp_path, client, rounds=2))
    assert sleeps.waits == [tokenfiles.MIN_WAIT_SECONDS] * 2


@pytest.mark.parametrize(
    "refusal",
    [ScopeNotAllowed("fruits:read is not granted to ann."), LoginRequired()],
)
async def test_a_refusal_deletes_the_file_and_tries_again_later(tmp_path, refusal):
    client = Client([token("first"), refusal])
    sleeps = await run_keep(keeper(tmp_path, client, rounds=2))
    assert sleeps.files == [{"fruit-api": "first"}, {}]
    assert sleeps.waits[1] == tokenfiles.REFUSED_RETRY_SECONDS


async def test_keycloak_down_keeps_the_file_and_tries_again_soon(tmp_path):
    client = Client([token("first"), IdpUnavailable(retry_after=10), token("second")])
    sleeps = await run_keep(keeper(tmp_path, client, rounds=3))
    assert sleeps.files == [{"fruit-api": "first"}, {"fruit-api": "first"}, {"fruit-api": "second"}]
    assert sleeps.waits[1] == tokenfiles.DOWN_RETRY_SECONDS


async def test_the_users_file_replaces_and_adds_and_removal_deletes(tmp_path, caplog):
    listing = {"audiences": {"fruit-api": {"token_files": {"fruit-api": ["fruits:read"]}}}}
    client = Client([token("t")], listing)
    k = keeper(
        tmp_path,
        client,
        rounds=100,
        config='[fruit-exotic]\naudience = "fruit-api"\nscopes = ["fruits:exotic"]\n',
    )
    k.admin = tokenfiles.admin_files(listing)
    k.reconcile(k.wanted())
    await asyncio.sleep(0.05)
    assert sorted(p.name for p in k.directory.iterdir()) == ["fruit-api", "fruit-exotic"]
    assert ("fruit-api", ("fruits:exotic",)) in client.asked

    k.config_path.write_text("")  # the user removes their entry
    k.reconcile(k.wanted())
    await asyncio.sleep(0.05)
    assert sorted(p.name for p in k.directory.iterdir()) == ["fruit-api"]

    k.config_path.write_text("[broken\n")  # a mistake: logged, the admin's file kept
    with caplog.at_level(logging.ERROR):
        k.reconcile(k.wanted())
    assert "not a readable TOML file" in caplog.text and "kept" in caplog.text
    assert sorted(p.name for p in k.directory.iterdir()) == ["fruit-api"]

    k.remove_all()  # the server stops
    for task in k.tasks.values():
        task.cancel()
    assert list(k.directory.iterdir()) == []


async def test_start_outside_a_hub_writes_nothing():
    app = type("App", (), {"log": logging.getLogger("test")})()
    assert await tokenfiles.start(app, None) is None


async def test_start_without_a_runtime_dir_says_why(monkeypatch, caplog):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    app = type("App", (), {"log": logging.getLogger("test")})()
    with caplog.at_level(logging.WARNING):
        assert await tokenfiles.start(app, Client([token("t")])) is None
    assert "XDG_RUNTIME_DIR is not set" in caplog.text


async def test_a_new_server_waits_until_the_hub_knows_it(tmp_path):
    """The broker refuses a new server until the hub has recorded its address (forbidden):
    the keeper asks again, then writes the admin's file."""
    listing = {"audiences": {"fruit-api": {"token_files": {"fruit-api": ["fruits:read"]}}}}
    client = Client([token("t")], listing)
    answers = [Forbidden("not that server's address"), Forbidden("not yet"), listing]

    def available():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client.available = available
    k = keeper(tmp_path, client, rounds=100_000)
    running = asyncio.create_task(k.run())
    for _ in range(100):
        await asyncio.sleep(0.01)
        if (k.directory / "fruit-api").exists():
            break
    running.cancel()
    for task in k.tasks.values():
        task.cancel()
    assert k.sleep.waits[:2] == [tokenfiles.STARTUP_RETRY_SECONDS] * 2
    assert [f.name for f in k.admin] == ["fruit-api"]
    assert (k.directory / "fruit-api").read_text() == "t"
