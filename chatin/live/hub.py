"""This worker's sockets by user, and the one task that turns announcements into frames."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from quart import Quart

log = logging.getLogger(__name__)

EVENT_BACKLOG = 10_000
RESTART_CODE = 1012  # "service restart": the ws extension reconnects and catches up


@dataclass(frozen=True)
class Push:
    """One frame for one user's tabs. Message pushes carry ids so a tab can skip repeats."""

    frame: str
    conversation: int | None = None
    message: int | None = None


class Tab(Protocol):
    user_id: int
    session_id: int

    def offer(self, push: Push) -> None: ...

    def request_close(self, code: int) -> None: ...


Renderer = Callable[[dict[str, Any], list[int]], Awaitable[dict[int, Push]]]


class Hub:
    """Announcements in, pushes out; never awaits a socket.

    Events are rendered one after another by a single task, so each user's frames leave in
    the order PostgreSQL committed them.
    """

    def __init__(self, app: Quart, render: Renderer) -> None:
        self._app = app
        self._render = render
        self._tabs: dict[int, set[Tab]] = defaultdict(set)
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(EVENT_BACKLOG)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chatin-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def attach(self, tab: Tab) -> None:
        self._tabs[tab.user_id].add(tab)

    def detach(self, tab: Tab) -> None:
        tabs = self._tabs.get(tab.user_id)
        if tabs is not None:
            tabs.discard(tab)
            if not tabs:
                del self._tabs[tab.user_id]

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
        async with self._app.app_context():
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
                    continue
                for user_id, push in pushes.items():
                    for tab in list(self._tabs.get(user_id, ())):
                        tab.offer(push)

    def _close_users(self, user_ids: list[int]) -> None:
        for user_id in user_ids:
            for tab in list(self._tabs.get(user_id, ())):
                tab.request_close(RESTART_CODE)


LOGGED_OUT_CODE = 4401
