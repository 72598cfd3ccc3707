"""Reactions: one emoji per person per message, from the set the app serves.

A reaction is a change to its message like an edit: it takes the next place in the
conversation's sequence under the conversation's lock, marks the message changed and is
announced as `Kind.CHANGE`, so live pushes and the reconnect catch-up (which replays a
changed message as it now is) carry reactions with no path of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import emoji as emoji_data
from tortoise import fields
from tortoise.models import Model

from chatin import db
from chatin.events import Kind, notify_sql
from chatin.models.accounts import User
from chatin.models.errors import Deleted, InvalidInput, NotDelivered, NotFound
from chatin.models.messages import LOCK_CONVERSATION_SQL, Message
from chatin.models.visibility import CURRENT_STATES, visible

QUICK_REACTIONS = ("👍", "❤️", "😂", "😮", "😢", "🙏")
MAX_EMOJI_CHARS = 32
PICKER_SIZE = 240
NOT_AN_EMOJI = "Pick one emoji from the list."
_SKIN_TONES = frozenset(chr(code) for code in range(0x1F3FB, 0x1F400))


def _name(text: str) -> str:
    return text.strip(":").replace("_", " ")


def _served() -> dict[str, str]:
    """Every fully qualified emoji of the `emoji` package with its English name, smileys
    first: the only reactions accepted, and the picker's list."""
    qualified = emoji_data.STATUS["fully_qualified"]
    found = {
        text: _name(data["en"])
        for text, data in emoji_data.EMOJI_DATA.items()
        if data["status"] == qualified and len(text) <= MAX_EMOJI_CHARS
    }
    return dict(sorted(found.items(), key=lambda item: (not 0x1F600 <= ord(item[0][0]) < 0x1F650,)))


EMOJI_NAMES = _served()


def is_reaction(text: str) -> bool:
    return text in EMOJI_NAMES


def find_emoji(query: str, limit: int = PICKER_SIZE) -> list[tuple[str, str]]:
    """The picker's emoji whose name holds every word of query (without skin tones when
    there is no query, so the first screen is the emoji themselves), at most `limit`."""
    words = query.casefold().split()
    found = []
    for text, name in EMOJI_NAMES.items():
        if (words and all(word in name for word in words)) or (
            not words and _SKIN_TONES.isdisjoint(text)
        ):
            found.append((text, name))
        if len(found) >= limit:
            break
    return found


class Reaction(Model):
    id = fields.BigIntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "chatin.Message", related_name="reactions", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "chatin.User", related_name="reactions", on_delete=fields.CASCADE
    )
    emoji = fields.CharField(max_length=MAX_EMOJI_CHARS)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reactions"
        unique_together = (("message", "user"),)


# One reaction change, run after the conversation's lock (see _change): check the person may
# write here and the message is there and not deleted, make the change, and only if it
# changed anything give the message the next place in the sequence and announce it.
# $1 conversation, $2 message, $3 person, $4 emoji.
_REACT_SQL = f"""
WITH members AS (
  SELECT user_id, state FROM memberships WHERE conversation_id = $1
), verdict AS (
  SELECT (SELECT state FROM members WHERE user_id = $3) AS my_state,
         EXISTS (SELECT 1 FROM members WHERE state = 'blocked') AS blocked,
         m.id AS found, m.author_id, m.deleted_at IS NOT NULL AS deleted
  FROM (SELECT 1) one
  LEFT JOIN memberships me ON me.conversation_id = $1 AND me.user_id = $3
  LEFT JOIN messages m ON m.id = $2 AND m.conversation_id = $1 AND {visible("m", "me")}
), allowed AS (
  SELECT 1 FROM verdict WHERE my_state IN ('request', 'active') AND NOT blocked
    AND found IS NOT NULL AND NOT deleted
), touched AS ({{verb}}
), changed AS (
  UPDATE messages SET seq = c.last_seq + 1, changed = true FROM conversations c
  WHERE c.id = $1 AND messages.id = $2 AND EXISTS (SELECT 1 FROM touched)
  RETURNING messages.id, messages.seq
), bumped AS (
  UPDATE conversations SET last_seq = c.seq FROM changed c WHERE conversations.id = $1
  RETURNING 1
), announced AS (
  SELECT {{announce}} FROM changed c
)
SELECT v.my_state, v.blocked, v.found, v.deleted, c.seq,
       (SELECT count(*) FROM bumped) + (SELECT count(*) FROM announced) AS writes
FROM verdict v LEFT JOIN changed c ON true
"""
_ANNOUNCE = notify_sql(
    Kind.CHANGE,
    "'conversation', $1::int, 'message', c.id, 'seq', c.seq, 'member', $3::int, "
    f"'to', (SELECT array_agg(user_id) FROM members WHERE state IN {CURRENT_STATES})",
)
# Choosing another emoji replaces one's reaction; the same one again changes nothing.
_SET_SQL = _REACT_SQL.format(
    verb="""
  INSERT INTO reactions (message_id, user_id, emoji, created_at)
  SELECT $2, $3, $4, now() FROM allowed
  ON CONFLICT (message_id, user_id) DO UPDATE
    SET emoji = EXCLUDED.emoji, created_at = EXCLUDED.created_at
    WHERE reactions.emoji <> EXCLUDED.emoji
  RETURNING 1""",
    announce=_ANNOUNCE,
)
# Only that emoji is taken back: a stale chip can't remove a reaction chosen since.
_UNSET_SQL = _REACT_SQL.format(
    verb="""
  DELETE FROM reactions WHERE message_id = $2 AND user_id = $3 AND emoji = $4
    AND EXISTS (SELECT 1 FROM allowed)
  RETURNING 1""",
    announce=_ANNOUNCE,
)


async def react(person: User, conversation_id: int, message_id: int, emoji: str) -> None:
    """Make emoji person's reaction to the message (replacing another); a retry, or the
    same emoji again, changes nothing. Anything but one served emoji is InvalidInput."""
    if not is_reaction(emoji):
        raise InvalidInput({"emoji": NOT_AN_EMOJI})
    await _change(_SET_SQL, person, conversation_id, message_id, emoji)


async def unreact(person: User, conversation_id: int, message_id: int, emoji: str) -> None:
    """Take back person's reaction if it is emoji (the target state, so a retry, or a tab
    that missed a newer choice, changes nothing)."""
    if not is_reaction(emoji):
        raise InvalidInput({"emoji": NOT_AN_EMOJI})
    await _change(_UNSET_SQL, person, conversation_id, message_id, emoji)


async def _change(
    sql: str, person: User, conversation_id: int, message_id: int, emoji: str
) -> None:
    """Lock the conversation first, so the statement's snapshot holds every change that
    committed before it (a delete that empties the message, another reaction)."""
    async with db.transaction():
        await db.execute(LOCK_CONVERSATION_SQL, conversation_id)
        rows = await db.fetch(sql, conversation_id, message_id, person.id, emoji)
    outcome = rows[0]
    if outcome["my_state"] not in ("request", "active") or outcome["found"] is None:
        raise NotFound
    if outcome["blocked"]:
        raise NotDelivered
    if outcome["deleted"]:
        raise Deleted


@dataclass
class Chip:
    """One emoji under a message: who chose it, oldest first."""

    emoji: str
    people: list[tuple[int, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.people)

    def has(self, user_id: int) -> bool:
        return any(person == user_id for person, _ in self.people)

    def label(self, viewer_id: int) -> str:
        """The chip's accessible name, for one viewer: "👍 2: Alice, you"."""
        names = ", ".join("you" if person == viewer_id else name for person, name in self.people)
        return f"{self.emoji} {self.count}: {names}"


_REACTIONS_OF_SQL = """
SELECT r.message_id, r.emoji, r.user_id, u.display_name
FROM reactions r JOIN users u ON u.id = r.user_id
WHERE r.message_id = ANY($1::bigint[])
ORDER BY r.message_id, r.created_at, r.id
"""


async def attach_reactions(messages: list[Message]) -> None:
    """Give each message its chips (`message.chips`), one query for the lot: a page, an
    older page, a catch-up or a push renders them with no query per message."""
    for message in messages:
        message.chips = []
    wanted = [message.id for message in messages if message.changed]
    if not wanted:
        return
    by_message: dict[int, dict[str, Chip]] = {}
    for row in await db.fetch(_REACTIONS_OF_SQL, wanted):
        chips = by_message.setdefault(row["message_id"], {})
        chip = chips.setdefault(row["emoji"], Chip(row["emoji"]))
        chip.people.append((row["user_id"], row["display_name"]))
    for message in messages:
        message.chips = list(by_message.get(message.id, {}).values())
