"""`python -m chatin doctor`: one line per check, OK or what is wrong and how to fix it, and
exit code 1 when any check fails, so that it can serve as a health probe.

It starts nothing and changes nothing: it looks at the configured database as it is, with or
without the app running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from chatin import ROOT, db
from chatin.config import SECRET_KEY_FILE, Settings
from chatin.events import CHANNEL, Event, Kind, notify_sql
from chatin.live.listener import LISTENER_NAME
from chatin.ops.postgres import (
    PGDATA_DIR,
    app_is_running,
    applied_migrations,
    holds_database,
    postmaster_pid,
    running_url,
    size,
    where,
)

MIN_FREE_BYTES = 1024**3  # below this PostgreSQL may soon stop writing
MIN_KEY_CHARS = 32  # as chatin.config.load_or_create_secret_key requires
ANSWER_TIMEOUT_SECONDS = 3
_CHECK_FIELDS = "'to', json_build_array(), 'check', $1::bigint"
_CHECK_SQL = f"SELECT {notify_sql(Kind.CHECK, _CHECK_FIELDS)}"


@dataclass(frozen=True)
class Check:
    """One line of the report: `ok` is None for a check that could not run."""

    name: str
    ok: bool | None
    detail: str

    def line(self) -> str:
        mark = {True: "OK  ", False: "FAIL", None: "--  "}[self.ok]
        return f"{mark} {self.name}: {self.detail}"


def run(settings: Settings, say: Callable[[str], None]) -> bool:
    """Print each check as it completes; whether all passed."""
    checks = asyncio.run(_database_checks(settings, say))
    for check in (_secret_key(settings), _free_space(settings), _leftover(settings)):
        say(check.line())
        checks.append(check)
    return all(check.ok is not False for check in checks)


async def _database_checks(settings: Settings, say: Callable[[str], None]) -> list[Check]:
    url = settings.database_url or running_url(settings.data_dir)
    conn: asyncpg.Connection | None = None
    if url is None:
        checks = [_not_running(settings.data_dir)]
    else:
        checks, conn = await _reach(url)
    say(checks[0].line())
    try:
        for name, looking in DATABASE_CHECKS:
            if conn is None:
                check = Check(name, None, "not checked: no database")
            else:
                check = await looking(conn)
            say(check.line())
            checks.append(check)
    finally:
        if conn is not None:
            await conn.close()
    return checks


def _not_running(data_dir: Path) -> Check:
    if not holds_database(data_dir):
        detail = (
            f"{data_dir} holds no database: set CHATIN_DATA_DIR to the folder the app uses, "
            "or start ChatIn to make one"
        )
        return Check("database", False, detail)
    if app_is_running(data_dir):
        return Check("database", False, f"ChatIn holds {data_dir} but its PostgreSQL is not up")
    return Check(
        "database",
        False,
        f"the embedded PostgreSQL of {data_dir} is not running: start ChatIn "
        "(python -m chatin), or set CHATIN_DATA_DIR to the folder the app uses",
    )


async def _reach(url: str) -> tuple[list[Check], asyncpg.Connection | None]:
    started = time.monotonic()
    try:
        conn = await db.connect(url)
        version = await conn.fetchval("SHOW server_version")
    except db.DatabaseUnavailable as error:
        return [Check("database", False, f"{error}: start PostgreSQL or fix DATABASE_URL")], None
    took = (time.monotonic() - started) * 1000
    detail = f"PostgreSQL {version} at {where(url)} answered in {took:.0f} ms"
    return [Check("database", True, detail)], conn


async def _migrations(conn: asyncpg.Connection) -> Check:
    """The database's applied migrations against the files in migrations/."""
    applied = await applied_migrations(conn)
    shipped = sorted(path.stem for path in (ROOT / db.MIGRATIONS_MODULE).glob("[0-9]*.py"))
    missing = [name for name in shipped if name not in applied]
    unknown = [name for name in applied if name not in shipped]
    if missing:
        detail = f"not applied: {', '.join(missing)}: start ChatIn, which migrates on start"
        return Check("migrations", False, detail)
    if unknown:
        detail = (
            f"the database has migrations this ChatIn lacks ({', '.join(unknown)}): "
            "run the ChatIn version that made them"
        )
        return Check("migrations", False, detail)
    return Check("migrations", True, f"all {len(shipped)} applied, the last {shipped[-1]}")


async def _workers(conn: asyncpg.Connection) -> Check:
    """Every worker of every node answers a NOTIFY through its listener and its pool, the
    path each live message takes; the workers are known by their LISTEN connections."""
    listening = {
        row["pid"]: row["application_name"].removeprefix(LISTENER_NAME).strip()
        for row in await conn.fetch(
            "SELECT pid, application_name FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE $1",
            LISTENER_NAME + " %",
        )
    }
    if not listening:
        return Check("workers", False, "no worker listens: ChatIn is not serving; start it")
    answered = await _round_trip(conn, set(listening))
    count = len(listening)
    silent = sorted(name for pid, name in listening.items() if pid not in answered)
    if silent:
        detail = (
            f"{count - len(silent)} of {count} answered a NOTIFY round trip; silent for "
            f"{ANSWER_TIMEOUT_SECONDS} s: {', '.join(silent)} (live messages stop there): "
            "restart ChatIn on that node"
        )
        return Check("workers", False, detail)
    slowest = max(answered.values()) * 1000
    return Check(
        "workers", True, f"{count} of {count} answered a NOTIFY round trip in {slowest:.0f} ms"
    )


async def _round_trip(conn: asyncpg.Connection, workers: set[int]) -> dict[int, float]:
    """Announce a check; the seconds each worker took to answer, within the timeout."""
    check = secrets.randbits(52)
    answered: dict[int, float] = {}
    everyone = asyncio.Event()
    started = time.monotonic()

    def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        event = Event.parse(payload)
        if event is None or event.kind is not Kind.ANSWER or event.check != check:
            return
        if event.worker in workers:
            answered.setdefault(event.worker, time.monotonic() - started)
        if len(answered) == len(workers):
            everyone.set()

    await conn.add_listener(CHANNEL, heard)
    try:
        await conn.execute(_CHECK_SQL, check)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ANSWER_TIMEOUT_SECONDS):
                await everyone.wait()
    finally:
        await conn.remove_listener(CHANNEL, heard)
    return answered


DATABASE_CHECKS: tuple[tuple[str, Callable[[asyncpg.Connection], Awaitable[Check]]], ...] = (
    ("migrations", _migrations),
    ("workers", _workers),
)


def _secret_key(settings: Settings) -> Check:
    if settings.secret_key is not None:
        return Check("secret key", True, "from CHATIN_SECRET_KEY")
    path = settings.data_dir / SECRET_KEY_FILE
    if not path.exists():
        detail = f"{path} is missing: start ChatIn once to make it, or restore a backup"
        return Check("secret key", False, detail)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        detail = f"{path} can be read by others (mode {mode:04o}): chmod 600 {path}"
        return Check("secret key", False, detail)
    if len(path.read_text().strip()) < MIN_KEY_CHARS:
        detail = f"{path} is too short: delete it (everyone logs in again) and restart ChatIn"
        return Check("secret key", False, detail)
    return Check("secret key", True, f"{path}, mode {mode:04o}")


def _free_space(settings: Settings) -> Check:
    folder = settings.data_dir
    while not folder.exists():
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    detail = f"{size(usage.free)} free of {size(usage.total)} on the disk of {folder}"
    if usage.free < MIN_FREE_BYTES:
        return Check("free space", False, f"only {detail}: PostgreSQL stops when it runs out")
    return Check("free space", True, detail)


def _leftover(settings: Settings) -> Check:
    """A PostgreSQL of this data folder whose app has gone (it was killed): the app's next
    start stops it, but until then nobody serves and it holds the folder's memory."""
    if settings.database_url is not None:
        return Check("leftover postgres", None, "not checked: DATABASE_URL is set")
    data_dir = settings.data_dir
    pid = postmaster_pid(data_dir)
    if pid is None:
        return Check("leftover postgres", True, "none")
    if app_is_running(data_dir):
        return Check("leftover postgres", True, f"none: ChatIn runs PostgreSQL {pid}")
    pgdata = data_dir / PGDATA_DIR
    detail = (
        f"PostgreSQL {pid} runs for {data_dir} without ChatIn: start ChatIn (it stops the "
        f"leftover first), or stop it with pg_ctl -D {pgdata} stop"
    )
    if os.geteuid() == 0:
        detail += " as the user embedded_postgres"
    return Check("leftover postgres", False, detail)
