"""Sliding-window limits kept in PostgreSQL, so every worker and node sees the same counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise import fields
from tortoise.models import Model

from chatin import db

MAX_KEY_CHARS = 300


class ThrottleHit(Model):
    """One counted event (a failed log-in, a sign-up) for a throttle key."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=MAX_KEY_CHARS)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "throttle_hits"
        indexes = (("key", "at"),)


_RETRY_AFTER_SQL = """
SELECT key, count(*) AS hits, min(at) AS oldest FROM throttle_hits
WHERE key = ANY($1::text[]) AND at > now() - $2::interval GROUP BY key
"""

_HIT_SQL = """
WITH expired AS (DELETE FROM throttle_hits WHERE at <= now() - $2::interval)
INSERT INTO throttle_hits (key, at) SELECT unnest($1::text[]), now()
"""


class Throttle:
    """A sliding-window limit: at most `limit` hits per key within `window`."""

    def __init__(self, name: str, limit: int, window: timedelta) -> None:
        self.name = name
        self.limit = limit
        self.window = window

    def _key(self, part: str) -> str:
        return f"{self.name}:{part}"[:MAX_KEY_CHARS]

    async def retry_after(self, *parts: str) -> int | None:
        """Seconds until a key is allowed again, or None when none is over its limit."""
        keys = [self._key(part) for part in parts]
        rows = await db.fetch(_RETRY_AFTER_SQL, keys, self.window)
        waits = [
            _seconds_until(row["oldest"] + self.window) for row in rows if row["hits"] >= self.limit
        ]
        return max(waits) if waits else None

    async def hit(self, *parts: str) -> None:
        """Count one event for each key, forgetting hits older than the window."""
        await db.execute(_HIT_SQL, [self._key(part) for part in parts], self.window)


def _seconds_until(moment: datetime) -> int:
    remaining = (moment - datetime.now(UTC)).total_seconds()
    return max(1, int(remaining) + 1)
