"""The chaos suite's load: one worker (tests/chaos/worker.py) per user, each inside the user's
own server container, and what their records say.

``Load.start`` starts the workers with ``docker exec -i``; a thread per worker reads its JSON
lines into one list of ``Record``; ``Load.stop`` closes their stdin (the worker's signal to
stop) and waits. The records are then cut into windows by time: during a fault, after the
stack is declared recovered.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

WORKER = (Path(__file__).parent / "worker.py").read_text()
#: Every call of a worker has this bound (seconds): a caller never waits longer for an answer.
TIMEOUT = 35.0


@dataclass(frozen=True)
class Record:
    user: str
    t: float  # start, epoch seconds
    op: str  # forget, mint, read, write
    ms: float
    status: int | None
    code: str  # "ok", an error code, "unreachable" or "timeout"
    full: bool  # part of an iteration whose mint reached Keycloak
    name: str | None = None  # writes: the fruit's name
    retry_after: int | None = None  # a refused mint: the broker's Retry-After (seconds)

    @property
    def ok(self) -> bool:
        return self.code == "ok"

    @property
    def answered_by_api(self) -> bool:
        """A refusal the fruit API itself sent (its JSON error code), not a proxy's 502/504
        or a lost connection: the write was certainly not applied."""
        return self.status is not None and not self.code.startswith("http_")


class Load:
    def __init__(self, containers: dict[str, str], seed: int) -> None:
        self.containers = containers  # user -> container
        self.seed = seed
        self.records: list[Record] = []
        self.problems: list[str] = []  # worker lines that are not records, worker exits
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen] = {}
        self._readers: list[threading.Thread] = []

    def start(self) -> None:
        for user, container in self.containers.items():
            proc = subprocess.Popen(
                [
                    "docker",
                    "exec",
                    "-i",
                    container,
                    "python",
                    "-c",
                    WORKER,
                    user,
                    str(self.seed),
                    str(TIMEOUT),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self._procs[user] = proc
            reader = threading.Thread(target=self._read, args=(user, proc), daemon=True)
            reader.start()
            self._readers.append(reader)

    def _read(self, user: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                fields = json.loads(line)
                record = Record(user=user, **fields)
            except (ValueError, TypeError) as e:
                with self._lock:
                    self.problems.append(f"{user}: {e}: {line[:200]!r}")
                continue
            with self._lock:
                self.records.append(record)

    def alive(self) -> dict[str, bool]:
        return {user: proc.poll() is None for user, proc in self._procs.items()}

    def stop(self) -> None:
        for proc in self._procs.values():
            try:
                assert proc.stdin is not None
                proc.stdin.close()
            except OSError:
                pass
        for user, proc in self._procs.items():
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
            if proc.returncode not in (0, None):
                err = proc.stderr.read()[-600:] if proc.stderr else ""
                self.problems.append(f"{user}: worker exited {proc.returncode}: {err}")
        for reader in self._readers:
            reader.join(timeout=10)

    def snapshot(self) -> list[Record]:
        with self._lock:
            return list(self.records)

    def between(self, start: float, end: float) -> list[Record]:
        """Records of calls that started in [start, end)."""
        return [r for r in self.snapshot() if start <= r.t < end]

    def wait_for_full_success(self, since: float, timeout: float) -> float | None:
        """The start time of the first full iteration (forget, a mint that reached Keycloak,
        a read and a write) that succeeded and started after ``since``; None on timeout."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = first_full_success(self.between(since, float("inf")))
            if found is not None:
                return found
            time.sleep(1.0)
        return None


def first_full_success(records: Iterable[Record]) -> float | None:
    """The earliest start of a user's full iteration whose forget, mint, read and write all
    succeeded (the worker emits them in that order; an iteration starts at its forget)."""
    by_user: dict[str, list[Record]] = {}
    for r in sorted(records, key=lambda r: r.t):
        by_user.setdefault(r.user, []).append(r)
    best: float | None = None
    for rows in by_user.values():
        for i, r in enumerate(rows):
            if r.op != "forget":
                continue
            iteration = [r]
            for nxt in rows[i + 1 :]:
                if nxt.op == "forget" or not nxt.full:
                    break
                iteration.append(nxt)
            ops = {x.op for x in iteration}
            if {"forget", "mint", "read", "write"} <= ops and all(x.ok for x in iteration):
                best = r.t if best is None else min(best, r.t)
                break
    return best


def failures_by_code(records: Iterable[Record]) -> Counter[str]:
    return Counter(f"{r.op}:{r.code}" for r in records if not r.ok)


def acknowledged_writes(records: Iterable[Record]) -> set[str]:
    return {r.name for r in records if r.op == "write" and r.ok and r.name}


def refused_writes(records: Iterable[Record]) -> set[str]:
    """Writes the fruit API itself refused: certainly not applied."""
    return {
        r.name for r in records if r.op == "write" and not r.ok and r.answered_by_api and r.name
    }
