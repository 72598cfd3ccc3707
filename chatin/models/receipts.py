"""Receipts: how far each member has read and received, moved forward only, announced on commit.

Both writes are one statement each; the old cursor rides in the announcement so tabs can
update exactly the messages whose status changed.
"""

from __future__ import annotations

from chatin import db
from chatin.events import Kind, notify_sql
from chatin.models.visibility import CURRENT_STATES


def _announce_moved(kind: Kind) -> str:
    """Tell every member who still sees the conversation that a cursor moved (rows of
    `moved`); until everyone accepted it, only the member themselves (their unread count):
    the others' ticks would tell them whether a stranger is online. `group` is 1 in a
    group, whose ticks count every member's cursor, not this one's."""
    members = (
        "(SELECT array_agg(user_id) FROM memberships "
        f"WHERE conversation_id = moved.conversation_id AND state IN {CURRENT_STATES})"
    )
    accepted = (
        "NOT EXISTS (SELECT 1 FROM memberships "
        "WHERE conversation_id = moved.conversation_id AND state IN ('request', 'blocked'))"
    )
    group = (
        "(SELECT CASE WHEN kind = 'group' THEN 1 END FROM conversations "
        "WHERE id = moved.conversation_id)"
    )
    to = f"CASE WHEN {accepted} THEN {members} ELSE ARRAY[moved.user_id] END"
    fields = (
        "'conversation', moved.conversation_id, 'member', moved.user_id, "
        f"'after', moved.before, 'upto', moved.upto, 'group', {group}, 'to', {to}"
    )
    return f"SELECT {notify_sql(kind, fields)} FROM moved"


# Read implies delivered; never moves back, never past the latest message.
_MARK_READ_SQL = f"""
WITH target AS (
  SELECT m.id, m.last_read_message_id AS before, LEAST($3::bigint, c.last_message_id) AS upto
  FROM memberships m JOIN conversations c ON c.id = m.conversation_id
  WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.state IN {CURRENT_STATES}
  FOR UPDATE OF m
), moved AS (
  UPDATE memberships m
  SET last_read_message_id = t.upto,
      delivered_message_id = GREATEST(m.delivered_message_id, t.upto)
  FROM target t
  WHERE m.id = t.id AND t.upto > m.last_read_message_id
  RETURNING m.conversation_id, m.user_id, t.before, t.upto
)
""" + _announce_moved(Kind.READ)

# One statement for a batch of (conversation, member, message id) that reached a tab.
_DELIVERED_SQL = f"""
WITH input AS (
  SELECT * FROM unnest($1::int[], $2::int[], $3::bigint[]) AS t(conversation_id, user_id, upto)
), target AS (
  SELECT m.id, m.delivered_message_id AS before, max(i.upto) AS upto
  FROM memberships m JOIN input i USING (conversation_id, user_id)
  WHERE m.state IN {CURRENT_STATES}
  GROUP BY m.id, m.delivered_message_id
  HAVING max(i.upto) > m.delivered_message_id
), moved AS (
  UPDATE memberships m SET delivered_message_id = t.upto
  FROM target t
  WHERE m.id = t.id AND t.upto > m.delivered_message_id
  RETURNING m.conversation_id, m.user_id, t.before, t.upto
)
""" + _announce_moved(Kind.DELIVERED)


async def mark_read(conversation_id: int, reader_id: int, upto: int) -> None:
    """Reader has seen everything up to message `upto`; a change is announced to members."""
    await db.execute(_MARK_READ_SQL, conversation_id, reader_id, upto)


async def record_deliveries(reached: list[tuple[int, int, int]]) -> None:
    """Messages reached these (conversation, member) tabs up to these ids; authors hear of it."""
    if not reached:
        return
    conversations, users, upto = (list(column) for column in zip(*reached, strict=True))
    await db.execute(_DELIVERED_SQL, conversations, users, upto)
