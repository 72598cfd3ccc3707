"""Messages: what the body may be, and the reads the pages and the catch-up make."""

from __future__ import annotations

import re
from datetime import timedelta

from tortoise import fields
from tortoise.models import Model

from chatin import db
from chatin.models.accounts import User
from chatin.models.errors import InvalidInput, TooLong

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

    class Meta:
        table = "messages"
        unique_together = (("author", "client_id"),)
        indexes = (("conversation_id", "id"), ("author_id", "created_at"))

    @staticmethod
    def clean(body: str) -> str:
        """The body as stored: line endings normalised, edges trimmed, size bounded.

        Control characters other than tab and newline are refused, not dropped: the author
        hears that the text was not what it seemed, and nothing else is changed silently.
        """
        text = body.replace("\r\n", "\n").replace("\r", "\n")
        if CONTROL_CHARACTERS.search(text):
            raise InvalidInput({"body": NO_CONTROL_CHARACTERS})
        text = text.strip()
        if not text:
            raise InvalidInput({"body": "Write something first."})
        if len(text) > MAX_MESSAGE_CHARS:
            raise TooLong
        return text


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
