"""Fruit storage: one SQLAlchemy Core table ``fruits(kind, name)``.

Every call is one transaction: a write is either stored whole (and durable once it returns)
or not at all. A database that cannot serve a call raises ``StorageFullError`` (the disk is
full: a write cannot be stored) or ``StorageUnavailableError`` (locked for too long, an I/O
error, cannot be opened, read-only): the API answers those as 507 and 503, never as a 500.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import IntegrityError

log = logging.getLogger("fruit_api")

KINDS = ("usual", "exotic")
SEED = {"usual": ("apple", "banana", "pear"), "exotic": ("mangosteen", "rambutan", "durian")}

#: How long a connection waits for another one's lock before giving up (SQLite busy_timeout):
#: concurrent writers (threads, or several processes on one file) queue instead of failing.
BUSY_TIMEOUT_MS = 5000
#: The Retry-After (seconds) of a 503 from storage: about one busy timeout.
STORAGE_RETRY_AFTER = 5

metadata = MetaData()
fruits = Table(
    "fruits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    UniqueConstraint("kind", "name", name="uq_fruits_kind_name"),
)


class StorageError(Exception):
    """The database could not serve the call; nothing was changed. ``reason`` says why, in
    words fit for an answer (no path, no SQL)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StorageFullError(StorageError):
    """The disk holding the database is full (SQLITE_FULL): a write cannot be stored."""


class StorageUnavailableError(StorageError):
    """Locked beyond the busy timeout, an I/O error, the file cannot be opened or written,
    a damaged file, no free connection: the operator's or a passing problem."""


# SQLite's primary result codes (https://www.sqlite.org/rescode.html); an extended code
# (e.g. SQLITE_IOERR_SHMSIZE) carries its primary one in the low byte.
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR = 5, 6, 8, 10
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 11, 13, 14, 26
_REASONS = {
    SQLITE_BUSY: "the database stayed locked by other writes for longer than "
    f"{BUSY_TIMEOUT_MS // 1000} s",
    SQLITE_LOCKED: "the database is locked",
    SQLITE_READONLY: "the database file is read-only",
    SQLITE_IOERR: "a disk I/O error",
    SQLITE_CORRUPT: "the database file is damaged",
    SQLITE_CANTOPEN: "the database file cannot be opened",
    SQLITE_NOTADB: "the database file is damaged",
}


def _storage_error(error: BaseException, *, writing: bool) -> StorageError | None:
    """The StorageError for a database error, or None for anything else (a bug: a 500)."""
    if isinstance(error, sa_exc.TimeoutError):  # every pooled connection busy for pool_timeout
        return StorageUnavailableError("no database connection became free in time")
    if isinstance(error, sa_exc.DBAPIError):
        error = error.orig
    # OperationalError: full, locked, I/O, cannot open, read-only; a bare DatabaseError: a
    # damaged file. The others (IntegrityError, ProgrammingError, ...) are not storage's.
    if not (isinstance(error, sqlite3.OperationalError) or type(error) is sqlite3.DatabaseError):
        return None
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == SQLITE_FULL or "database or disk is full" in str(error):
        if writing:
            return StorageFullError("the fruit API's storage is full")
        # A read has nothing to store: a full disk is no reason to refuse it for good.
        return StorageUnavailableError("its disk is full")
    return StorageUnavailableError(_REASONS.get(primary or -1, "a database error"))


def _sqlite_connection_setup(dbapi_connection: Any, _record: Any) -> None:
    """Pragmas of every SQLite connection (they are per connection, so set on each).

    Journal: SQLite's rollback journal (``DELETE``), not WAL. Reads then need no new disk
    space at all, so they keep working while the data volume is full, also in a process
    started on the full disk. In WAL mode a process that opens the database after a clean
    shutdown must first create the 32 KiB ``-shm`` file, and on a full disk every call, reads
    included, fails (SQLITE_IOERR_SHMSIZE); a WAL file also grows by up to 4 MB between
    checkpoints, a lot on a small volume. The rollback journal makes writers briefly block
    readers; for this API's small writes the busy timeout absorbs that.

    Durability: ``synchronous=EXTRA``. A write is acknowledged only after its COMMIT
    returned: with FULL the journal and the database file are fsynced, which survives
    kill -9 (and FULL alone would, the kernel has the data); EXTRA also fsyncs the directory
    after the journal is deleted, without which a power loss right after a commit can bring
    the journal back and roll that acknowledged commit back (https://sqlite.org/pragma.html
    #pragma_synchronous). A process killed mid-write leaves a hot journal: the next connection
    rolls the unfinished write back (no new space needed) before it reads.

    ``busy_timeout`` first: the other pragmas may have to wait for a lock too.

    ``isolation_level = None``: the sqlite3 module's own transaction handling is off (it
    begins no transaction for DDL nor SELECT); SQLAlchemy's ``begin`` event (``_sqlite_begin``)
    emits BEGIN for every transaction, so one call is one transaction
    (https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#sqlite-enabling-transactions).
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = DELETE")
        cursor.execute("PRAGMA synchronous = EXTRA")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN, or BEGIN IMMEDIATE for a write: it takes the write lock at once (waiting up to
    the busy timeout for it), so a write never fails halfway for a lock another took first."""
    writing = conn.get_execution_options().get("fruit_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


class FruitStore:
    """Lists, adds and removes fruits; creates and seeds the table on first start."""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = create_engine(database_url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_connection_setup)
            event.listen(self.engine, "begin", _sqlite_begin)
        with self._transaction(writing=False) as conn:
            exists = inspect(conn).has_table("fruits")
        if not exists:  # (a read first: a start on a full or read-only disk needs no write)
            self._create()

    def _create(self) -> None:
        """Create and seed in one transaction: a process killed in between leaves no empty
        table behind; of several processes starting at once, one seeds, the others wait."""
        with self._transaction(writing=True) as conn:
            if not inspect(conn).has_table("fruits"):
                metadata.create_all(conn)
                rows = [{"kind": k, "name": n} for k, names in SEED.items() for n in names]
                conn.execute(insert(fruits), rows)

    @contextmanager
    def _transaction(self, *, writing: bool) -> Iterator[Connection]:
        """One transaction: committed if the block ends normally, else rolled back. Storage
        failures become StorageError (IntegrityError passes: the caller's to handle)."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(fruit_write=writing)
                with conn.begin():
                    yield conn
        except IntegrityError:
            raise
        except (sa_exc.DBAPIError, sa_exc.TimeoutError, sqlite3.Error) as e:
            error = _storage_error(e, writing=writing)
            if error is None:
                raise
            cause = e.orig if isinstance(e, sa_exc.DBAPIError) else e  # no SQL, no values
            action = "write" if writing else "read"
            log.warning("the database could not %s: %s: %s", action, type(cause).__name__, cause)
            raise error from e

    def list(self, kind: str) -> list[str]:
        """Names of this kind, sorted."""
        query = select(fruits.c.name).where(fruits.c.kind == kind).order_by(fruits.c.name)
        with self._transaction(writing=False) as conn:
            return list(conn.scalars(query))

    def add(self, kind: str, name: str) -> bool:
        """Add a fruit; False if it already exists."""
        try:
            with self._transaction(writing=True) as conn:
                conn.execute(insert(fruits).values(kind=kind, name=name))
        except IntegrityError:
            return False
        return True

    def remove(self, kind: str, name: str) -> bool:
        """Remove a fruit; False if it was not there."""
        query = delete(fruits).where(fruits.c.kind == kind, fruits.c.name == name)
        with self._transaction(writing=True) as conn:
            return conn.execute(query).rowcount > 0
