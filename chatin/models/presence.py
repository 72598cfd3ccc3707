"""Presence: which users have a tab open somewhere, as claims each worker renews.

Claims from a crashed worker simply expire, so presence needs no cleanup process. Only
people who share a direct conversation both accepted hear of a change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise import fields
from tortoise.models import Model

from chatin import db
from chatin.events import Kind, notify_sql
from chatin.models.accounts import User

PRESENCE_TTL = timedelta(seconds=45)

# Whose presence changes reach: people who share a direct conversation both sides accepted
# (sharing a group reveals nothing).
_CONTACTS_OF = """(SELECT coalesce(array_agg(other.user_id), '{}') FROM memberships me
  JOIN conversations c ON c.id = me.conversation_id AND c.kind = 'direct'
  JOIN memberships other ON other.conversation_id = me.conversation_id
   AND other.user_id <> me.user_id
  WHERE me.user_id = $2 AND me.state = 'active' AND other.state = 'active')"""

_ANNOUNCE = notify_sql(Kind.PRESENCE, f"'user', $2::int, 'to', {_CONTACTS_OF}")

_ARRIVE_SQL = f"""
WITH was AS (
  SELECT EXISTS (SELECT 1 FROM presence WHERE user_id = $2 AND expires_at > now()) AS online
), claim AS (
  INSERT INTO presence (worker, user_id, expires_at) VALUES ($1, $2, now() + $3::interval)
  ON CONFLICT (worker, user_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
  RETURNING user_id
)
SELECT {_ANNOUNCE} FROM claim, was WHERE NOT was.online
"""

_LEAVE_SQL = f"""
WITH gone AS (
  DELETE FROM presence WHERE worker = $1 AND user_id = $2 RETURNING user_id
), offline AS (
  UPDATE users SET last_seen_at = now()
  WHERE id = $2 AND EXISTS (SELECT 1 FROM gone)
    AND NOT EXISTS (SELECT 1 FROM presence WHERE user_id = $2 AND worker <> $1
                    AND expires_at > now())
  RETURNING id
)
SELECT {_ANNOUNCE} FROM offline
"""

_RENEW_SQL = """
UPDATE presence SET expires_at = now() + $3::interval
WHERE worker = $1 AND user_id = ANY($2::int[])
"""


class Presence(Model):
    """A worker's claim that a user has a tab open there, renewed while it lasts."""

    id = fields.IntField(primary_key=True)
    worker = fields.CharField(max_length=64)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "chatin.User", related_name="presence", on_delete=fields.CASCADE
    )
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "presence"
        unique_together = (("worker", "user"),)
        indexes = (("user_id", "expires_at"),)

    @classmethod
    async def arrive(cls, worker: str, user_id: int) -> None:
        """Claim user for this worker; announce to their contacts if they just came online."""
        await db.execute(_ARRIVE_SQL, worker, user_id, PRESENCE_TTL)

    @classmethod
    async def leave(cls, worker: str, user_id: int) -> None:
        """Drop this worker's claim; if no claim is left, they are offline as of now."""
        await db.execute(_LEAVE_SQL, worker, user_id)

    @classmethod
    async def renew(cls, worker: str, user_ids: list[int]) -> None:
        await db.execute(_RENEW_SQL, worker, user_ids, PRESENCE_TTL)


async def person_is_online(user_id: int) -> bool:
    return await Presence.filter(user_id=user_id, expires_at__gt=datetime.now(UTC)).exists()
