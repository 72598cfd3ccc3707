"""Messages: what the body may be, and the reads the pages and the catch-up make."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tortoise import fields
from tortoise.models import Model

from chatin import db
from chatin.events import Kind, notify_sql
from chatin.models.accounts import User
from chatin.models.errors import Deleted, InvalidInput, NotDelivered, NotFound, NotYours, TooLong
from chatin.models.visibility import current, visible

MAX_MESSAGE_CHARS = 4_000
PAGE_SIZE = 50
SEND_LIMIT = 20
SEND_WINDOW = timedelta(seconds=10)
# C0 and C1 controls and DEL, all but tab and newline: PostgreSQL can't store NUL in text,
# and the others would hide or garble what a message shows.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
NO_CONTROL_CHARACTERS = "Messages can't contain control characters (like NUL). Remove them."


class Message(Model):
    id = fields.BigIntField(primary_key=True)
    conversation: fields.ForeignKeyRelation = fields.ForeignKeyField(  # to Conversation
        "chatin.Conversation", related_name="messages", on_delete=fields.CASCADE
    )
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "chatin.User", related_name="messages", on_delete=fields.CASCADE
    )
    body = fields.TextField()
    client_id = fields.UUIDField(description="the sender's id for this write: retries store once")
    created_at = fields.DatetimeField(auto_now_add=True)
    seq = fields.BigIntField(
        default=0,
        db_default=0,
        description="its latest change's place in the conversation's sequence",
    )
    edited_at = fields.DatetimeField(null=True)
    deleted_at = fields.DatetimeField(null=True, description="deleted for everyone: body emptied")
    changed = fields.BooleanField(
        default=False,
        db_default=False,
        description="changed after posting (edited, deleted or reacted to): catch-up replays it",
    )
    reply_to: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "chatin.Message",
        related_name=False,
        null=True,
        on_delete=fields.SET_NULL,
        description="the message of the same conversation this one answers",
    )
    system = fields.BooleanField(
        default=False, db_default=False, description="a group's system line (Ana added Bo)"
    )
    file: Any = None  # its Attachment, once a loader attached it (attachments.attach_files)

    class Meta:
        table = "messages"
        unique_together = (("author", "client_id"),)
        indexes = (
            ("conversation_id", "id"),
            ("author_id", "created_at"),
            ("conversation_id", "seq"),
            ("author_id", "edited_at"),
            ("reply_to_id",),
        )

    @staticmethod
    def clean(body: str, required: bool = True) -> str:
        """The body as stored: line endings normalised, edges trimmed, size bounded (a file's
        caption may be empty).

        Control characters other than tab and newline are refused, not dropped: the author
        hears that the text was not what it seemed, and nothing else is changed silently.
        """
        text = body.replace("\r\n", "\n").replace("\r", "\n")
        if CONTROL_CHARACTERS.search(text):
            raise InvalidInput({"body": NO_CONTROL_CHARACTERS})
        text = text.strip()
        if not text and required:
            raise InvalidInput({"body": "Write something first."})
        if len(text) > MAX_MESSAGE_CHARS:
            raise TooLong
        return text

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def reaction_by(self, user_id: int) -> str | None:
        """The emoji user reacted with (reactions attached, see models/replies.py), if any."""
        return next((chip.emoji for chip in getattr(self, "chips", ()) if chip.has(user_id)), None)

    @classmethod
    async def shown_to(cls, viewer: User, conversation_id: int, message_id: int) -> Message:
        """A message to act on (react, reply): NotFound unless viewer is a member who may
        write here and the message is in this conversation and their history (not a system
        line), one answer for all."""
        rows = await db.fetch(_SHOWN_TO_SQL, message_id, conversation_id, viewer.id)
        if not rows:
            raise NotFound
        return message_of(rows[0])

    @classmethod
    async def own(cls, author: User, conversation_id: int, message_id: int) -> Message:
        """Author's message, to offer its edit or delete: as `shown_to`, and NotYours for
        another member's message; Deleted once deleted."""
        found = await cls.shown_to(author, conversation_id, message_id)
        if found.author_id != author.id:
            raise NotYours
        if found.is_deleted:
            raise Deleted
        return found

    @classmethod
    async def edit(cls, author: User, conversation_id: int, message_id: int, body: str) -> Message:
        """Replace the text of author's own message; the same text again changes nothing
        (a retried edit is not a second change). Refused like a send where the author may
        not write; a deleted message can't be edited."""
        return await _change(_EDIT_SQL, author, conversation_id, message_id, cls.clean(body))

    @classmethod
    async def delete_for_everyone(
        cls, author: User, conversation_id: int, message_id: int
    ) -> Message:
        """Empty author's own message for good (the text leaves the database, not just the
        page); deleting it again changes nothing."""
        return await _change(_DELETE_SQL, author, conversation_id, message_id, None)


# A change to an existing message, in one statement: lock the conversation (so changes take
# their place in its sequence and commit in that order), check the author may write and owns
# the message, give it the next place in the sequence, and queue the announcement.
# $1 conversation, $2 message, $3 author, $4 new body (NULL: delete). The message's own
# conditions sit in the UPDATE, which re-reads a row another change committed meanwhile.
_CHANGE_SQL = """
WITH locked AS (
  SELECT last_seq FROM conversations WHERE id = $1 FOR UPDATE
), members AS (
  SELECT user_id, state FROM memberships WHERE conversation_id = $1
), verdict AS (
  SELECT (SELECT state FROM members WHERE user_id = $3) AS my_state,
         EXISTS (SELECT 1 FROM members WHERE state = 'blocked') AS blocked,
         CASE WHEN NOT m.system THEN m.author_id END AS author_id,
         m.deleted_at IS NOT NULL AS deleted
  FROM locked LEFT JOIN messages m ON m.id = $2 AND m.conversation_id = $1
), changed AS (
  UPDATE messages SET {assignments}, seq = locked.last_seq + 1
  FROM locked, verdict v
  WHERE messages.id = $2 AND messages.conversation_id = $1 AND v.author_id = $3
    AND v.my_state IN ('request', 'active') AND NOT v.blocked
    AND messages.deleted_at IS NULL AND {changes}
  RETURNING messages.*
), bumped AS (
  UPDATE conversations SET last_seq = c.seq FROM changed c WHERE conversations.id = $1
  RETURNING 1
), announced AS (
  SELECT {announce} FROM changed c
){purge}
SELECT v.my_state, v.blocked, v.author_id AS owner_id, v.deleted AS was_deleted, c.*,
       (SELECT count(*) FROM bumped) + (SELECT count(*) FROM announced) AS writes
FROM verdict v LEFT JOIN changed c ON true
"""
_ANNOUNCE = notify_sql(
    Kind.CHANGE,
    "'conversation', $1::int, 'message', c.id, 'seq', c.seq, "
    "'to', (SELECT array_agg(user_id) FROM members WHERE state IN ('request', 'active'))",
)
_EDIT_SQL = _CHANGE_SQL.format(
    assignments="body = $4, edited_at = now(), changed = true",
    changes="messages.body <> $4",
    announce=_ANNOUNCE,
    purge="",
)
# A deleted message's file goes with its text (its parts by cascade), and so do its reactions.
_DELETE_SQL = _CHANGE_SQL.format(
    assignments="body = '', deleted_at = now(), changed = true",
    changes="$4::text IS NULL",
    announce=_ANNOUNCE,
    purge=", purged AS (DELETE FROM attachments WHERE message_id IN (SELECT id FROM changed))"
    ", unreacted AS (DELETE FROM reactions WHERE message_id IN (SELECT id FROM changed))",
)
MESSAGE_COLUMNS = (
    *("id", "conversation_id", "author_id", "body", "client_id", "created_at"),
    *("seq", "edited_at", "deleted_at", "changed", "reply_to_id", "system"),
)
_SHOWN_TO_SQL = f"""
SELECT {", ".join(f"m.{name}" for name in MESSAGE_COLUMNS)} FROM messages m
JOIN memberships me ON me.conversation_id = m.conversation_id AND me.user_id = $3
WHERE m.id = $1 AND m.conversation_id = $2 AND {current("me")} AND {visible("m", "me")}
  AND NOT m.system
"""
# Taken in its own statement before a change, so the change's snapshot sees every change
# that committed while it waited (a lock inside the statement comes after its snapshot).
LOCK_CONVERSATION_SQL = "SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE"


def message_of(row: Mapping[str, Any], prefix: str = "") -> Message:
    """A message from a row of MESSAGE_COLUMNS (each name after `prefix`), with its author's
    display name when the row has one (a group shows it on others' messages)."""
    message = Message._init_from_db(**{name: row[prefix + name] for name in MESSAGE_COLUMNS})
    message.author_name = row.get(prefix + "author_name")
    return message


async def _change(
    sql: str, author: User, conversation_id: int, message_id: int, body: str | None
) -> Message:
    """Run one change statement; the changed message, or why nothing changed."""
    async with db.transaction():  # locked first, so the statement sees every earlier change
        await db.execute(LOCK_CONVERSATION_SQL, conversation_id)
        rows = await db.fetch(sql, conversation_id, message_id, author.id, body)
    outcome = rows[0] if rows else {"my_state": None}
    if outcome["my_state"] not in ("request", "active") or outcome["owner_id"] is None:
        raise NotFound  # a stranger, or no such message: the same answer
    if outcome["owner_id"] != author.id:
        raise NotYours
    if outcome["blocked"]:
        raise NotDelivered
    if outcome["id"] is not None:
        return message_of(outcome)
    if outcome["was_deleted"] and body is not None:
        raise Deleted
    # Nothing to change (a retry), or another change won a race for the row: as it is now.
    current = await Message.get(id=message_id)
    if current.is_deleted and body is not None:
        raise Deleted
    return current


async def own_messages_between(
    conversation_id: int, author_id: int, after: int, upto: int, limit: int = 200
) -> list[int]:
    """Ids of author's messages whose status a receipt for (after, upto] changes."""
    rows = await db.fetch(
        "SELECT id FROM messages WHERE conversation_id = $1 AND author_id = $2 "
        "AND id > $3 AND id <= $4 ORDER BY id DESC LIMIT $5",
        *(conversation_id, author_id, after, upto, limit),
    )
    return [row["id"] for row in rows]


# $1 conversation, $2 the tab's change cursor, $3 its message cursor, $4 limit, $5 viewer.
# Only messages changed after posting (edited, deleted, reacted to): a message that was
# merely posted is not a change a tab already showing it needs again (new messages come
# through the message cursor).
_CHANGED_SINCE_SQL = f"""
SELECT c.last_seq, {", ".join(f"m.{name}" for name in MESSAGE_COLUMNS)}, m.author_name
FROM conversations c
JOIN memberships me ON me.conversation_id = c.id AND me.user_id = $5 AND {current("me")}
LEFT JOIN LATERAL (
  SELECT x.*, u.display_name AS author_name FROM messages x JOIN users u ON u.id = x.author_id
  WHERE x.conversation_id = c.id AND x.seq > $2 AND x.id <= $3 AND {visible("x", "me")}
    AND x.changed
  ORDER BY x.seq LIMIT $4
) m ON true
WHERE c.id = $1
"""


async def changed_since(
    conversation_id: int, viewer_id: int, seq: int, upto: int, limit: int
) -> tuple[list[Message], int]:
    """The messages up to id `upto` that the viewer sees and that changed after place `seq`
    of the conversation's sequence, as they are now, in the order of their changes, and the
    conversation's newest place, read together: every change up to it is in the answer or
    before `seq`."""
    rows = await db.fetch(_CHANGED_SINCE_SQL, conversation_id, seq, upto, limit, viewer_id)
    if not rows:
        return [], seq
    changed = [message_of(row) for row in rows if row["id"] is not None]
    return changed, rows[0]["last_seq"]


# A page of the viewer's messages: $1 conversation, $2 viewer, $3 the cursor, $4 limit.
_PAGE_SQL = f"""
SELECT {", ".join(f"m.{name}" for name in MESSAGE_COLUMNS)}, u.display_name AS author_name
FROM memberships me
JOIN messages m ON m.conversation_id = me.conversation_id AND {visible("m", "me")}
JOIN users u ON u.id = m.author_id
WHERE me.conversation_id = $1 AND me.user_id = $2 AND {current("me")} AND {{where}}
ORDER BY m.id {{order}} LIMIT $4
"""
_BEFORE_SQL = _PAGE_SQL.format(where="($3::bigint IS NULL OR m.id < $3)", order="DESC")
_AFTER_SQL = _PAGE_SQL.format(where="m.id > $3", order="ASC")


async def messages_before(
    conversation_id: int, viewer_id: int, before: int | None, limit: int
) -> list[Message]:
    """Up to `limit` messages the viewer sees older than id `before` (newest page when
    None), oldest first."""
    rows = await db.fetch(_BEFORE_SQL, conversation_id, viewer_id, before, limit)
    return [message_of(row) for row in reversed(rows)]


async def messages_after(
    conversation_id: int, viewer_id: int, after: int, limit: int
) -> list[Message]:
    """Messages the viewer sees newer than id `after`, oldest first: what a reconnecting tab
    missed."""
    rows = await db.fetch(_AFTER_SQL, conversation_id, viewer_id, after, limit)
    return [message_of(row) for row in rows]
