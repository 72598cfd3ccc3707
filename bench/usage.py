"""CPU and memory of groups of processes (app, database, generator), from psutil."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

Finder = Callable[[], list[psutil.Process]]


def _cpu_seconds(proc: psutil.Process) -> float | None:
    with contextlib.suppress(psutil.Error):
        times = proc.cpu_times()
        return times.user + times.system
    return None


@dataclass
class CpuWindow:
    """CPU seconds a group spent between start() and stop().

    Processes are found again at stop(), so backends or workers born during the window
    count from zero (their whole life lies inside it); ones that died during it are lost,
    which undercounts a little rather than inventing time.
    """

    find: Finder
    _start: dict[tuple[int, float], float] | None = None
    _started_at: float = 0.0
    seconds: float = 0.0
    wall: float = 0.0

    def _snapshot(self) -> dict[tuple[int, float], float]:
        taken = {}
        for proc in self.find():
            cpu = _cpu_seconds(proc)
            with contextlib.suppress(psutil.Error):
                if cpu is not None:
                    taken[(proc.pid, proc.create_time())] = cpu
        return taken

    def start(self) -> None:
        self._start = self._snapshot()
        self._started_at = time.monotonic()

    def stop(self) -> None:
        assert self._start is not None, "start() first"
        end = self._snapshot()
        self.wall = time.monotonic() - self._started_at
        self.seconds = sum(cpu - self._start.get(key, 0.0) for key, cpu in end.items())

    @property
    def cores(self) -> float:
        return self.seconds / self.wall if self.wall else 0.0


@dataclass(frozen=True)
class Memory:
    rss: int
    pss: int

    def __sub__(self, other: Memory) -> Memory:
        return Memory(self.rss - other.rss, self.pss - other.pss)


def memory(find: Finder) -> Memory:
    """RSS and PSS summed over a group. PSS splits shared pages between their users, so
    the sum over many forked workers or backends doesn't count shared memory twice."""
    rss = pss = 0
    for proc in find():
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            rss += info.rss
            pss += info.pss
    return Memory(rss, pss)


@dataclass
class MachineWindow:
    """Busy CPU seconds of the whole machine over a window: what our processes don't
    account for is someone else's load, which makes a run noisy."""

    _start: float = 0.0
    seconds: float = 0.0

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)

    def start(self) -> None:
        self._start = self._busy()

    def stop(self) -> None:
        self.seconds = self._busy() - self._start
