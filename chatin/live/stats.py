"""What a worker's hub is doing, for the load benchmark: sockets held, events rendered, and
every SAMPLE_SECONDS the event backlog, how late the event loop woke the sampler, the
database pool's free connections and waiting tasks, and the longest garbage-collector pause.

Counters are plain integers bumped once per event or batch, never per tab; the samples
live in a bounded ring, so keeping them costs the same whether anyone reads them or not.
Readers take the samples since a sequence number they remembered (`samples_since`), so
two readings bracket a window without anything being reset. The pool and the collector
are only looked at, never changed: the pool's size and queue of waiting tasks are read
from asyncpg's pool as the sampler wakes, the collector's pauses timed by gc.callbacks.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from tortoise import connections

SAMPLE_SECONDS = 0.05
KEPT_SAMPLES = 6_000  # five minutes at 20 a second
NOT_KNOWN = -1  # no pool yet (or not asyncpg's)


class Sample(NamedTuple):
    backlog: int
    lag_ms: float
    pool_idle: int  # connections in the pool nobody holds
    pool_waiting: int  # tasks waiting for one
    gc_ms: float  # the longest collector pause since the previous sample


class CollectorPauses:
    """Times every garbage collection of this process (gc.callbacks: start and stop)."""

    def __init__(self) -> None:
        self.collections = 0
        self.total_ms = 0.0
        self.longest_since_sample = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        pause = (time.perf_counter() - self._began) * 1000
        self.collections += 1
        self.total_ms += pause
        self.longest_since_sample = max(self.longest_since_sample, pause)

    def take_longest(self) -> float:
        longest, self.longest_since_sample = self.longest_since_sample, 0.0
        return longest


def pool_state() -> tuple[int, int]:
    """(idle connections, tasks waiting for one) of the ORM's asyncpg pool."""
    try:  # not connections.get(): on another event loop it replaces the client
        pool = connections._get_storage()["default"]._pool  # looked at, never changed
        idle = pool.get_idle_size()
        waiting = sum(1 for getter in pool._queue._getters if not getter.done())
    except (AttributeError, KeyError, TypeError, RuntimeError):  # no ORM or pool yet
        return NOT_KNOWN, NOT_KNOWN
    return idle, waiting


class HubStats:
    """Counters the hub bumps, and a sampler of its backlog, the loop's lag, the pool and
    the collector's pauses."""

    def __init__(self, backlog: Callable[[], int], sockets: Callable[[], int]) -> None:
        self._backlog = backlog
        self._sockets = sockets
        self.events = 0  # events rendered for at least one local user
        self.batches = 0  # rounds of the render loop (each took all that was queued)
        self.batched_runs = 0  # runs of messages and ticks loaded together
        self.taken = 0  # samples taken since start; the ring keeps the last KEPT_SAMPLES
        self._samples: deque[Sample] = deque(maxlen=KEPT_SAMPLES)
        self.pauses = CollectorPauses()

    async def sample_forever(self) -> None:
        """Every SAMPLE_SECONDS: the backlog, and how late this wake-up came (the loop's
        lag: time other callbacks held the loop past the timer), the pool, the collector."""
        loop = asyncio.get_running_loop()
        gc.callbacks.append(self.pauses)
        try:
            while True:
                due = loop.time() + SAMPLE_SECONDS
                await asyncio.sleep(SAMPLE_SECONDS)
                self.record(self._backlog(), max(0.0, loop.time() - due))
        finally:
            gc.callbacks.remove(self.pauses)

    def record(self, backlog: int, lag_seconds: float) -> None:
        idle, waiting = pool_state()
        gc_ms = self.pauses.take_longest()
        self._samples.append(Sample(backlog, lag_seconds * 1000, idle, waiting, gc_ms))
        self.taken += 1

    def samples_since(self, taken: int) -> list[Sample]:
        """The samples numbered taken.. (as many as are still kept)."""
        count = min(max(0, self.taken - taken), len(self._samples))
        return list(self._samples)[len(self._samples) - count :]

    def as_dict(self, since: int) -> dict[str, Any]:
        samples = self.samples_since(since)
        return {
            "sockets": self._sockets(),
            "events": self.events,
            "batches": self.batches,
            "batched_runs": self.batched_runs,
            "taken": self.taken,
            "gc_collections": self.pauses.collections,
            "gc_pause_ms": round(self.pauses.total_ms, 3),
            "backlog": [s.backlog for s in samples],
            "lag_ms": [round(s.lag_ms, 3) for s in samples],
            "pool_idle": [s.pool_idle for s in samples],
            "pool_waiting": [s.pool_waiting for s in samples],
            "gc_ms": [round(s.gc_ms, 3) for s in samples],
        }
