"""Live events: what a committed change tells every worker, and the one way to announce it.

A verb queues `pg_notify` inside its transaction, so an announcement goes out only on commit
(STYLE §3). Payloads carry ids, never HTML, and stay far below PostgreSQL's 8,000 bytes. Every
event names the users it concerns in `to`; each worker's hub keeps it only if one of them has a
tab there. Python verbs call `notify()`; a verb that is one SQL statement embeds `notify_sql()`.
Listener, hub, frames and the session cache read events back through `Event.parse`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

log = logging.getLogger(__name__)

CHANNEL = "chatin"


class Kind(StrEnum):
    """Every event kind, with the ids its payload carries besides `to`."""

    MESSAGE = "message"  # conversation, message: a new message was stored
    CHANGE = "change"  # conversation, message, seq: an existing message changed
    CONVERSATION = "conversation"  # conversation, change: started, accepted or blocked
    READ = "read"  # conversation, member, after, upto, group: member read (after, upto]
    DELIVERED = "delivered"  # conversation, member, after, upto, group: reached their tab
    TYPING = "typing"  # conversation, member: member is typing (nothing stored)
    PRESENCE = "presence"  # user: came online or went offline
    PROFILE = "profile"  # user: changed their display name or picture
    LOGOUT = "logout"  # session: this session ended; its sockets close
    CHECK = "check"  # check: `python -m chatin doctor` asks every worker to answer
    ANSWER = "answer"  # check, worker: a worker (its listener's backend pid) heard `check`


class Change(StrEnum):
    """What happened to a conversation (Kind.CONVERSATION)."""

    NEW = "new"
    ACCEPTED = "accepted"
    BLOCKED = "blocked"
    MEMBERS = "members"  # a group's members or name changed: a leaver loses it


@dataclass(frozen=True, slots=True)
class Event:
    """One announcement as a worker reads it; fields a kind does not carry stay None."""

    kind: Kind
    to: tuple[int, ...]
    conversation: int | None = None
    message: int | None = None
    member: int | None = None
    user: int | None = None
    session: int | None = None
    change: Change | None = None
    after: int | None = None
    upto: int | None = None
    check: int | None = None
    worker: int | None = None
    seq: int | None = None
    group: int | None = None  # receipts: 1 when the conversation is a group
    tab: int | None = None  # a message: the sending page's token (see live.hub), if it gave one

    @classmethod
    def parse(cls, payload: str) -> Event | None:
        """The event in a NOTIFY payload; None (and a log line) for anything unknown."""
        try:
            data = json.loads(payload)
            kind = Kind(data.pop("kind"))
            to = data.pop("to", None) or []
            change = data.pop("change", None)
            if not isinstance(to, list) or not all(map(_is_id, [*to, *data.values()])):
                raise ValueError("ids must be integers")
            return cls(kind, tuple(to), change=Change(change) if change else None, **data)
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("ignoring a malformed notification: %r", payload[:200])
            return None


def _is_id(value: object) -> bool:
    """An id as SQL announces it: a JSON integer (or null for a missing cursor)."""
    return value is None or (type(value) is int)


async def notify(conn: BaseDBAsyncClient, kind: Kind, **ids: Any) -> None:
    """Queue an announcement on conn's transaction; PostgreSQL sends it only on commit."""
    payload = json.dumps({"kind": kind.value, **ids})
    await conn.execute_query("SELECT pg_notify($1, $2)", [CHANNEL, payload])


def notify_sql(kind: Kind, fields: str) -> str:
    """A `pg_notify` expression for one SQL statement: `fields` are the payload's
    `json_build_object` pairs after the kind (ids, and `'to'`)."""
    return f"pg_notify('{CHANNEL}', json_build_object('kind', '{kind.value}', {fields})::text)"
