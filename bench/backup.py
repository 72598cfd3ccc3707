"""Backup and restore at scale, and what a running backup costs message delivery (issue 18).

    python -m bench.backup [--messages 100000] [--pairs 100] [--seconds 15] [--workers 1]

One ChatIn, started as bench.load starts it, gets --pairs pairs of users and --messages
messages of history (one statement; 20 to 40 words drawn from the README's, so the dump
compresses as text does, not as a repeated string). Timed as an operator sees them: `python
-m chatin backup` beside the running app, and `restore` into a fresh data folder, whose
message count must equal the source's. Then bench.load's closed loop runs twice on the same
app, plain and beside back-to-back backups: what people notice while the nightly one runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench.accounts import chatin_pairs, sign_up, start_conversation
from bench.generator import Endpoint
from bench.load import default_generators, load_served
from bench.report import Window, load_notes, load_table
from bench.server import ROOT, Served, _stop_leftover, postmaster_pid, serving
from chatin import db, postgres
from chatin.ops.postgres import running_url

SEED_PAIRS = 10
COMMAND_SECONDS = 600
SEED = """
INSERT INTO messages (conversation_id, author_id, body, client_id, created_at)
SELECT ($1::int[])[1 + n % $4::int], (CASE WHEN n / $4 % 2 = 0 THEN $2::int[] ELSE $3::int[] END)
         [1 + n % $4],
       (SELECT string_agg(($5::text[])[1 + floor(random() * cardinality($5::text[]))::int], ' ')
          FROM generate_series(1, 20 + n % 21)),
       gen_random_uuid(), now() - make_interval(secs => $6 - n)
FROM generate_series(1, $6::int) AS n
"""


async def seed(served: Served, messages: int) -> dict[str, float]:
    """SEED_PAIRS conversations with `messages` between them; the table's figures."""
    accounts = [await sign_up(served.url, 100_000 + i) for i in range(2 * SEED_PAIRS)]
    pairs = zip(accounts[::2], accounts[1::2], strict=True)
    ids = [await start_conversation(a, b) for a, b in pairs]
    await asyncio.gather(*(account.client.aclose() for account in accounts))
    words = re.findall(r"[A-Za-z][a-z']*", (ROOT / "README.md").read_text())
    url = running_url(served.data_dir)
    assert url is not None, "the app's PostgreSQL is not running"
    conn = await db.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT conversation_id, array_agg(user_id ORDER BY user_id) AS members "
            "FROM memberships WHERE conversation_id = ANY($1::int[]) GROUP BY conversation_id",
            ids,
        )
        firsts, seconds = [r["members"][0] for r in rows], [r["members"][1] for r in rows]
        conversations = [r["conversation_id"] for r in rows]
        began = time.monotonic()
        await conn.execute(SEED, conversations, firsts, seconds, len(rows), words, messages)
        await conn.execute("ANALYZE")
        row = await conn.fetchrow(
            "SELECT count(*) AS n, avg(length(body)) AS chars, "
            "pg_total_relation_size('messages') AS bytes FROM messages"
        )
    finally:
        await conn.close()
    return {
        "seed_seconds": time.monotonic() - began,
        "messages": row["n"],
        "avg_body_chars": float(row["chars"]),
        "table_mb": row["bytes"] / 1e6,
    }


def chatin(data_dir: Path, *args: str) -> tuple[float, str]:
    """`python -m chatin ARGS` for this data folder, as an operator runs it: (seconds, stdout)."""
    env = os.environ | {"CHATIN_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    began = time.monotonic()
    command = [sys.executable, "-m", "chatin", *args]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=COMMAND_SECONDS
    )
    if done.returncode != 0:
        raise RuntimeError(f"chatin {' '.join(args)} failed: {done.stderr.strip()}")
    return time.monotonic() - began, done.stdout


async def count_messages(data_dir: Path) -> int:
    async with postgres.embedded_async(data_dir) as url:
        conn = await db.connect(url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM messages"))
        finally:
            await conn.close()


def backup_and_restore(served: Served, folder: Path, source_count: int) -> dict[str, Any]:
    backup, restored = folder / "chatin.backup", folder / "restored"
    backup_seconds, said = chatin(served.data_dir, "backup", str(backup))
    print(said, end="", flush=True)
    try:
        restore_seconds, said = chatin(restored, "restore", str(backup))
        print(said, end="", flush=True)
        count = asyncio.run(count_messages(restored))
    finally:  # the restore's (or the count's) PostgreSQL, should either have been cut short
        if (pid := postmaster_pid(restored / "postgres")) is not None:
            _stop_leftover(pid)
    return {
        "backup_seconds": backup_seconds,
        "file_mb": backup.stat().st_size / 1e6,
        "restore_seconds": restore_seconds,
        "restored_messages": count,
        "restored_count_ok": count == source_count,
    }


class BackupLoop(threading.Thread):
    """Backups one after another while its block lasts: (began, ended) of each."""

    def __init__(self, data_dir: Path, target: Path) -> None:
        super().__init__(daemon=True)
        self.data_dir, self.target = data_dir, target
        self.done: list[tuple[float, float]] = []
        self.error: str | None = None
        self.halted = threading.Event()

    def run(self) -> None:
        while not self.halted.is_set():
            began = time.monotonic()
            try:
                chatin(self.data_dir, "backup", str(self.target))
            except (RuntimeError, subprocess.SubprocessError) as error:
                self.error = str(error)
                return
            self.done.append((began, time.monotonic()))

    def __enter__(self) -> BackupLoop:
        self.start()  # from the warm-up on, so the whole window runs beside backups
        return self

    def __exit__(self, *_: object) -> None:
        """Lets the backup under way finish (bounded by COMMAND_SECONDS)."""
        self.halted.set()
        self.join(COMMAND_SECONDS)

    def in_window(self, window: Window) -> tuple[int, float]:
        """Backups finished in the window, and the share of it a backup was running."""
        busy = sum(max(0.0, min(e, window.end) - max(b, window.start)) for b, e in self.done)
        return sum(1 for _, e in self.done if e in window), busy / (window.end - window.start)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(prog="python -m bench.backup", description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="history to back up")
    parser.add_argument("--pairs", type=int, default=100, help="pairs chatting under load")
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per run")
    parser.add_argument("--workers", type=int, default=1, help="ChatIn worker processes")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    with serving("chatin", args.workers) as served, tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        os.chmod(folder, 0o711)  # run as root, the restore's PostgreSQL passes through it
        ends: list[tuple[Endpoint, Endpoint]] = asyncio.run(chatin_pairs(served.url, args.pairs))
        seeded = asyncio.run(seed(served, args.messages))
        print(json.dumps(seeded), flush=True)
        figures = seeded | backup_and_restore(served, folder, int(seeded["messages"]))
        print(json.dumps(figures), flush=True)
        procs = default_generators(args.pairs)
        plain, _ = load_served(served, ends, args.seconds, procs, "plain")
        loop = BackupLoop(served.data_dir, folder / "loop.backup")
        during, window = load_served(served, ends, args.seconds, procs, "backup", loop)
    backups, share = loop.in_window(window)
    print()
    print(load_table([plain, during]))
    print(load_notes([plain, during]))
    failed = f"; a backup failed: {loop.error}" if loop.error else ""
    print(f"backups finished in the 'backup' window: {backups}; one ran {share:.0%} of it{failed}")
    if args.json:
        command = "python -m bench.backup " + " ".join(sys.argv[1:] if argv is None else argv)
        loads = {"runs": [plain.as_dict(), during.as_dict()], "backups_in_window": backups}
        with open(args.json, "w") as handle:
            json.dump({"command": command, **figures, **loads}, handle, indent=2)
    return 1 if loop.error or not figures["restored_count_ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
