"""`python -m chatin backup PATH`: the whole database and the generated cookie key in one file
(chatin.ops.archive), made while the app serves or while it is stopped.

The dump and the manifest's counts come from one snapshot: a repeatable-read transaction
exports it and pg_dump imports it, so the manifest says exactly what the dump holds. Writers
never wait: pg_dump's share locks block only schema changes.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from chatin import ROOT, db
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
    holds_database,
    server_major,
    size,
    tool,
)


@dataclass(frozen=True)
class Summary:
    path: Path
    size: int
    manifest: dict[str, Any]
    seconds: float

    def report(self) -> str:
        manifest = self.manifest
        migrations = manifest["migrations"]
        key = {
            "included": "included (sessions survive a restore)",
            "environment": "not included: CHATIN_SECRET_KEY supplies it; keep it with the backup",
            "missing": "none yet (the app has not been started with this data folder)",
        }[manifest["secret_key"]]
        return "\n".join(
            [
                f"Wrote {self.path} ({size(self.size)}, mode 0600) in {self.seconds:.1f} s:",
                f"  database: {counted(manifest['counts'])}",
                f"  PostgreSQL {manifest['postgresql']}, schema at "
                f"{migrations[-1] if migrations else 'no migration'}",
                f"  secret key: {key}",
            ]
        )


def run(settings: Settings, target: Path, progress: Progress) -> Summary:
    """Write the backup to a private temporary file beside `target`, make it durable, then
    rename it into place: `target` is either the complete new backup or untouched."""
    target = target.absolute()
    if target.is_dir():
        raise OpsError(f"{target} is a folder: name the file, e.g. {target / 'chatin.backup'}")
    if not target.parent.is_dir():
        raise OpsError(f"the folder {target.parent} does not exist")
    if settings.database_url is None and not holds_database(settings.data_dir):
        raise OpsError(
            f"nothing to back up: {settings.data_dir} holds no database "
            "(set CHATIN_DATA_DIR to the folder the app uses)"
        )
    started = time.monotonic()
    temporary = target.parent / f".{target.name}.{os.getpid()}.partial"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            manifest = asyncio.run(_write(settings, archive.Writer(handle), progress))
        os.replace(temporary, target)
        _sync_folder(target.parent)
    finally:
        progress.clear()
        temporary.unlink(missing_ok=True)
    return Summary(target, target.stat().st_size, manifest, time.monotonic() - started)


async def _write(settings: Settings, writer: archive.Writer, progress: Progress) -> dict[str, Any]:
    async with database(settings, share=True) as url:
        conn = await db.connect(url)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                major, version = await server_major(conn)
                pg_dump = tool("pg_dump", major)
                snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
                manifest = {
                    "postgresql": version,
                    "pg_dump": pg_dump.version,
                    "counts": await counts(conn),
                    "migrations": await applied_migrations(conn),
                }
                progress.total = await _table_count(conn)
                dump = await _dump(pg_dump, url, snapshot, writer, progress)
        finally:
            await conn.close()
    key, key_state = _secret_key(settings)
    if key is not None:
        writer.add(archive.SECRET_KEY, key.encode())
    manifest = {
        "format": archive.FORMAT,
        "version": archive.FORMAT_VERSION,
        "app_version": _app_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **manifest,
        "secret_key": key_state,
        "dump": {"bytes": dump.size, "sha256": dump.sha256},
    }
    writer.add(archive.MANIFEST, json.dumps(manifest, indent=2).encode())
    writer.finish()
    return manifest


async def _table_count(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
    )


async def _dump(
    pg_dump: Tool, url: str, snapshot: str, writer: archive.Writer, progress: Progress
) -> archive.DumpInfo:
    """Stream pg_dump's archive into the backup. pg_dump runs in its own session, so a
    Ctrl-C reaches only this command, which stops it and removes the partial file."""
    process = await asyncio.create_subprocess_exec(
        pg_dump.path,
        "--format=custom",
        f"--snapshot={snapshot}",
        *(["--verbose"] if progress.on else []),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=client_env(url),
        start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    log = asyncio.create_task(
        collect_log(process.stderr, progress, {"dumping contents of table": "dumping"})
    )
    try:
        dump = await writer.dump_from(process.stdout, progress.advance)
        code = await process.wait()
        said = await log
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.cancel()
    if code != 0:
        raise OpsError(failure("pg_dump", said))
    return dump


def _secret_key(settings: Settings) -> tuple[str | None, str]:
    """The generated key and where it stands; a key from the environment is the operator's
    to keep, and is never written into a file."""
    if settings.secret_key is not None:
        return None, "environment"
    path = settings.data_dir / SECRET_KEY_FILE
    if not path.exists():
        return None, "missing"
    return path.read_text().strip(), "included"


def _app_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
