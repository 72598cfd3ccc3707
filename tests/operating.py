"""An operator's view for the backup, restore and doctor tests: the real `python -m chatin`
server and commands as subprocesses, people chatting over real HTTP, and the database read
directly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from chatin import db, postgres
from chatin.ops.postgres import running_url
from tests.server import ROOT, Server, running_server
from tests.ws.test_workers import Browser

WAIT = 10  # seconds: bound on each wait in these tests
COMMAND_TIMEOUT = 120
POLL_SECONDS = 0.02
FAST = {"CHATIN_RATE_LIMITS": "off"}  # people here send faster than the send limit allows
WAITING_PG_DUMP = (
    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
    "WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock')"
)


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: str
    stderr: str


def command_env(data_dir: Path) -> dict[str, str]:
    env = os.environ | {"CHATIN_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("CHATIN_SECRET_KEY", None)
    return env


async def start_command(data_dir: Path, *args: str) -> asyncio.subprocess.Process:
    """`python -m chatin ARGS` for this data folder, its output piped (not a terminal)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatin",
        *args,
        cwd=ROOT,
        env=command_env(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process) -> Finished:
    async with asyncio.timeout(COMMAND_TIMEOUT):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


async def command(data_dir: Path, *args: str) -> Finished:
    return await finish(await start_command(data_dir, *args))


@contextlib.asynccontextmanager
async def serving(data_dir: Path, workers: int = 1) -> AsyncIterator[Server]:
    """`python -m chatin`, started and stopped off the event loop."""
    running = running_server(data_dir, workers=workers, env=FAST)
    server = await asyncio.to_thread(running.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(running.__exit__, None, None, None)


@contextlib.asynccontextmanager
async def connected(data_dir: Path) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the PostgreSQL serving this data folder now."""
    url = running_url(data_dir)
    assert url is not None, f"no PostgreSQL runs for {data_dir}"
    conn = await db.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def table(conn: asyncpg.Connection, name: str) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(f"SELECT * FROM {name} ORDER BY id")]


async def stored(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every account, session, conversation and message of a stopped data folder."""
    async with postgres.embedded_async(data_dir), connected(data_dir) as conn:
        return {
            name: await table(conn, name)
            for name in ("users", "auth_sessions", "conversations", "messages")
        }


async def chat(server: Server) -> tuple[Browser, Browser, int]:
    """Alice and Bob, signed up, in an accepted conversation; its id."""
    alice, bob = Browser(server), Browser(server)
    await alice.sign_up("Alice")
    email = await bob.sign_up("Bob")
    added = await alice.post("/contacts", contact_email=email)
    conversation = int(added.headers["HX-Redirect"].removeprefix("/c/"))
    assert (await bob.post(f"/c/{conversation}/accept")).status_code in (200, 204)
    return alice, bob, conversation


async def seed(conn: asyncpg.Connection, conversation: int, author: int, count: int) -> None:
    """A long history in one statement, as tests/chatting.py seeds one."""
    await conn.execute(
        "INSERT INTO messages (conversation_id, author_id, body, client_id, created_at) "
        "SELECT $1, $2, 'message ' || n || ': ' || repeat('words ', 20), gen_random_uuid(), "
        "now() - interval '1 hour' FROM generate_series(1, $3) AS n",
        conversation,
        author,
        count,
    )


@contextlib.asynccontextmanager
async def pg_dump_held(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Hold pg_dump in the middle of a backup (it has its snapshot and waits for a lock on
    a table nobody else uses here) until the block ends; the block starts once it waits."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE throttle_hits IN ACCESS EXCLUSIVE MODE")
        async with asyncio.timeout(WAIT):
            while not await _pg_dump_waits(conn):  # noqa: ASYNC110 (no event to await)
                await asyncio.sleep(POLL_SECONDS)
        yield


async def _pg_dump_waits(conn: asyncpg.Connection) -> bool:
    """PostgreSQL announces no lock wait, so its activity view is polled; a transaction
    sees that view as it was at its first look unless the look is cleared."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return bool(await conn.fetchval(WAITING_PG_DUMP))
