"""What the hub and Keycloak did while a benchmark scenario ran (native runtime): their CPU
seconds and peak RSS, sampled from /proc, and the requests the hub sent to Keycloak, counted in
the hub's log."""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from native_runtime.cli import _ctl
from native_runtime.settings import Settings


@dataclass
class Usage:
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0


class Sampler:
    """CPU seconds and peak RSS of the hub's and Keycloak's processes while a scenario runs
    (read from /proc every ``interval`` seconds; the hub's pid is looked up again after it
    was restarted)."""

    def __init__(self, settings: Settings, interval: float = 0.5) -> None:
        self.settings = settings
        self.interval = interval
        self.usage = {"hub": Usage(), "keycloak": Usage()}
        self._stop = threading.Event()
        self._last: dict[tuple[str, int], float] = {}

    def pid(self, program: str) -> int | None:
        answer = _ctl(self.settings, "pid", program).stdout.strip()
        return int(answer) if answer.isdigit() and answer != "0" else None

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
                    self.usage[name].cpu_s += cpu - self._last[key]
                self._last[key] = cpu
                rss = re.search(r"VmRSS:\s+(\d+) kB", status)
                rss_mb += int(rss.group(1)) / 1024 if rss else 0.0
            self.usage[name].peak_rss_mb = max(self.usage[name].peak_rss_mb, rss_mb)

    def _pids(self) -> dict[str, list[int]]:
        """The hub's process (not its servers), and Keycloak's whole tree (kc.sh, its JVM)."""
        hub, keycloak = self.pid("jupyterhub"), self.pid("keycloak")
        return {
            "hub": [hub] if hub else [],
            "keycloak": descendants(keycloak) if keycloak else [],
        }

    def _run(self, pids: dict[str, list[int]]) -> None:
        while not self._stop.wait(self.interval):
            self._sample(pids)
            if not all(Path(f"/proc/{pid}").exists() for pid in pids["hub"]):
                pids = self._pids()  # the hub was restarted
        self._sample(pids)

    @contextmanager
    def running(self) -> Iterator[dict[str, Usage]]:
        pids = self._pids()
        self._sample(pids)  # the baseline, taken before the scenario starts
        thread = threading.Thread(target=self._run, args=(pids,), daemon=True)
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


class HubLog:
    """What the hub asked Keycloak for, read from its log between two points."""

    EXCHANGE = re.compile(r"token-exchange audit: user=(\S+) .* cached=false")
    BROKER_REFRESH = re.compile(r"refreshed the Keycloak token of (\S+)")
    HUB_REFRESH = re.compile(r"Refreshing oauth access token for (\S+)")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = self._size()

    def _size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def mark(self) -> None:
        self.offset = self._size()

    def since_mark(self) -> dict[str, Counter[str]]:
        """Per kind (exchange, refresh), how many per user since ``mark``."""
        size = self._size()
        start = self.offset if size >= self.offset else 0  # rotated: from its start
        with self.path.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
        counts: dict[str, Counter[str]] = {"exchange": Counter(), "refresh": Counter()}
        for line in text.splitlines():
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
