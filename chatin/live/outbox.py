"""What a tab has yet to be sent, and the task that sends it while there is any."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")


class Outbox(Generic[T]):
    """A bounded first-in first-out list with one sender, started on the first item and
    ended when the list is empty.

    Most tabs sit idle: an asyncio.Queue (four deques, 3.2 KiB) and a sender task parked
    on it cost about 4 of the 45 KiB an idle socket held (bench/RESULTS.md). Here an idle
    tab holds an empty list. The sender runs in the tab's TaskGroup, so closing the tab
    cancels it as before.
    """

    __slots__ = ("_context", "_group", "_items", "_limit", "_send", "_sender", "_wake")

    def __init__(self, limit: int, send: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._items: list[T] = []
        self._limit = limit
        self._send = send  # sends what take() gives until it gives None
        self._group: asyncio.TaskGroup | None = None
        self._context: contextvars.Context | None = None
        self._sender: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None

    def put(self, item: T) -> bool:
        """Queue an item and see that a sender runs; False (nothing queued) when full."""
        if len(self._items) >= self._limit:
            return False
        self._items.append(item)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        self._start_sender()
        return True

    def take(self) -> T | None:
        """The oldest item, None when there is none."""
        return self._items.pop(0) if self._items else None

    def take_first(self, kind: type[K]) -> K | None:
        """The oldest item of `kind`, taken out ahead of the others; None if there is none."""
        for index, item in enumerate(self._items):
            if isinstance(item, kind):
                del self._items[index]
                return item
        return None

    async def wait(self) -> None:
        """Until the next item is put."""
        self._wake = asyncio.get_running_loop().create_future()
        try:
            await self._wake
        finally:
            self._wake = None

    def start(self, group: asyncio.TaskGroup) -> None:
        """Send from now on, in `group` and in the caller's context (Quart's websocket
        context: the sender is started by whoever puts, the hub included); items put
        before are sent first."""
        self._group = group
        self._context = contextvars.copy_context()
        if self._items:
            self._start_sender()

    def stop(self) -> None:
        """Send nothing more: cancel the sender, start none."""
        self._group = None
        if self._sender is not None:
            self._sender.cancel()

    def _start_sender(self) -> None:
        if self._sender is None and self._group is not None:
            self._sender = self._group.create_task(self._sending(), context=self._context)

    async def _sending(self) -> None:
        try:
            await self._send()
        finally:
            self._sender = None  # in the same step as the take() that found nothing
