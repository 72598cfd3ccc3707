"""This worker's sockets by user, and the one task that turns announcements into frames."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections import defaultdict
from collections.abc import Iterator
from typing import Protocol

from quart import Quart

from chatin import db
from chatin.events import Event, Kind
from chatin.live.frames import BATCHED_KINDS, Push, render_batch, render_event
from chatin.live.presence import DeliveryBatches, PresenceClaims
from chatin.live.stats import HubStats

log = logging.getLogger(__name__)

EVENT_BACKLOG = 10_000
RESTART_CODE = 1012  # "service restart": the ws extension reconnects and catches up
LOGGED_OUT_CODE = 4401
TOO_MANY_TABS_CODE = 4429  # this tab was the oldest of too many; not reconnected
MAX_TABS_PER_USER = 20  # per worker: each tab costs a socket, an outbox and its pushes
RENDER_RETRY_SECONDS = 1.0
MAX_BATCH = 64  # events taken off the backlog at once; one query renders their messages


class Tab(Protocol):
    user_id: int
    session_id: int
    tab_token: int

    def offer(self, push: Push) -> None: ...

    def request_close(self, code: int) -> None: ...


class Hub:
    """Announcements in, pushes out; never awaits a socket.

    Events are rendered by a single task, in the order PostgreSQL committed them, so each
    user's frames leave in that order. When events queue up, the task takes them all (up to
    MAX_BATCH) and loads each run of consecutive messages, changes and ticks in a few
    queries: a round trip per event made a backlog of hundreds under load (bench/RESULTS.md).
    Presence claims and delivery cursors, which the tabs cause, are written beside it
    (`chatin.live.presence`).
    """

    def __init__(self, app: Quart) -> None:
        self._app = app
        self.worker = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._tabs: dict[int, dict[Tab, None]] = defaultdict(dict)  # oldest first
        self._events: asyncio.Queue[Event] = asyncio.Queue(EVENT_BACKLOG)
        self.presence = PresenceClaims(self.worker)
        self.deliveries = DeliveryBatches()
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = HubStats(self._events.qsize, self.tab_count)

    def start(self) -> None:
        for name, loop in (
            ("events", self._run),
            ("presence", self.presence.run),
            ("deliveries", self.deliveries.run),
            ("stats", self.stats.sample_forever),
        ):
            self._tasks.append(asyncio.create_task(loop(), name=f"chatin-hub-{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def attach(self, tab: Tab) -> None:
        """Count the tab in; a user's first tab here claims their presence. Past
        MAX_TABS_PER_USER, their oldest tab here is closed: a script opening sockets in a
        loop would otherwise multiply every push to that user."""
        tabs = self._tabs[tab.user_id]
        if len(tabs) >= MAX_TABS_PER_USER:
            oldest = next(iter(tabs))
            del tabs[oldest]
            oldest.request_close(TOO_MANY_TABS_CODE)
        tabs[tab] = None
        if len(tabs) == 1:
            self.presence.first_tab(tab.user_id)

    def detach(self, tab: Tab) -> None:
        tabs = self._tabs.get(tab.user_id)
        if tabs is None:
            return
        tabs.pop(tab, None)
        if not tabs:
            del self._tabs[tab.user_id]
            self.presence.last_tab_closed(tab.user_id)

    def tab_count(self) -> int:
        return sum(len(tabs) for tabs in self._tabs.values())

    def deliver(self, event: Event) -> None:
        """Take an announcement from the listener; only events for local users are kept."""
        if not any(user_id in self._tabs for user_id in event.to):
            return
        if event.kind is Kind.LOGOUT:
            self._close_session(event)
            return
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("event backlog full: asking every tab to reconnect and catch up")
            while not self._events.empty():  # the tabs' catch-ups replace what waited
                self._events.get_nowait()
            self.close_all(RESTART_CODE)

    def close_all(self, code: int) -> None:
        for tabs in list(self._tabs.values()):
            for tab in list(tabs):
                tab.request_close(code)

    def _close_session(self, event: Event) -> None:
        for user_id in event.to:
            for tab in list(self._tabs.get(user_id, ())):
                if tab.session_id == event.session:
                    tab.request_close(LOGGED_OUT_CODE)

    async def _run(self) -> None:
        """Render events on one held database connection (no pool round trip per event);
        after a failure, on a fresh one."""
        async with self._app.app_context():
            while True:
                try:
                    async with db.holding_connection():
                        await self._render_until_failure()
                except Exception:
                    log.exception("no database connection for rendering; retrying")
                    await asyncio.sleep(RENDER_RETRY_SECONDS)

    async def _render_until_failure(self) -> None:
        while True:
            runs = list(_runs(await self._next_batch()))
            for done, run in enumerate(runs):
                try:
                    pushes = await self._render(run)
                except Exception:
                    log.exception("could not render %s; its tabs will catch up", run[0][0])
                    for _, user_ids in (pair for later in runs[done:] for pair in later):
                        self._close_users(user_ids)
                    return
                self.stats.events += len(run)
                for (event, _), per_user in zip(run, pushes, strict=True):
                    self._offer(per_user, event)

    async def _next_batch(self) -> list[tuple[Event, list[int]]]:
        """Wait for an event, then take whatever else is queued, up to MAX_BATCH; each with
        the users who have a tab here now."""
        events = [await self._events.get()]
        while len(events) < MAX_BATCH and not self._events.empty():
            events.append(self._events.get_nowait())
        self.stats.batches += 1
        return [(event, local) for event in events if (local := self._local(event))]

    def _local(self, event: Event) -> list[int]:
        """The event's users with a tab here, but not an author whose only tab here is the
        page that sent the message: its POST's answer holds it, so nothing is rendered."""
        return [
            user_id
            for user_id in event.to
            if user_id in self._tabs and not self._only_the_sender(event, user_id)
        ]

    def _only_the_sender(self, event: Event, user_id: int) -> bool:
        tabs = self._tabs[user_id]
        return len(tabs) == 1 and _sent_by(event, next(iter(tabs)))

    async def _render(self, run: list[tuple[Event, list[int]]]) -> list[dict[int, Push]]:
        """A run of several messages, changes and delivery ticks in a few queries; anything
        else as it comes."""
        if len(run) == 1:
            return [await render_event(*run[0])]
        self.stats.batched_runs += 1
        return await render_batch(run)

    def _offer(self, pushes: dict[int, Push], event: Event) -> None:
        for user_id, push in pushes.items():
            for tab in list(self._tabs.get(user_id, ())):
                if not _sent_by(event, tab):
                    tab.offer(push)

    def _close_users(self, user_ids: list[int]) -> None:
        for user_id in user_ids:
            for tab in list(self._tabs.get(user_id, ())):
                tab.request_close(RESTART_CODE)


def _sent_by(event: Event, tab: Tab) -> bool:
    """Whether the tab is the page that sent this message (the answer to its POST holds
    the message; the author's other tabs still get it). Only the author's tabs count."""
    return (
        event.kind is Kind.MESSAGE
        and bool(event.tab)
        and tab.user_id == event.member
        and tab.tab_token == event.tab
    )


def _runs(
    events: list[tuple[Event, list[int]]],
) -> Iterator[list[tuple[Event, list[int]]]]:
    """Consecutive MESSAGE, CHANGE and DELIVERED events together (the bulk of the traffic:
    every message moves a delivered cursor, and reactions come as fast as messages); every
    other event alone, in its place."""
    run: list[tuple[Event, list[int]]] = []
    for pair in events:
        if pair[0].kind in BATCHED_KINDS:
            run.append(pair)
            continue
        if run:
            yield run
            run = []
        yield [pair]
    if run:
        yield run
