"""This worker's sockets by user, and the one task that turns announcements into frames."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from quart import Quart

log = logging.getLogger(__name__)

EVENT_BACKLOG = 10_000
RESTART_CODE = 1012  # "service restart": the ws extension reconnects and catches up
LOGGED_OUT_CODE = 4401
OFFLINE_GRACE_SECONDS = 4.0  # a reload reconnects well within this: no offline flicker
PRESENCE_RENEW_SECONDS = 20.0
DELIVERY_BATCH_SECONDS = 0.05
RENDER_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Push:
    """One frame for one user's tabs. Message pushes carry ids so a tab can skip repeats."""

    frame: str
    conversation: int | None = None
    message: int | None = None
    author: int | None = None


class Tab(Protocol):
    user_id: int
    session_id: int

    def offer(self, push: Push) -> None: ...

    def request_close(self, code: int) -> None: ...


Renderer = Callable[[dict[str, Any], list[int]], Awaitable[dict[int, Push]]]
PresenceStore = Callable[[str, int], Awaitable[None]]


@dataclass(frozen=True)
class Storage:
    """What the hub writes: presence claims and delivery cursors (see chatin.models)."""

    arrive: PresenceStore
    leave: PresenceStore
    renew: Callable[[str, list[int]], Awaitable[None]]
    record_deliveries: Callable[[list[tuple[int, int, int]]], Awaitable[None]]
    hold_connection: Callable[[], AbstractAsyncContextManager[None]]


class Hub:
    """Announcements in, pushes out; never awaits a socket.

    Events are rendered one after another by a single task, so each user's frames leave in
    the order PostgreSQL committed them.
    """

    def __init__(self, app: Quart, render: Renderer, storage: Storage) -> None:
        self._app = app
        self._render = render
        self._storage = storage
        self.worker = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._tabs: dict[int, set[Tab]] = defaultdict(set)
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(EVENT_BACKLOG)
        # Presence changes are written in order, one at a time, so arrive/leave can't cross.
        self._presence: asyncio.Queue[tuple[PresenceStore, int]] = asyncio.Queue()
        self._going_offline: dict[int, asyncio.TimerHandle] = {}
        self._delivered: dict[tuple[int, int], int] = {}
        self._delivered_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for name, loop in (
            ("events", self._run),
            ("presence", self._write_presence),
            ("renew", self._renew_presence),
            ("deliveries", self._write_deliveries),
        ):
            self._tasks.append(asyncio.create_task(loop(), name=f"chatin-hub-{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def attach(self, tab: Tab) -> None:
        """Count the tab in; a user's first tab here claims presence (unless just left)."""
        tabs = self._tabs[tab.user_id]
        first = not tabs
        tabs.add(tab)
        pending = self._going_offline.pop(tab.user_id, None)
        if pending is not None:
            pending.cancel()
        elif first:
            self._presence.put_nowait((self._storage.arrive, tab.user_id))

    def detach(self, tab: Tab) -> None:
        tabs = self._tabs.get(tab.user_id)
        if tabs is None:
            return
        tabs.discard(tab)
        if not tabs:
            del self._tabs[tab.user_id]
            self._going_offline[tab.user_id] = asyncio.get_running_loop().call_later(
                OFFLINE_GRACE_SECONDS, self._went_offline, tab.user_id
            )

    def _went_offline(self, user_id: int) -> None:
        self._going_offline.pop(user_id, None)
        if user_id not in self._tabs:
            self._presence.put_nowait((self._storage.leave, user_id))

    def record_delivery(self, conversation: int, user_id: int, message: int) -> None:
        """A message reached one of user's tabs; written in small batches, not per message."""
        key = (conversation, user_id)
        if message > self._delivered.get(key, 0):
            self._delivered[key] = message
            self._delivered_ready.set()

    def tab_count(self) -> int:
        return sum(len(tabs) for tabs in self._tabs.values())

    def deliver(self, event: dict[str, Any]) -> None:
        """Take an announcement from the listener; only events for local users are kept."""
        if not any(user_id in self._tabs for user_id in event.get("to", ())):
            return
        if event.get("kind") == "logout":
            self._close_session(event)
            return
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("event backlog full: asking every tab to reconnect and catch up")
            self.close_all(RESTART_CODE)

    def close_all(self, code: int) -> None:
        for tabs in list(self._tabs.values()):
            for tab in list(tabs):
                tab.request_close(code)

    def _close_session(self, event: dict[str, Any]) -> None:
        for user_id in event["to"]:
            for tab in list(self._tabs.get(user_id, ())):
                if tab.session_id == event.get("session"):
                    tab.request_close(LOGGED_OUT_CODE)

    async def _run(self) -> None:
        """Render events on one held database connection (no pool round trip per event);
        after a failure, on a fresh one."""
        async with self._app.app_context():
            while True:
                try:
                    async with self._storage.hold_connection():
                        await self._render_until_failure()
                except Exception:
                    log.exception("no database connection for rendering; retrying")
                    await asyncio.sleep(RENDER_RETRY_SECONDS)

    async def _render_until_failure(self) -> None:
        while True:
            event = await self._events.get()
            local = [uid for uid in event.get("to", ()) if uid in self._tabs]
            if not local:
                continue
            try:
                pushes = await self._render(event, local)
            except Exception:
                log.exception("could not render %s; its tabs will catch up", event)
                self._close_users(local)
                return
            for user_id, push in pushes.items():
                for tab in list(self._tabs.get(user_id, ())):
                    tab.offer(push)

    def _close_users(self, user_ids: list[int]) -> None:
        for user_id in user_ids:
            for tab in list(self._tabs.get(user_id, ())):
                tab.request_close(RESTART_CODE)

    async def _write_presence(self) -> None:
        while True:
            store, user_id = await self._presence.get()
            try:
                await store(self.worker, user_id)
            except Exception:
                log.exception("could not record presence of user %s", user_id)

    async def _renew_presence(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_RENEW_SECONDS)
            if self._tabs:
                try:
                    await self._storage.renew(self.worker, list(self._tabs))
                except Exception:
                    log.exception("could not renew presence")

    async def _write_deliveries(self) -> None:
        while True:
            await self._delivered_ready.wait()
            await asyncio.sleep(DELIVERY_BATCH_SECONDS)
            batch, self._delivered = self._delivered, {}
            self._delivered_ready.clear()
            try:
                await self._storage.record_deliveries(
                    [(conversation, user, upto) for (conversation, user), upto in batch.items()]
                )
            except Exception:
                log.exception("could not record %d deliveries", len(batch))
