"""One LISTEN connection per worker: PostgreSQL tells every worker what was committed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

import asyncpg

from chatin import db
from chatin.auth import SessionCache
from chatin.events import CHANNEL, Event, Kind, notify_sql
from chatin.live.hub import RESTART_CODE, Hub

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 10.0
# The application_name of every worker's LISTEN connection: `doctor` counts the workers by it.
LISTENER_NAME = "chatin listener"
_ANSWER_FIELDS = "'to', json_build_array(), 'check', $1::bigint, 'worker', $2::int"
_ANSWER_SQL = f"SELECT {notify_sql(Kind.ANSWER, _ANSWER_FIELDS)}"


class Listener:
    """Feeds the hub and the session cache; if the connection drops it reconnects with
    backoff, then asks every local tab to reconnect so it catches up on what was announced
    meanwhile. While it is down, the session cache is bypassed: a log-out it misses must
    not be served from the cache."""

    def __init__(self, database_url: str, hub: Hub, sessions: SessionCache) -> None:
        self._database_url = database_url
        self._hub = hub
        self._sessions = sessions
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._answers: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, database_url: str, hub: Hub, sessions: SessionCache) -> Listener:
        listener = cls(database_url, hub, sessions)
        await listener._connect()
        listener._task = asyncio.create_task(listener._keep_alive(), name="chatin-listener")
        return listener

    async def stop(self) -> None:
        for task in [self._task, *self._answers]:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    async def _connect(self) -> None:
        conn = await db.connect(self._database_url)
        name = f"{LISTENER_NAME} {socket.gethostname()}:{os.getpid()}"
        await conn.execute("SELECT set_config('application_name', $1, false)", name[:63])
        conn.add_termination_listener(self._on_lost)
        await conn.add_listener(CHANNEL, self._on_notify)
        self._conn = conn
        self._lost.clear()

    def _on_lost(self, _conn: Any) -> None:
        self._sessions.bypass()
        self._lost.set()

    def _on_notify(self, conn: Any, _pid: int, _channel: str, payload: str) -> None:
        event = Event.parse(payload)
        if event is None:
            return
        if event.kind is Kind.CHECK:
            self._answer(event.check, conn.get_server_pid())
            return
        self._sessions.forget(event)
        self._hub.deliver(event)

    def _answer(self, check: int | None, worker: int) -> None:
        task = asyncio.get_running_loop().create_task(self._reply(check, worker))
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    async def _reply(self, check: int | None, worker: int) -> None:
        """Answer a doctor's check through the pool, as a message goes out: a worker whose
        loop or pool is stuck stays silent, which is what the check is for."""
        try:
            await db.execute(_ANSWER_SQL, check, worker)
        except Exception:
            log.warning("could not answer a doctor's check", exc_info=True)

    async def _keep_alive(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("lost the LISTEN connection; reconnecting")
            await self._reconnect()
            self._sessions.resume()
            self._hub.close_all(RESTART_CODE)

    async def _reconnect(self) -> None:
        delay = 0.2
        while True:
            with contextlib.suppress(db.DatabaseUnavailable, OSError):
                await self._connect()
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
