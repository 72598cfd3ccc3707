"""What ChatIn's PostgreSQL was doing during a run (issue 19): sampled from a thread of the
orchestrator over the embedded server's unix socket, every SAMPLE_SECONDS.

Per sample: the client backends by state and wait event (an active backend with no wait
event is on the CPU), the locks not granted and how long the oldest of them has waited,
and the oldest running statement. Around the run: pg_stat_database's deadlocks, commits
and rollbacks. PostgreSQL's deadlock_timeout is 1 s, so a deadlock or a long row-lock wait
would show as a lock wait of 1 s or more; an fsync that stalls commits as WALSync/WALWrite.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from bench.server import database_address

SAMPLE_SECONDS = 0.05
BACKENDS_SQL = """
SELECT state, coalesce(wait_event_type || ':' || wait_event, 'CPU') AS wait, count(*) AS n,
       coalesce(max(extract(epoch FROM clock_timestamp() - query_start))
                FILTER (WHERE state = 'active'), 0) AS oldest
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
GROUP BY 1, 2
"""
LOCKS_SQL = """
SELECT locktype, mode, count(*) AS n,
       coalesce(max(extract(epoch FROM clock_timestamp() - waitstart)), 0) AS longest
FROM pg_locks WHERE NOT granted GROUP BY 1, 2
"""
TOTALS_SQL = """
SELECT deadlocks, xact_commit, xact_rollback, conflicts
FROM pg_stat_database WHERE datname = current_database()
"""


class DatabaseProbe:
    """Samples in a thread from `start` to `stop`; `figures` sums them up."""

    def __init__(self, pgdata: Path) -> None:
        self._pgdata = pgdata
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="db-probe", daemon=True)
        self.waits: Counter[str] = Counter()  # backend-samples per "state wait"
        self.locks: Counter[str] = Counter()  # not-granted lock-samples per "type mode"
        self.samples = 0
        self.lock_samples = 0  # samples in which some lock was not granted
        self.longest_lock_ms = 0.0
        self.oldest_statement_ms = 0.0
        self.before: dict[str, int] = {}
        self.after: dict[str, int] = {}
        self.error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _main(self) -> None:
        try:
            asyncio.run(self._sample())
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            self.error = str(error)

    async def _sample(self) -> None:
        socket_dir, port = database_address(self._pgdata)
        conn = await asyncpg.connect(
            host=socket_dir, port=port, user="postgres", database="postgres", timeout=10
        )
        try:
            self.before = dict(await conn.fetchrow(TOTALS_SQL))
            while not self._stop.is_set():
                began = time.monotonic()
                self._take(await conn.fetch(BACKENDS_SQL), await conn.fetch(LOCKS_SQL))
                await asyncio.sleep(max(0.0, SAMPLE_SECONDS - (time.monotonic() - began)))
            await asyncio.sleep(1.0)  # backends report their counters about once a second
            self.after = dict(await conn.fetchrow(TOTALS_SQL))
        finally:
            await conn.close()

    def _take(self, backends: list[asyncpg.Record], locks: list[asyncpg.Record]) -> None:
        self.samples += 1
        for row in backends:
            self.waits[f"{row['state']} {row['wait']}"] += row["n"]
            self.oldest_statement_ms = max(self.oldest_statement_ms, float(row["oldest"]) * 1000)
        if locks:
            self.lock_samples += 1
        for row in locks:
            self.locks[f"{row['locktype']} {row['mode']}"] += row["n"]
            self.longest_lock_ms = max(self.longest_lock_ms, float(row["longest"]) * 1000)

    def figures(self) -> dict[str, Any]:
        change = {key: self.after.get(key, 0) - value for key, value in self.before.items()}
        samples = max(self.samples, 1)
        return {
            "samples": self.samples,
            "error": self.error,
            "backends_per_sample": {k: n / samples for k, n in self.waits.most_common()},
            "lock_waits_per_sample": {k: n / samples for k, n in self.locks.most_common()},
            "samples_with_lock_waits": self.lock_samples,
            "longest_lock_wait_ms": self.longest_lock_ms,
            "oldest_statement_ms": self.oldest_statement_ms,
            "deadlocks": change.get("deadlocks", math.nan),
            "commits": change.get("xact_commit", math.nan),
            "rollbacks": change.get("xact_rollback", math.nan),
        }


def summary(figures: dict[str, Any]) -> str:
    """A few lines for the console: where the backends were, and any lock trouble."""
    if figures.get("error"):
        return f"database probe failed: {figures['error']}"
    busy = {k: n for k, n in figures["backends_per_sample"].items() if not k.startswith("idle ")}
    idle = sum(n for k, n in figures["backends_per_sample"].items() if k.startswith("idle "))
    locks = ", ".join(f"{k} {n:.2f}" for k, n in figures["lock_waits_per_sample"].items())
    return "\n".join(
        [
            f"PostgreSQL over {figures['samples']} samples ({SAMPLE_SECONDS * 1000:.0f} ms apart),"
            f" client backends per sample: idle {idle:.1f}; "
            + ", ".join(f"{k} {n:.2f}" for k, n in busy.items()),
            f"lock waits: in {figures['samples_with_lock_waits']} samples ({locks or 'none'}),"
            f" longest {figures['longest_lock_wait_ms']:,.0f} ms; oldest running statement"
            f" {figures['oldest_statement_ms']:,.0f} ms; deadlocks {figures['deadlocks']},"
            f" commits {figures['commits']:,}, rollbacks {figures['rollbacks']:,}",
        ]
    )
