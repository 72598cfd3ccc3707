"""The conversation list entry: one conversation as one viewer's list shows it.

Every push of a message carries the recipient's entry (unread count, preview, ticks), so
these reads are the hot path: one statement each, raw asyncpg.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chatin import db
from chatin.models.attachments import Attachment
from chatin.models.conversations import ConversationKind, MemberRole, MemberState
from chatin.models.messages import MESSAGE_COLUMNS, Message, message_of
from chatin.models.visibility import current, visible


@dataclass(frozen=True)
class Entry:
    """One conversation as a viewer's list shows it. In a group, `other_name` is the
    group's name (or its members' names), there is no other person (`other_id` 0) and the
    peers' cursors are every other current member's, in `peer_reads`/`peer_deliveries`;
    `peer_read` and `peer_delivered` are their lowest."""

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
    kind: str = ConversationKind.DIRECT
    role: str = MemberRole.MEMBER
    visible_from: int = 0
    peer_reads: tuple[int, ...] = ()
    peer_deliveries: tuple[int, ...] = ()
    last_author_name: str | None = None
    last_system: bool = False
    last_file: str | None = None  # the last message's file name, when it carries one

    def __post_init__(self) -> None:  # arrays arrive as lists; an entry stays hashable
        object.__setattr__(self, "peer_reads", tuple(self.peer_reads or ()))
        object.__setattr__(self, "peer_deliveries", tuple(self.peer_deliveries or ()))

    @property
    def is_group(self) -> bool:
        return self.kind == ConversationKind.GROUP

    @property
    def is_owner(self) -> bool:
        return self.role == MemberRole.OWNER

    @property
    def member_count(self) -> int:
        return len(self.peer_reads) + 1

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
        """Only a direct contact's: sharing a group reveals nothing of anyone's presence."""
        return self.is_accepted and not self.is_group

    def status_of(self, message_id: int) -> str:
        """The viewer's own message as the other side has it: Read, Delivered or Sent; only
        Sent until the conversation is accepted."""
        if not self.is_accepted or (self.is_group and not self.peer_reads):
            return "Sent"
        if message_id <= self.peer_read:
            return "Read"
        if message_id <= self.peer_delivered:
            return "Delivered"
        return "Sent"

    def as_listed(self) -> Entry:
        """The entry with only what the conversation list shows (not the cursors behind
        ticks, nor who the viewer is unless the last message is theirs): members who see
        the same entry share one render, so a group's message costs a render per kind of
        viewer, not per member. The list partial must not read what this leaves out."""
        return replace(
            self,
            viewer_id=self.viewer_id if self.last_is_mine else 0,
            last_read=0,
            delivered=0,
            peer_read=0,
            peer_delivered=0,
            peer_reads=(),
            peer_deliveries=(),
            visible_from=0,
            role=MemberRole.MEMBER,
        )

    def read_detail(self, message_id: int) -> str | None:
        """In a group, how many of the other members have read the viewer's message."""
        if not self.is_group or not self.peer_reads:
            return None
        read = sum(1 for upto in self.peer_reads if upto >= message_id)
        return f"Read by {read} of {len(self.peer_reads)}"


_ENTRY_FIELDS = tuple(Entry.__dataclass_fields__)

# A direct conversation joins its one other member; a group, the aggregate of its other
# current members (the lateral's filter on c.kind runs once, so a direct entry skips it).
# Its default name is the first three other members' names.
_ENTRIES_SQL = f"""
SELECT c.id, me.user_id AS viewer_id, me.state, coalesce(other.user_id, 0) AS other_id,
       (SELECT pp.version FROM profile_pictures pp WHERE pp.user_id = other.user_id)
         AS other_picture,
       CASE WHEN c.kind = 'group' THEN coalesce(c.name, peers.names, 'Just you')
            ELSE u.display_name END AS other_name,
       lm.body AS last_body, lm.author_id AS last_author_id, lm.created_at AS last_at,
       (SELECT count(*) FROM messages x WHERE x.conversation_id = c.id
          AND x.id > me.last_read_message_id AND x.author_id <> me.user_id
          AND NOT x.system AND {visible("x", "me")}) AS unread,
       me.last_read_message_id AS last_read, coalesce(other.state, 'active') AS other_state,
       coalesce(other.last_read_message_id, peers.min_read, 0) AS peer_read,
       coalesce(other.delivered_message_id, peers.min_delivered, 0) AS peer_delivered,
       EXISTS (SELECT 1 FROM presence p WHERE p.user_id = other.user_id
               AND p.expires_at > now()) AS other_online,
       u.last_seen_at AS other_last_seen, me.delivered_message_id AS delivered,
       c.last_message_id AS last_id, c.last_seq, c.kind, me.role, me.visible_from,
       peers.reads AS peer_reads, peers.deliveries AS peer_deliveries,
       la.display_name AS last_author_name, coalesce(lm.system, false) AS last_system,
       (SELECT a.name FROM attachments a WHERE a.message_id = lm.id) AS last_file
FROM memberships me
JOIN conversations c ON c.id = me.conversation_id
LEFT JOIN memberships other ON c.kind = 'direct' AND other.conversation_id = c.id
  AND other.user_id <> me.user_id
LEFT JOIN users u ON u.id = other.user_id
LEFT JOIN LATERAL (
  SELECT array_agg(o.last_read_message_id) AS reads,
         array_agg(o.delivered_message_id) AS deliveries,
         min(o.last_read_message_id) AS min_read, min(o.delivered_message_id) AS min_delivered,
         array_to_string((array_agg(ou.display_name ORDER BY o.id))[1:3], ', ') AS names
  FROM memberships o JOIN users ou ON ou.id = o.user_id
  WHERE c.kind = 'group' AND o.conversation_id = c.id AND o.user_id <> me.user_id
    AND {current("o")}
) peers ON true
LEFT JOIN messages lm ON lm.id = c.last_message_id AND {visible("lm", "me")}
LEFT JOIN users la ON c.kind = 'group' AND la.id = lm.author_id
WHERE {current("me")} AND {{where}}
ORDER BY c.last_activity_at DESC, c.id DESC
"""

_ENTRIES_OF_VIEWER_SQL = _ENTRIES_SQL.format(where="me.user_id = $1")
_ENTRIES_FOR_MEMBERS_SQL = _ENTRIES_SQL.format(where="c.id = $1 AND me.user_id = ANY($2::int[])")
_ENTRIES_WITH_PERSON_SQL = _ENTRIES_SQL.format(
    where="other.user_id = $1 AND me.user_id = ANY($2::int[])"
)


_ENTRIES_FOR_PAIRS_SQL = _ENTRIES_SQL.format(
    where="(c.id, me.user_id) IN (SELECT * FROM unnest($1::int[], $2::int[]))"
)


async def entries_for_pairs(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], Entry]:
    """The entries of several (conversation, member) pairs in one round trip (a batch of a
    group's ticks); a pair whose member no longer sees the conversation is absent."""
    conversations, users = [c for c, _ in pairs], [u for _, u in pairs]
    rows = await db.fetch(_ENTRIES_FOR_PAIRS_SQL, conversations, users)
    return {(row["id"], row["viewer_id"]): Entry(**row) for row in rows}


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


_FILE_FIELDS = tuple(sorted({*Attachment._meta.db_fields, "message_id"}))
# A pushed message's author and file come in the same row (one index lookup each; most
# messages have no file).
_SELECT_MESSAGE = ", ".join(
    [
        *(f"m.{name} AS message_{name}" for name in MESSAGE_COLUMNS),
        "au.display_name AS message_author_name",
        *(f"a.{name} AS file_{name}" for name in _FILE_FIELDS),
    ]
)


def _message_of(row: Mapping[str, Any]) -> Message:
    message = message_of(row, "message_")
    if row["file_id"] is not None:
        message.file = Attachment._init_from_db(
            **{name: row[f"file_{name}"] for name in _FILE_FIELDS}
        )
    return message


# The fan-out's one statement: the message, and each recipient's entry beside it.
_MESSAGE_WITH_ENTRIES_SQL = f"""
SELECT e.*, {_SELECT_MESSAGE}
FROM ({_ENTRIES_FOR_MEMBERS_SQL}) e
JOIN messages m ON m.id = $3 AND m.conversation_id = $1 AND {visible("m", "e")}
JOIN users au ON au.id = m.author_id
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
JOIN users au ON au.id = m.author_id
LEFT JOIN attachments a ON a.message_id = m.id
CROSS JOIN LATERAL ({
    _ENTRIES_SQL.format(where="c.id = wanted.conversation_id AND me.user_id = ANY($3::int[])")
}) e
WHERE {visible("m", "e")}
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
