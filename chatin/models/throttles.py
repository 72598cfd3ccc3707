"""Sliding-window limits kept in PostgreSQL, so every worker and node sees the same counts, and
one kept in a worker's memory for what is too fleeting to write down."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from tortoise import fields
from tortoise.models import Model

from chatin import db

MAX_KEY_CHARS = 300
# The first half of the two-number advisory lock a throttle key takes; the migration's
# one-number lock lives in another key space.
LOCK_CLASS = 7_236


class ThrottleHit(Model):
    """One counted event (a failed log-in, a sign-up) for a throttle key."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=MAX_KEY_CHARS)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "throttle_hits"
        indexes = (("key", "at"),)


# Keys are locked in one order, so two attempts sharing two keys can't deadlock.
_LOCK_SQL = """
SELECT pg_advisory_xact_lock($2, h)
FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS keys
"""

# $1 keys, $2 window, $3 limit, $4 this throttle's key prefix. Counts one hit for every key
# unless one is at its limit; then `wait` is how long until its oldest counted hit leaves
# the window. Expires only this throttle's old hits, skipping any another attempt is
# deleting right now.
_ATTEMPT_SQL = """
WITH expired AS (
  DELETE FROM throttle_hits WHERE id IN (
    SELECT id FROM throttle_hits WHERE starts_with(key, $4) AND at <= now() - $2::interval
    FOR UPDATE SKIP LOCKED)
), full_keys AS (
  SELECT (array_agg(at ORDER BY at))[(count(*) - $3 + 1)::int] + $2::interval AS free_at
  FROM throttle_hits WHERE key = ANY($1::text[]) AND at > now() - $2::interval
  GROUP BY key HAVING count(*) >= $3
), counted AS (
  INSERT INTO throttle_hits (key, at)
  SELECT k, now() FROM unnest($1::text[]) AS k WHERE NOT EXISTS (SELECT FROM full_keys)
  RETURNING id
)
SELECT (SELECT ceil(extract(epoch FROM max(free_at) - now()))::int FROM full_keys) AS wait,
       (SELECT coalesce(array_agg(id), '{}') FROM counted) AS hits
"""

_GIVE_BACK_SQL = "DELETE FROM throttle_hits WHERE id = ANY($1::bigint[])"


@dataclass(frozen=True)
class Attempt:
    """One attempt at a throttled action: refused (`retry_after` seconds to wait), or
    allowed and counted (`hits`, which `Throttle.give_back` can uncount)."""

    retry_after: int | None = None
    hits: tuple[int, ...] = ()


class Throttle:
    """A sliding-window limit: at most `limit` attempts per key within `window`."""

    def __init__(self, name: str, limit: int, window: timedelta) -> None:
        self.name = name
        self.limit = limit
        self.window = window

    def _key(self, part: str) -> str:
        return f"{self.name}:{part}"[:MAX_KEY_CHARS]

    async def attempt(self, *parts: str) -> Attempt:
        """Count an attempt for every key, or refuse it when one key is at its limit.

        Counted before the work it guards (a password check takes 0.25 s), so parallel
        requests can't all pass a check that none of them has counted yet. Attempts on a
        key queue on its lock; the counting statement runs after the lock, as a statement
        of its own, so it sees every attempt committed before.
        """
        keys = [self._key(part) for part in parts]
        async with db.transaction():
            await db.execute(_LOCK_SQL, keys, LOCK_CLASS)
            rows = await db.fetch(_ATTEMPT_SQL, keys, self.window, self.limit, f"{self.name}:")
        wait, hits = rows[0]["wait"], rows[0]["hits"]
        return Attempt(retry_after=wait) if wait is not None else Attempt(hits=tuple(hits))

    async def give_back(self, attempt: Attempt) -> None:
        """Uncount an attempt that turned out legitimate (a right password), so people who
        share an address don't use up each other's log-ins."""
        if attempt.hits:
            await db.execute(_GIVE_BACK_SQL, list(attempt.hits))


class LocalThrottle:
    """At most one event per key per interval, in this worker's memory (typing is ephemeral,
    so a shared count isn't worth a database write per keystroke burst)."""

    def __init__(self, interval: float, max_keys: int = 10_000) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._last: dict[tuple[int, int], float] = {}

    def allow(self, key: tuple[int, int]) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            return False
        if len(self._last) >= self.max_keys:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        self._last[key] = now
        return True
