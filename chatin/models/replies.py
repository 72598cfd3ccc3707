"""Replies: the quote a reply shows of the message it answers, and everything a bubble
shows beyond its own row, loaded for a whole page, catch-up or push at once.

A quote is rendered from the original as it is now (never copied into the reply), so a page
shows an edited or deleted original's current state; tabs that already show a reply get the
new quote with the original's change push (see live/frames.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatin import db
from chatin.models.messages import Message
from chatin.models.reactions import attach_reactions

MAX_QUOTE_CHARS = 120


@dataclass(frozen=True)
class Quote:
    """What a reply shows of its original: who wrote it and its first line (a file's name
    when it has no text)."""

    id: int
    conversation_id: int
    author_id: int
    author_name: str
    first_line: str
    deleted: bool
    quoted: bool  # some reply quotes it: a change to it changes how those replies show


_QUOTES_SQL = f"""
SELECT m.id, m.conversation_id, m.author_id, u.display_name AS author_name,
       m.deleted_at IS NOT NULL AS deleted,
       EXISTS (SELECT 1 FROM messages r WHERE r.reply_to_id = m.id) AS quoted,
       COALESCE(NULLIF(split_part(left(m.body, {MAX_QUOTE_CHARS * 2}), E'\\n', 1), ''),
                '📎 ' || a.name, '') AS first_line
FROM messages m JOIN users u ON u.id = m.author_id
LEFT JOIN attachments a ON a.message_id = m.id
WHERE m.id = ANY($1::bigint[])
"""


def _shortened(line: str) -> str:
    return line if len(line) <= MAX_QUOTE_CHARS else line[: MAX_QUOTE_CHARS - 1] + "…"


async def quotes_of(message_ids: list[int]) -> dict[int, Quote]:
    """The quotes of these originals, by id, in one query."""
    if not message_ids:
        return {}
    rows = await db.fetch(_QUOTES_SQL, sorted(set(message_ids)))
    return {
        row["id"]: Quote(**{**row, "first_line": _shortened(row["first_line"])}) for row in rows
    }


async def attach_quotes(messages: list[Message]) -> None:
    """Give each reply its quote (`message.quote`, None for other messages): one query for
    the lot, none when no message is a reply (most pushes)."""
    quotes = await quotes_of([m.reply_to_id for m in messages if m.reply_to_id])
    for message in messages:
        message.quote = quotes.get(message.reply_to_id) if message.reply_to_id else None


async def with_extras(messages: list[Message]) -> list[Message]:
    """The messages, each with its reactions and its quote attached, ready to render."""
    await attach_reactions(messages)
    await attach_quotes(messages)
    return messages
