"""What the hub and Keycloak did while a benchmark scenario ran: their CPU seconds and peak RSS,
sampled from /proc (a container's processes are the host's too), and the requests the hub sent
to Keycloak, counted in the hub's log. Which processes and which log: ``tests.bench.runtimes``."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Usage:
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0


#: The processes to sample, by part ("hub", "keycloak", ...), looked up again when the hub's
#: are gone (it was restarted).
Pids = Callable[[], dict[str, list[int]]]


class Sampler:
    """CPU seconds and peak RSS of each part's processes while a scenario runs (read from
    /proc every ``interval`` seconds)."""

    def __init__(self, pids: Pids, interval: float = 0.5) -> None:
        self._pids = pids
        self.interval = interval
        self.usage: dict[str, Usage] = {}
        self._stop = threading.Event()
        self._last: dict[tuple[str, int], float] = {}

    def _sample(self, pids: dict[str, list[int]]) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        for name, group in pids.items():
            rss_mb = 0.0
            for pid in group:
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                cpu = (int(stat[11]) + int(stat[12])) / ticks  # utime + stime
                key = (name, pid)
                if key in self._last:
                    self.usage.setdefault(name, Usage()).cpu_s += cpu - self._last[key]
                self._last[key] = cpu
                rss = re.search(r"VmRSS:\s+(\d+) kB", status)
                rss_mb += int(rss.group(1)) / 1024 if rss else 0.0
            usage = self.usage.setdefault(name, Usage())
            usage.peak_rss_mb = max(usage.peak_rss_mb, rss_mb)

    def _run(self, pids: dict[str, list[int]], start_at: float) -> None:
        self._stop.wait(max(0.0, start_at - time.time()))
        self._sample(pids)  # the baseline, when the scenario starts
        while not self._stop.wait(self.interval):
            self._sample(pids)
            if not all(Path(f"/proc/{pid}").exists() for pid in pids.get("hub", [])):
                pids = self._pids()  # the hub was restarted
        self._sample(pids)

    @contextmanager
    def running(self, start_at: float) -> Iterator[dict[str, Usage]]:
        """Samples while the block runs, from ``start_at`` (epoch s): when the scenario's
        clients start, after a lead time."""
        thread = threading.Thread(target=self._run, args=(self._pids(), start_at), daemon=True)
        thread.start()
        try:
            yield self.usage
        finally:
            self._stop.set()
            thread.join()


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class FileLog:
    """A log file (native: supervisord's); a point in it is an offset."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def end(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, offset: int) -> str:
        """The text after ``offset``. A file that shrank was rotated (supervisord keeps the
        previous one as ``<name>.1``): the rest of that one, then the new one."""
        text = b""
        if self.end() < offset:
            rotated = self.path.with_name(self.path.name + ".1")
            if rotated.exists():
                with rotated.open("rb") as f:
                    f.seek(offset)
                    text = f.read()
            offset = 0
        with self.path.open("rb") as f:
            f.seek(offset)
            text += f.read()
        return text.decode(errors="replace")


class ContainerLog:
    """A container's log (compose: ``docker logs``); a point in it is a time."""

    def __init__(self, container: str) -> None:
        self.container = container

    def end(self) -> str:
        return dt.datetime.now(dt.UTC).isoformat()

    def since(self, when: str) -> str:
        done = subprocess.run(
            ["docker", "logs", "--since", when, self.container],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout + done.stderr  # the hub logs to stderr


class HubLog:
    """What the hub asked Keycloak for, read from its log (a ``FileLog`` or ``ContainerLog``)
    between two points."""

    EXCHANGE = re.compile(r"token-exchange audit: user=(\S+) .* cached=false")
    BROKER_REFRESH = re.compile(r"refreshed the Keycloak token of (\S+)")
    HUB_REFRESH = re.compile(r"Refreshing oauth access token for (\S+)")

    def __init__(self, log: FileLog | ContainerLog) -> None:
        self.log = log
        self.point = log.end()

    def mark(self) -> None:
        self.point = self.log.end()

    def since_mark(self) -> dict[str, Counter[str]]:
        """Per kind (exchange, refresh), how many per user since ``mark``."""
        counts: dict[str, Counter[str]] = {"exchange": Counter(), "refresh": Counter()}
        for line in self.log.since(self.point).splitlines():
            if m := self.EXCHANGE.search(line):
                counts["exchange"][m.group(1)] += 1
            elif m := self.BROKER_REFRESH.search(line) or self.HUB_REFRESH.search(line):
                counts["refresh"][m.group(1)] += 1
        return counts


def rss_mb(pid: int) -> float:
    """The resident memory of one process and everything below it (a server and its kernels)."""
    total = 0.0
    for member in descendants(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        rss = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(rss.group(1)) / 1024 if rss else 0.0
    return total


def available_mb() -> float:
    """MemAvailable: what the machine could still give processes without swapping."""
    meminfo = Path("/proc/meminfo").read_text()
    found = re.search(r"MemAvailable:\s+(\d+) kB", meminfo)
    return int(found.group(1)) / 1024 if found else 0.0
