"""The database: connections, Tortoise setup, migrations and raw-asyncpg helpers (the
embedded PostgreSQL's lifecycle is in `chatin.postgres`)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import weakref
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.migrations.api import migrate as tortoise_migrate

from chatin.config import ConfigError

log = logging.getLogger(__name__)

APP_LABEL = "chatin"
MIGRATIONS_MODULE = "migrations"
MIGRATIONS_TABLE = "tortoise_migrations"
# Any fixed number: every process migrating this database takes the same lock.
MIGRATION_LOCK_KEY = 7_236_930_112
CONNECT_TIMEOUT_SECONDS = 10
PING_TIMEOUT_SECONDS = 3
# The largest values of PostgreSQL's `int` and `bigint`: a larger id can't be in the table.
INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1


class DatabaseUnavailable(Exception):
    """The database could not be reached; the message says where we tried."""


def connect_args(database_url: str) -> dict[str, Any]:
    """asyncpg keyword arguments for a postgres:// URL, unix-socket URLs included."""
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    return {
        "host": host,
        "port": parts.port or int(query.get("port", ["5432"])[0]),
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.lstrip("/")) or "postgres",
    }


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Pool connections carry no session state (LISTEN and advisory locks use their own
    connections), so skip asyncpg's RESET ALL round trip after every query; an open
    transaction is still rolled back by asyncpg itself."""


def tortoise_config(database_url: str, pool_size: int = 10) -> dict[str, Any]:
    credentials = connect_args(database_url) | {
        "minsize": 1,
        "maxsize": pool_size,
        "reset": _keep_session,
    }
    return {
        "connections": {
            "default": {"engine": "tortoise.backends.asyncpg", "credentials": credentials}
        },
        "apps": {
            APP_LABEL: {
                "models": ["chatin.models"],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def connect(database_url: str) -> asyncpg.Connection:
    """One plain asyncpg connection, with an error that says where it tried."""
    args = connect_args(database_url)
    try:
        return await asyncpg.connect(**args, timeout=CONNECT_TIMEOUT_SECONDS)
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        where = f"{args['host']}:{args['port']}/{args['database']}"
        raise DatabaseUnavailable(f"cannot reach PostgreSQL at {where}: {error}") from error


async def migrate(database_url: str) -> None:
    """Bring the schema to the latest migration; concurrent starters wait on one lock."""
    lock = await connect(database_url)
    try:
        await lock.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            await tortoise_migrate(config=tortoise_config(database_url, pool_size=1))
        finally:
            await Tortoise.close_connections()
            await lock.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await lock.close()


async def open(database_url: str, pool_size: int = 10) -> None:  # noqa: A001
    """Migrate, then start the ORM for this process."""
    global _permits
    _permits = max(1, pool_size - RESERVED_CONNECTIONS)
    await migrate(database_url)
    await Tortoise.init(
        config=tortoise_config(database_url, pool_size), _enable_global_fallback=True
    )


async def close() -> None:
    await Tortoise.close_connections()


_held: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar(
    "chatin_held_connection", default=None
)

# `fetch` and `execute` wait for a connection in arrival order (issue 19). asyncpg's pool
# hands connections out through an asyncio.Queue, where a woken waiter that finds its
# connection taken by a newcomer goes to the back of the line: under load some requests
# waited seconds while most waited little (bench/RESULTS.md). A semaphore hands its permit
# to the first waiter; with fewer permits than connections, a permit finds one free. The
# rest of the pool serves what bypasses this gate: the hub's held connection, transactions
# and ORM queries (none of which waits for a permit, so none can deadlock).
RESERVED_CONNECTIONS = 2
_permits = 8
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def _pooled() -> AsyncIterator[asyncpg.Connection]:
    """A pool connection for one statement, in turn; inside a Tortoise transaction, its own."""
    client = connections.get("default")
    if isinstance(client, TransactionalDBClient):
        async with client.acquire_connection() as conn:
            yield conn
        return
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(_permits)
    async with gate, client.acquire_connection() as conn:
        yield conn


async def fetch(sql: str, *args: Any) -> list[asyncpg.Record]:
    """A hot-path query in raw asyncpg, on this task's held connection if it holds one.

    Tortoise's `execute_query_dict` costs more than the query itself here (exception
    translation, dict rows: +0.12 ms), and a pool acquire and release another 0.08 ms.
    """
    held = _held.get()
    if held is not None:
        return await held.fetch(sql, *args)
    async with _pooled() as conn:
        return await conn.fetch(sql, *args)


async def execute(sql: str, *args: Any) -> None:
    """A statement whose rows nobody reads (a receipt, a presence claim), like `fetch`."""
    held = _held.get()
    if held is not None:
        await held.execute(sql, *args)
        return
    async with _pooled() as conn:
        await conn.execute(sql, *args)


@contextlib.asynccontextmanager
async def holding_connection() -> AsyncIterator[None]:
    """Run this task's `fetch`es on one pooled connection, kept until the block ends: for
    a task that queries one statement at a time, many times a second (the hub)."""
    async with connections.get("default").acquire_connection() as conn:
        token = _held.set(conn)
        try:
            yield
        finally:
            _held.reset(token)


@contextlib.asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """Run this task's `fetch`es and `execute`s in one transaction on one connection: for a
    statement that must see what committed while an earlier one waited for a lock (a
    statement's snapshot is taken before it runs, so a lock taken inside it comes too late)."""
    async with connections.get("default").acquire_connection() as conn, conn.transaction():
        token = _held.set(conn)
        try:
            yield
        finally:
            _held.reset(token)


async def copy_rows(table: str, columns: list[str], rows: AsyncIterable[tuple[Any, ...]]) -> None:
    """Bulk-insert rows with binary COPY inside this task's `transaction()` (file chunks:
    a fraction of the cost of one INSERT per chunk, and rows are pulled as they are made)."""
    held = _held.get()
    if held is None:
        raise RuntimeError("copy_rows runs inside db.transaction()")
    await held.copy_records_to_table(table, records=rows, columns=columns)


async def ping() -> bool:
    try:
        async with asyncio.timeout(PING_TIMEOUT_SECONDS):
            await fetch("SELECT 1")
    except Exception:
        log.warning("database ping failed", exc_info=True)
        return False
    return True


async def truncate_all(database_url: str) -> None:
    """Empty every table but the migration record: each test starts from a clean schema."""
    conn = await connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) AS name FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> $1",
            MIGRATIONS_TABLE,
        )
        if tables:
            names = ", ".join(row["name"] for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def require_url(database_url: str | None) -> str:
    if database_url is None:
        raise ConfigError(
            "DATABASE_URL is not set: start with `python -m chatin` for the embedded database"
        )
    return database_url


# For the `tortoise` command line (makemigrations, migrate, history): pyproject.toml names it.
CLI_CONFIG = tortoise_config(
    os.environ.get("DATABASE_URL") or "postgres://postgres@localhost/chatin"
)
