"""The conversation list entry: one conversation as one viewer's list shows it.

Every push of a message carries the recipient's entry (unread count, preview, ticks), so
these reads are the hot path: one statement each, raw asyncpg.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatin import db
from chatin.models.attachments import Attachment
from chatin.models.conversations import MemberState
from chatin.models.messages import MESSAGE_COLUMNS, Message


@dataclass(frozen=True)
class Entry:
    """One conversation as a viewer's list shows it."""

    id: int
    viewer_id: int
    state: str
    other_id: int
    other_name: str
    last_body: str | None
    last_author_id: int | None
    last_at: datetime | None
    unread: int
    last_read: int
    other_state: str
    peer_read: int
    peer_delivered: int
    other_online: bool
    other_last_seen: datetime | None
    delivered: int  # the viewer's own cursor: the newest message that reached their tabs
    last_id: int | None
    other_picture: str | None = None  # the version of their profile picture, if they have one
    last_seq: int = 0  # the conversation's newest change: a page's change cursor starts here
    last_file: str | None = None  # the last message's file name, when it carries one

    @property
    def is_request(self) -> bool:
        return self.state == MemberState.REQUEST

    @property
    def last_is_mine(self) -> bool:
        return self.last_author_id == self.viewer_id

    @property
    def is_accepted(self) -> bool:
        """Both people accepted the conversation and nobody blocked it. Until then neither
        may learn whether the other is online: not from presence, nor from receipts."""
        return self.state == MemberState.ACTIVE and self.other_state == MemberState.ACTIVE

    @property
    def shows_presence(self) -> bool:
        return self.is_accepted

    def status_of(self, message_id: int) -> str:
        """The viewer's own message as the other side has it: Read, Delivered or Sent; only
        Sent until the conversation is accepted."""
        if not self.is_accepted:
            return "Sent"
        if message_id <= self.peer_read:
            return "Read"
        if message_id <= self.peer_delivered:
            return "Delivered"
        return "Sent"


_ENTRY_FIELDS = tuple(Entry.__dataclass_fields__)

_ENTRIES_SQL = """
SELECT c.id, me.user_id AS viewer_id, me.state, other.user_id AS other_id,
       (SELECT pp.version FROM profile_pictures pp WHERE pp.user_id = other.user_id)
         AS other_picture,
       u.display_name AS other_name, lm.body AS last_body, lm.author_id AS last_author_id,
       lm.created_at AS last_at,
       (SELECT count(*) FROM messages x WHERE x.conversation_id = c.id
          AND x.id > me.last_read_message_id AND x.author_id <> me.user_id) AS unread,
       me.last_read_message_id AS last_read, other.state AS other_state,
       other.last_read_message_id AS peer_read, other.delivered_message_id AS peer_delivered,
       EXISTS (SELECT 1 FROM presence p WHERE p.user_id = other.user_id
               AND p.expires_at > now()) AS other_online,
       u.last_seen_at AS other_last_seen, me.delivered_message_id AS delivered,
       c.last_message_id AS last_id, c.last_seq,
       (SELECT a.name FROM attachments a WHERE a.message_id = lm.id) AS last_file
FROM memberships me
JOIN conversations c ON c.id = me.conversation_id
JOIN memberships other ON other.conversation_id = c.id AND other.user_id <> me.user_id
JOIN users u ON u.id = other.user_id
LEFT JOIN messages lm ON lm.id = c.last_message_id
WHERE me.state <> 'blocked' AND {where}
ORDER BY c.last_activity_at DESC, c.id DESC
"""

_ENTRIES_OF_VIEWER_SQL = _ENTRIES_SQL.format(where="me.user_id = $1")
_ENTRIES_FOR_MEMBERS_SQL = _ENTRIES_SQL.format(where="c.id = $1 AND me.user_id = ANY($2::int[])")
_ENTRIES_WITH_PERSON_SQL = _ENTRIES_SQL.format(
    where="other.user_id = $1 AND me.user_id = ANY($2::int[])"
)


async def entries_of_viewer(viewer_id: int) -> list[Entry]:
    """The viewer's conversation list, most recent activity first."""
    rows = await db.fetch(_ENTRIES_OF_VIEWER_SQL, viewer_id)
    return [Entry(**row) for row in rows]


async def entries_for_members(conversation_id: int, user_ids: list[int]) -> dict[int, Entry]:
    """One conversation's list entry for each of these users (absent when they blocked it)."""
    rows = await db.fetch(_ENTRIES_FOR_MEMBERS_SQL, conversation_id, user_ids)
    return {row["viewer_id"]: Entry(**row) for row in rows}


async def entries_with_person(person_id: int, viewer_ids: list[int]) -> list[Entry]:
    """The viewers' entries for their conversations with person."""
    rows = await db.fetch(_ENTRIES_WITH_PERSON_SQL, person_id, viewer_ids)
    return [Entry(**row) for row in rows]


_MESSAGE_FIELDS = MESSAGE_COLUMNS
_FILE_FIELDS = tuple(sorted({*Attachment._meta.db_fields, "message_id"}))
# A pushed message's file comes in the same row (one index lookup; most messages have none).
_SELECT_MESSAGE = ", ".join(
    [
        *(f"m.{name} AS message_{name}" for name in _MESSAGE_FIELDS),
        *(f"a.{name} AS file_{name}" for name in _FILE_FIELDS),
    ]
)


def _message_of(row: Mapping[str, Any]) -> Message:
    message = Message._init_from_db(**{name: row[f"message_{name}"] for name in _MESSAGE_FIELDS})
    if row["file_id"] is not None:
        message.file = Attachment._init_from_db(
            **{name: row[f"file_{name}"] for name in _FILE_FIELDS}
        )
    return message


# The fan-out's one statement: the message, and each recipient's entry beside it.
_MESSAGE_WITH_ENTRIES_SQL = f"""
SELECT e.*, {_SELECT_MESSAGE}
FROM ({_ENTRIES_FOR_MEMBERS_SQL}) e
JOIN messages m ON m.id = $3 AND m.conversation_id = $1
LEFT JOIN attachments a ON a.message_id = m.id
"""


async def message_with_entries(
    conversation_id: int, message_id: int, user_ids: list[int]
) -> tuple[Message | None, dict[int, Entry]]:
    """A message as it is now and its recipients' list entries, loaded once per worker in one
    round trip (the hot path of every message). No message: no entries either."""
    rows = await db.fetch(_MESSAGE_WITH_ENTRIES_SQL, conversation_id, user_ids, message_id)
    if not rows:
        return None, {}
    first = rows[0]
    message = _message_of(first)
    entries = {}
    for row in rows:
        fields_of_entry = {name: row[name] for name in _ENTRY_FIELDS}
        entries[row["viewer_id"]] = Entry(**fields_of_entry)
    return message, entries


# The fan-out of several messages queued together: each (conversation, message) pair, the
# message, and each recipient's entry beside it, in one round trip (the hub's batches).
_MESSAGES_WITH_ENTRIES_SQL = f"""
SELECT e.*, {_SELECT_MESSAGE}
FROM unnest($1::int[], $2::bigint[]) AS wanted(conversation_id, message_id)
JOIN messages m ON m.id = wanted.message_id AND m.conversation_id = wanted.conversation_id
LEFT JOIN attachments a ON a.message_id = m.id
CROSS JOIN LATERAL ({
    _ENTRIES_SQL.format(where="c.id = wanted.conversation_id AND me.user_id = ANY($3::int[])")
}) e
"""


async def messages_with_entries(
    wanted: list[tuple[int, int]], user_ids: list[int]
) -> dict[tuple[int, int], tuple[Message, dict[int, Entry]]]:
    """`message_with_entries` for many (conversation, message) pairs in one round trip:
    by pair, the message and the entries of those of user_ids who are its recipients.
    A pair whose message is gone is absent."""
    conversations = [conversation_id for conversation_id, _ in wanted]
    messages = [message_id for _, message_id in wanted]
    rows = await db.fetch(_MESSAGES_WITH_ENTRIES_SQL, conversations, messages, user_ids)
    found: dict[tuple[int, int], tuple[Message, dict[int, Entry]]] = {}
    for row in rows:
        key = (row["message_conversation_id"], row["message_id"])
        if key not in found:
            found[key] = (_message_of(row), {})
        found[key][1][row["viewer_id"]] = Entry(**{name: row[name] for name in _ENTRY_FIELDS})
    return found


# The hub's batches: a delivery tick needs each author's messages in the moved range.
_OWN_MESSAGES_IN_RANGES_SQL = """
SELECT w.n, x.id
FROM unnest($1::int[], $2::int[], $3::bigint[], $4::bigint[])
     WITH ORDINALITY AS w(conversation_id, author_id, after, upto, n)
CROSS JOIN LATERAL (
  SELECT id FROM messages
  WHERE conversation_id = w.conversation_id AND author_id = w.author_id
    AND id > w.after AND id <= w.upto
  ORDER BY id DESC LIMIT $5
) x
ORDER BY w.n, x.id DESC
"""


async def own_messages_in_ranges(
    ranges: list[tuple[int, int, int, int]], limit: int = 200
) -> list[list[int]]:
    """`own_messages_between` for many (conversation, author, after, upto) in one round
    trip: per range, in order, the ids of the author's messages in (after, upto]."""
    columns = [list(column) for column in zip(*ranges, strict=True)] or [[], [], [], []]
    rows = await db.fetch(_OWN_MESSAGES_IN_RANGES_SQL, *columns, limit)
    found: list[list[int]] = [[] for _ in ranges]
    for row in rows:
        found[row["n"] - 1].append(row["id"])
    return found
