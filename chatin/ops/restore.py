"""`python -m chatin restore PATH [--force]`: put a backup back, into an empty data folder or
an empty database, or in place of existing data with --force.

Nothing is touched until the file has passed every check (archive.read, then `pg_restore
--list` on its dump). The existing schema is then renamed aside and the dump restored in one
transaction into a fresh one; only when the restored rows match the backup's counts is the
old schema dropped, and on any failure (Ctrl-C included) it is put back as it was. Migrations
then bring an older backup up to date, and the cookie key goes into the data folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from chatin import db
from chatin.config import SECRET_KEY_FILE, Settings
from chatin.ops import archive
from chatin.ops.postgres import (
    OpsError,
    Progress,
    Tool,
    applied_migrations,
    client_env,
    collect_log,
    counted,
    counts,
    database,
    failure,
    server_major,
    tool,
    where,
)

ASIDE_PREFIX = "chatin_before_restore_"
RESTORE_OPTIONS = ("--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error")


@dataclass(frozen=True)
class Summary:
    backup: archive.Backup
    target: str
    migrated: list[str]
    replaced: dict[str, int] | None
    key_note: str
    seconds: float

    def report(self) -> str:
        manifest = self.backup.manifest
        migrations = f"migrated: {', '.join(self.migrated)}" if self.migrated else "schema current"
        replaced = (
            f"replaced {counted(self.replaced)}; the old schema was kept aside until now"
            if self.replaced
            else "none"
        )
        return "\n".join(
            [
                f"Restored {self.backup.path} (made {manifest['created_at']} by ChatIn "
                f"{manifest['app_version']}) into {self.target} in {self.seconds:.1f} s:",
                f"  database: {counted(self.backup.counts)}; {migrations}",
                f"  secret key: {self.key_note}",
                f"  previous data: {replaced}",
            ]
        )


def run(settings: Settings, path: Path, force: bool, progress: Progress) -> Summary:
    started = time.monotonic()
    backup = archive.read(path)
    pg_restore = _pg_restore_for(backup)
    try:
        return asyncio.run(_restore(settings, backup, pg_restore, force, progress, started))
    finally:
        progress.clear()


def _pg_restore_for(backup: archive.Backup) -> Tool:
    """A pg_restore that reads what the backup's pg_dump wrote."""
    return tool("pg_restore", int(str(backup.manifest.get("pg_dump", "0")).split(".")[0]))


async def _restore(
    settings: Settings,
    backup: archive.Backup,
    pg_restore: Tool,
    force: bool,
    progress: Progress,
    started: float,
) -> Summary:
    contents = await _run_pg_restore(pg_restore, backup, ["--list"], dict(os.environ), progress)
    progress.total = sum(" TABLE DATA " in line for line in contents.splitlines())
    async with database(settings, share=False) as url:
        external = settings.database_url is not None
        target = f"the database {where(url)}" if external else f"the folder {settings.data_dir}"
        conn = await db.connect(url)
        try:
            replaced = await _check_target(conn, backup, target, force)
            migrated = await _replace_schema(conn, url, backup, pg_restore, progress)
        finally:
            await conn.close()
        key_note = _write_key(settings, backup)
    return Summary(backup, target, migrated, replaced, key_note, time.monotonic() - started)


async def _check_target(
    conn: asyncpg.Connection, backup: archive.Backup, target: str, force: bool
) -> dict[str, int] | None:
    """Refuse a server too old for the dump, a database in use, or one holding data
    (unless forced); what a forced restore replaces, for the report."""
    major, version = await server_major(conn)
    source = str(backup.manifest.get("postgresql", "0"))
    if major < int(source.split(".")[0]):
        raise OpsError(
            f"the backup comes from PostgreSQL {source} and {target} runs {version}: "
            f"restore into PostgreSQL {source.split('.')[0]} or newer"
        )
    others = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    if others:
        raise OpsError(
            f"{others} other connection(s) use {target}: stop every ChatIn node (and any "
            "other client) before restoring"
        )
    if not await _holds_rows(conn):
        return None
    held = await counts(conn)
    if not force:
        raise OpsError(
            f"{target} already holds data ({counted(held)}): pass --force to replace it "
            "(the current data is kept aside until the restore has succeeded)"
        )
    return held


async def _holds_rows(conn: asyncpg.Connection) -> bool:
    """Whether any table of the schema, but the migration record, has a row."""
    tables = await conn.fetch(
        "SELECT quote_ident(tablename) AS name FROM pg_tables "
        "WHERE schemaname = 'public' AND tablename <> $1",
        db.MIGRATIONS_TABLE,
    )
    for table in tables:
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table['name']})"):
            return True
    return False


async def _replace_schema(
    conn: asyncpg.Connection,
    url: str,
    backup: archive.Backup,
    pg_restore: Tool,
    progress: Progress,
) -> list[str]:
    """Restore into a fresh `public`, the old one renamed aside until every check passed;
    the migrations it took to bring the backup up to date."""
    aside = ASIDE_PREFIX + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    await conn.execute(f"ALTER SCHEMA public RENAME TO {aside}; CREATE SCHEMA public")
    try:
        env = client_env(url)
        options = [*RESTORE_OPTIONS, f"--dbname={env['PGDATABASE']}"]
        await _run_pg_restore(pg_restore, backup, options, env, progress)
        restored = await counts(conn)
        if restored != backup.counts:
            raise OpsError(
                f"the restored database holds {counted(restored)}, but the backup "
                f"{counted(backup.counts)}: nothing was changed"
            )
        before = await applied_migrations(conn)
        await db.migrate(url)
        migrated = [name for name in await applied_migrations(conn) if name not in before]
    except BaseException:
        await asyncio.shield(_put_back(conn, aside))
        raise
    await conn.execute(f"DROP SCHEMA {aside} CASCADE")
    return migrated


async def _put_back(conn: asyncpg.Connection, aside: str) -> None:
    async with conn.transaction():
        await conn.execute("DROP SCHEMA public CASCADE")
        await conn.execute(f"ALTER SCHEMA {aside} RENAME TO public")


async def _run_pg_restore(
    pg_restore: Tool,
    backup: archive.Backup,
    options: Sequence[str],
    env: dict[str, str],
    progress: Progress,
) -> str:
    """Run pg_restore on the backup's dump, fed through its stdin (the dump is never copied
    out of the file); its stdout. Like pg_dump it runs in its own session, so only this
    command hears a Ctrl-C, and stops it."""
    verbose = progress.on and "--list" not in options
    process = await asyncio.create_subprocess_exec(
        pg_restore.path,
        *options,
        *(["--verbose"] if verbose else []),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    log = asyncio.create_task(
        collect_log(process.stderr, progress, {"processing data for table": "restoring"})
    )
    output = asyncio.create_task(process.stdout.read())
    try:
        await _feed(process.stdin, backup, progress)
        code = await process.wait()
        said = await log
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.cancel()
    if code != 0:
        raise OpsError(f"{backup.path} cannot be restored: {failure('pg_restore', said)}")
    return (await output).decode(errors="replace")


async def _feed(stdin: asyncio.StreamWriter, backup: archive.Backup, progress: Progress) -> None:
    """Write the dump into pg_restore; `--list` stops reading after the table of contents."""
    done = 0
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for chunk in backup.dump_chunks():
            stdin.write(chunk)
            await stdin.drain()
            done += len(chunk)
            progress.advance(done)
        stdin.close()
        await stdin.wait_closed()


def _write_key(settings: Settings, backup: archive.Backup) -> str:
    """Put the backup's cookie key into the data folder (private, replaced in one rename),
    while the restore still holds the folder, so no starting app makes a new one meanwhile."""
    key = backup.secret_key
    if key is None and backup.manifest.get("secret_key") == "environment":
        return (
            "not in the backup (CHATIN_SECRET_KEY supplied it): start the app with the same "
            "CHATIN_SECRET_KEY, or everyone logs in again"
        )
    if key is None:
        return "not in the backup (the app had not made one yet)"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / SECRET_KEY_FILE
    temporary = settings.data_dir / f".{SECRET_KEY_FILE}.{os.getpid()}.restoring"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    note = f"written to {path} (mode 0600)"
    if settings.secret_key is not None:
        note += "; CHATIN_SECRET_KEY is set and wins: unset it, or everyone logs in again"
    return note
