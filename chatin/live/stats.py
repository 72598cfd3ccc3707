"""What a worker's hub is doing, for the load benchmark: sockets held, events rendered, and
every SAMPLE_SECONDS the event backlog and how late the event loop woke the sampler.

Counters are plain integers bumped once per event or batch, never per tab; the samples
live in a bounded ring, so keeping them costs the same whether anyone reads them or not.
Readers take the samples since a sequence number they remembered (`samples_since`), so
two readings bracket a window without anything being reset.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

SAMPLE_SECONDS = 0.05
KEPT_SAMPLES = 6_000  # five minutes at 20 a second


class HubStats:
    """Counters the hub bumps, and a sampler of its backlog and of the loop's lag."""

    def __init__(self, backlog: Callable[[], int], sockets: Callable[[], int]) -> None:
        self._backlog = backlog
        self._sockets = sockets
        self.events = 0  # events rendered for at least one local user
        self.batches = 0  # rounds of the render loop (each took all that was queued)
        self.batched_runs = 0  # runs of messages and ticks loaded together
        self.taken = 0  # samples taken since start; the ring keeps the last KEPT_SAMPLES
        self._samples: deque[tuple[int, float]] = deque(maxlen=KEPT_SAMPLES)

    async def sample_forever(self) -> None:
        """Every SAMPLE_SECONDS: the backlog, and how late this wake-up came (the loop's
        lag: time other callbacks held the loop past the timer)."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + SAMPLE_SECONDS
            await asyncio.sleep(SAMPLE_SECONDS)
            self.record(self._backlog(), max(0.0, loop.time() - due))

    def record(self, backlog: int, lag_seconds: float) -> None:
        self._samples.append((backlog, lag_seconds * 1000))
        self.taken += 1

    def samples_since(self, taken: int) -> list[tuple[int, float]]:
        """(backlog, lag ms) of the samples numbered taken.. (as many as are still kept)."""
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
            "backlog": [backlog for backlog, _ in samples],
            "lag_ms": [round(lag, 3) for _, lag in samples],
        }
