"""Unit tests for the fruit API's storage under faults: a full disk (507), a database that is
locked, read-only, gone or failing (503 + Retry-After), a process killed mid-write, several
processes writing at once. Real SQLite files; a full disk is SQLite's own ``max_page_count``
(the database cannot grow past it: SQLITE_FULL, as on a full disk)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import Engine, event

from fruit_api import Settings, create_app
from fruit_api.db import SEED, FruitStore, StorageUnavailableError
from tests.support.fruit_api_fakes import ISSUER, KID, LocalJWKSClient, auth

ALL_SCOPES = "fruits:read fruits:write fruits:exotic"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def headers(key: rsa.RSAPrivateKey) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "fruit-api",
        "sub": "user-123",
        "azp": "jupyterhub-exchange",
        "typ": "Bearer",
        "scope": ALL_SCOPES,
        "iat": now,
        "exp": now + 3600,
    }
    return auth(jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID}))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "fruits.db"


def app_client(database_url: str, key: rsa.RSAPrivateKey) -> TestClient:
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwks = LocalJWKSClient({"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]})
    settings = Settings(issuer=ISSUER, database_url=database_url)
    return TestClient(create_app(settings, jwks_client=jwks))


@pytest.fixture
def client(db_path: Path, key: rsa.RSAPrivateKey) -> TestClient:
    db_path.parent.mkdir()
    return app_client(f"sqlite:///{db_path}", key)


def engine_of(client: TestClient) -> Engine:
    return client.app.state.store.engine  # type: ignore[attr-defined]


def rows(db_path: Path) -> list[tuple[str, str]]:
    """Every stored fruit, read past the API with a connection of our own."""
    with sqlite3.connect(db_path) as db:
        return sorted(db.execute("SELECT kind, name FROM fruits").fetchall())


def integrity(db_path: Path) -> str:
    with sqlite3.connect(db_path) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


class DiskLimit:
    """The database cannot grow (SQLITE_FULL, "database or disk is full") while ``full``:
    SQLite's ``max_page_count`` on every connection the store checks out, clamped by SQLite
    to the database's current size. ``full = False`` frees the space again."""

    NO_LIMIT = 1073741823  # SQLite's default max_page_count (3.40)

    def __init__(self, engine: Engine) -> None:
        self.full = False
        event.listen(engine, "checkout", self._apply)

    def _apply(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        pages = 1 if self.full else self.NO_LIMIT
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")


# --- the pragmas: rollback journal, durable commits, writers wait -------------------------


def test_every_connection_gets_the_pragmas(client: TestClient) -> None:
    engine = engine_of(client)
    connections = [engine.connect() for _ in range(3)]  # three pooled connections, each new
    try:
        for conn in connections:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout")
            }
            # delete: the rollback journal, whose reads need no new disk space (see db.py);
            # synchronous 3: EXTRA, FULL and the directory synced after each commit
            assert pragmas == {"journal_mode": "delete", "synchronous": 3, "busy_timeout": 5000}
    finally:
        for conn in connections:
            conn.close()


def test_a_database_left_in_wal_mode_is_put_back_to_the_rollback_journal(
    db_path: Path, key: rsa.RSAPrivateKey, headers: dict[str, str]
) -> None:
    db_path.parent.mkdir()
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    client = app_client(f"sqlite:///{db_path}", key)
    assert client.get("/fruits/usual", headers=headers).status_code == 200
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


# --- disk full: 507, nothing half-made, reads go on, writes come back without a restart ---


def fill(client: TestClient, headers: dict[str, str]) -> tuple[str, Any]:
    """POST fruits until one does not fit: that fruit's name and the answer."""
    for i in range(2000):
        name = f"filler-{i:04d}-" + "x" * 50
        r = client.post("/fruits/usual", json={"name": name}, headers=headers)
        if r.status_code != 201:
            return name, r
    raise AssertionError("the database never filled up")


def test_disk_full_is_507_and_nothing_is_stored(
    client: TestClient, db_path: Path, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    disk = DiskLimit(engine_of(client))
    disk.full = True
    with caplog.at_level(logging.WARNING, logger="fruit_api"):
        name, r = fill(client, headers)
    # the operator's log says what SQLite said, without the SQL or the caller's values
    assert "the database could not write: OperationalError: database or disk is full" in (
        caplog.text
    )
    assert "INSERT" not in caplog.text and name not in caplog.text
    assert r.status_code == 507, r.text
    assert r.json() == {
        "error": "insufficient_storage",
        "message": "the fruit API's storage is full: the change was not made. The operator "
        "must free space on the fruit API's data volume; retry later (reads keep working)",
    }
    assert "retry-after" not in r.headers  # freeing space is the operator's: no retry time
    assert ("usual", name) not in rows(db_path)
    assert integrity(db_path) == "ok"


def test_reads_keep_working_while_the_disk_is_full(
    client: TestClient, headers: dict[str, str]
) -> None:
    disk = DiskLimit(engine_of(client))
    disk.full = True
    name, r = fill(client, headers)
    assert r.status_code == 507
    listed = client.get("/fruits/usual", headers=headers)
    assert listed.status_code == 200
    assert name not in listed.json()["fruits"]
    assert {"apple", "banana", "pear"} <= set(listed.json()["fruits"])
    assert client.get("/fruits/exotic", headers=headers).status_code == 200


def test_writes_work_again_once_space_is_freed_without_a_restart(
    client: TestClient, db_path: Path, headers: dict[str, str]
) -> None:
    disk = DiskLimit(engine_of(client))
    disk.full = True
    name, r = fill(client, headers)
    assert r.status_code == 507
    before = rows(db_path)

    disk.full = False  # the operator freed space; the same app, the same pooled connections
    assert client.post("/fruits/usual", json={"name": name}, headers=headers).status_code == 201
    assert client.post("/fruits/usual", json={"name": "kiwi"}, headers=headers).status_code == 201
    assert rows(db_path) == sorted([*before, ("usual", name), ("usual", "kiwi")])
    assert client.delete(f"/fruits/usual/{name}", headers=headers).status_code == 204


def test_a_write_failing_at_commit_leaves_nothing_behind(
    client: TestClient, db_path: Path, headers: dict[str, str]
) -> None:
    """The INSERT ran, the COMMIT fails (an I/O error): one transaction per write, so the
    fruit is not there, not later either (the pooled connection holds no open transaction)."""
    engine = engine_of(client)
    before = rows(db_path)

    def io_error_at_commit(_conn: Any) -> None:
        error = sqlite3.OperationalError("disk I/O error")
        error.sqlite_errorcode = 10  # type: ignore[attr-defined]  # SQLITE_IOERR
        raise error

    event.listen(engine, "commit", io_error_at_commit)
    r = client.post("/fruits/usual", json={"name": "kiwi"}, headers=headers)
    event.remove(engine, "commit", io_error_at_commit)

    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    assert r.json()["error"] == "temporarily_unavailable"
    assert "(a disk I/O error): nothing was changed; try again in 5 s" in r.json()["message"]
    assert rows(db_path) == before
    assert client.post("/fruits/usual", json={"name": "fig"}, headers=headers).status_code == 201
    assert rows(db_path) == sorted([*before, ("usual", "fig")])  # no kiwi committed with it


# --- other storage failures: 503 + Retry-After -------------------------------------------


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy timeout of 0.2 s instead of 5 s, so a test waits for a lock briefly."""
    monkeypatch.setattr("fruit_api.db.BUSY_TIMEOUT_MS", 200)


def test_a_lock_held_beyond_the_busy_timeout_is_503(
    short_busy_timeout: None, db_path: Path, key: rsa.RSAPrivateKey, headers: dict[str, str]
) -> None:
    db_path.parent.mkdir()
    client = app_client(f"sqlite:///{db_path}", key)
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another writer, in the middle of its transaction
    writer.execute("INSERT INTO fruits (kind, name) VALUES ('usual', 'plum')")
    try:
        started = time.monotonic()
        r = client.post("/fruits/usual", json={"name": "kiwi"}, headers=headers)
        assert time.monotonic() - started < 3  # the busy timeout set, not the driver's 5 s
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
        assert r.json()["error"] == "temporarily_unavailable"
        assert "stayed locked by other writes" in r.json()["message"]
        # readers are not blocked by a writer that has not reached its commit
        listed = client.get("/fruits/usual", headers=headers)
        assert listed.status_code == 200
        assert "plum" not in listed.json()["fruits"]

        writer.execute("COMMIT")
        writer.execute("BEGIN EXCLUSIVE")  # a writer in its commit: readers must wait too
        r = client.get("/fruits/usual", headers=headers)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
        assert "nothing was changed" not in r.json()["message"]  # a read changes nothing
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert client.post("/fruits/usual", json={"name": "kiwi"}, headers=headers).status_code == 201
    assert ("usual", "kiwi") in rows(db_path)


def test_a_writer_waits_for_a_short_lock_instead_of_failing(
    client: TestClient, db_path: Path, headers: dict[str, str]
) -> None:
    """busy_timeout: a lock held for 0.3 s delays the write, it does not refuse it."""
    writer = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO fruits (kind, name) VALUES ('usual', 'plum')")
    threading.Timer(0.3, lambda: (writer.execute("COMMIT"), writer.close())).start()
    r = client.post("/fruits/usual", json={"name": "kiwi"}, headers=headers)
    assert r.status_code == 201, r.text
    assert {("usual", "kiwi"), ("usual", "plum")} <= set(rows(db_path))


def test_a_read_only_database_is_503_for_writes_and_serves_reads(
    db_path: Path, key: rsa.RSAPrivateKey, headers: dict[str, str]
) -> None:
    db_path.parent.mkdir()
    FruitStore(f"sqlite:///{db_path}")  # created and seeded
    client = app_client(f"sqlite:///file:{db_path}?mode=ro&uri=true", key)
    assert client.get("/fruits/usual", headers=headers).json()["fruits"] == list(SEED["usual"])
    r = client.post("/fruits/usual", json={"name": "kiwi"}, headers=headers)
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    assert "(the database file is read-only)" in r.json()["message"]
    assert "check the fruit API's data volume" in r.json()["message"]
    assert client.delete("/fruits/usual/apple", headers=headers).status_code == 503
    assert ("usual", "apple") in rows(db_path)


def test_a_database_that_cannot_be_opened_is_503(
    client: TestClient, db_path: Path, headers: dict[str, str]
) -> None:
    """The data volume is gone (unmounted, removed): new connections cannot open the file."""
    engine_of(client).dispose()  # no pooled connection keeps the old file open
    shutil.rmtree(db_path.parent)
    r = client.get("/fruits/usual", headers=headers)
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    assert "(the database file cannot be opened)" in r.json()["message"]
    assert str(db_path) not in r.text  # no internal path in an answer
    assert client.post("/fruits/usual", json={"name": "kiwi"}, headers=headers).status_code == 503


def test_no_storage_failure_is_a_500_with_a_traceback(
    client: TestClient, headers: dict[str, str]
) -> None:
    """Whatever SQLite answers, the API answers in its own shape."""
    engine = engine_of(client)

    def fail(_conn: Any, *_args: Any) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    event.listen(engine, "before_cursor_execute", fail)
    for method, path, body in [
        ("GET", "/fruits/usual", None),
        ("POST", "/fruits/usual", {"name": "kiwi"}),
        ("DELETE", "/fruits/usual/apple", None),
    ]:
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 503, (method, r.text)
        assert set(r.json()) == {"error", "message"}
        assert "Traceback" not in r.text and "malformed" not in r.text


def test_a_first_start_that_fails_to_seed_leaves_no_empty_table(db_path: Path) -> None:
    """Create and seed are one transaction: a first start that fails (or is killed) between
    the two leaves nothing, and the next start seeds."""
    db_path.parent.mkdir()
    url = f"sqlite:///{db_path}"

    def fail_on_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT"):
            raise sqlite3.OperationalError("disk I/O error")

    event.listen(Engine, "before_cursor_execute", fail_on_insert)
    try:
        with pytest.raises(StorageUnavailableError):
            FruitStore(url)
    finally:
        event.remove(Engine, "before_cursor_execute", fail_on_insert)
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []
    assert FruitStore(url).list("usual") == list(SEED["usual"])


# --- durability: acknowledged writes survive kill -9; several processes write at once ------

WRITER = """
import sys
from fruit_api.db import FruitStore

store = FruitStore(sys.argv[1])
prefix = sys.argv[2]
for i in range(int(sys.argv[3])):
    name = f"{prefix}-{i}"
    assert store.add("usual", name), name
    print(name, flush=True)  # acknowledged: add() returned after its COMMIT
"""


def writer(database_url: str, prefix: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, database_url, prefix, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_acknowledged_writes_survive_kill_9_mid_write(db_path: Path) -> None:
    db_path.parent.mkdir()
    url = f"sqlite:///{db_path}"
    proc = writer(url, "acked", 100_000)
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline().strip() for _ in range(30)]
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of some write
    rest, _ = proc.communicate()
    acknowledged += rest.split()
    assert proc.returncode == -signal.SIGKILL

    names = FruitStore(url).list("usual")  # the next start: rolls a hot journal back
    assert set(acknowledged) <= set(names)
    unacknowledged = set(names) - set(acknowledged) - set(SEED["usual"])
    assert len(unacknowledged) <= 1  # at most the write that was in flight
    assert integrity(db_path) == "ok"
    # No hot journal is left. A kill that came before SQLite had finished the journal's header
    # leaves a journal that is empty or starts with a zero byte: not hot by SQLite's own rule
    # (pager.c, hasHotJournal), ignored and reused by the next write; any other journal was hot,
    # rolled back by the read above, and deleted.
    journal = Path(f"{db_path}-journal")
    assert not journal.exists() or journal.read_bytes()[:1] in (b"", b"\0")


def test_several_processes_write_at_once_and_none_fails(db_path: Path) -> None:
    """Like several API workers on one file, started together on a fresh volume: one creates
    and seeds the table, every write waits for the lock instead of failing."""
    db_path.parent.mkdir()
    url = f"sqlite:///{db_path}"
    procs = [writer(url, f"w{n}", 25) for n in range(4)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    names = FruitStore(url).list("usual")
    assert len(names) == 4 * 25 + len(SEED["usual"])
    assert rows(db_path).count(("usual", "apple")) == 1  # seeded once


# --- documented ----------------------------------------------------------------------------


def test_the_document_lists_the_storage_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    retry_after = {"type": "integer", "minimum": 1}
    for path, method in [
        ("/fruits/{kind}", "post"),
        ("/fruits/{kind}/{name}", "delete"),
        ("/fruits/{kind}", "get"),
        ("/whoami", "get"),
    ]:
        responses = paths[path][method]["responses"]
        unavailable = responses["503"]
        assert unavailable["headers"]["Retry-After"]["schema"] == retry_after, (path, method)
        assert unavailable["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }
        writes = method in ("post", "delete")
        assert ("507" in responses) == writes, (path, method)
        if writes:
            assert "free space on the fruit API's data volume" in responses["507"]["description"]
    assert "storage" in paths["/fruits/{kind}"]["get"]["responses"]["503"]["description"]
    assert "storage" not in json.dumps(paths["/whoami"]["get"]["responses"]["503"])
