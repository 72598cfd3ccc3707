"""What a worker's tabs write back: presence claims and delivery cursors.

Both are writes the hub must never wait for, so each has its own task: presence changes
in order, one at a time (an arrive and a leave can't cross), and deliveries in small
batches (one statement per 50 ms, not one per message and tab).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from chatin.models import Presence, record_deliveries

log = logging.getLogger(__name__)

OFFLINE_GRACE_SECONDS = 4.0  # a reload reconnects well within this: no offline flicker
PRESENCE_RENEW_SECONDS = 20.0
DELIVERY_BATCH_SECONDS = 0.05

PresenceWrite = Callable[[str, int], Awaitable[None]]


class PresenceClaims:
    """This worker's claims that users have a tab open here, kept in PostgreSQL."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self._here: set[int] = set()
        self._going_offline: dict[int, asyncio.TimerHandle] = {}
        self._writes: asyncio.Queue[tuple[PresenceWrite, int]] = asyncio.Queue()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._write_in_order())
            group.create_task(self._renew())

    def first_tab(self, user_id: int) -> None:
        """A user's first tab here: claim them, unless they only just left (a reload)."""
        self._here.add(user_id)
        pending = self._going_offline.pop(user_id, None)
        if pending is not None:
            pending.cancel()
        else:
            self._writes.put_nowait((Presence.arrive, user_id))

    def last_tab_closed(self, user_id: int) -> None:
        """Their last tab here closed: offline after a grace period, unless one comes back."""
        self._here.discard(user_id)
        self._going_offline[user_id] = asyncio.get_running_loop().call_later(
            OFFLINE_GRACE_SECONDS, self._went_offline, user_id
        )

    def _went_offline(self, user_id: int) -> None:
        self._going_offline.pop(user_id, None)
        self._writes.put_nowait((Presence.leave, user_id))

    async def _write_in_order(self) -> None:
        while True:
            write, user_id = await self._writes.get()
            try:
                await write(self.worker, user_id)
            except Exception:
                log.exception("could not record presence of user %s", user_id)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_RENEW_SECONDS)
            if self._here:
                try:
                    await Presence.renew(self.worker, list(self._here))
                except Exception:
                    log.exception("could not renew presence")


class DeliveryBatches:
    """Messages that reached a tab, written as one statement per batch."""

    def __init__(self) -> None:
        self._delivered: dict[tuple[int, int], int] = {}
        self._ready = asyncio.Event()

    def record(self, conversation: int, user_id: int, message: int) -> None:
        """A message reached one of user's tabs; written soon, with others."""
        key = (conversation, user_id)
        if message > self._delivered.get(key, 0):
            self._delivered[key] = message
            self._ready.set()

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            await asyncio.sleep(DELIVERY_BATCH_SECONDS)
            batch, self._delivered = self._delivered, {}
            self._ready.clear()
            try:
                await record_deliveries(
                    [(conversation, user, upto) for (conversation, user), upto in batch.items()]
                )
            except Exception:
                log.exception("could not record %d deliveries", len(batch))
