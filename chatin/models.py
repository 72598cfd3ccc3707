"""The domain: accounts, conversations and messages, with the verbs that change them."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID

import bcrypt
from email_validator import EmailNotValidError, validate_email
from tortoise import connections, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from chatin import db

MAX_DISPLAY_NAME_CHARS = 80
MAX_EMAIL_CHARS = 254
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt refuses longer secrets
NOTIFY_CHANNEL = "chatin"


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    """A real hash of a random secret, at the cost new accounts get: unknown emails are
    checked against it, so a log-in takes as long whether or not the account exists."""
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds))


class NotFound(Exception):
    """Missing, or not visible to this viewer: one answer for both, so ids can't be probed."""


class InvalidInput(Exception):
    """User input broke a rule; `errors` maps each form field to what to fix."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {text}" for field, text in errors.items()))
        self.errors = errors


class User(Model):
    id = fields.IntField(primary_key=True)
    display_name = fields.CharField(max_length=MAX_DISPLAY_NAME_CHARS)
    email = fields.CharField(max_length=MAX_EMAIL_CHARS, description="as the person typed it")
    email_key = fields.CharField(
        max_length=MAX_EMAIL_CHARS, unique=True, description="lower-cased: one account per email"
    )
    password_hash = fields.CharField(max_length=60)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField(null=True, description="when their last tab closed")

    class Meta:
        table = "users"

    @staticmethod
    def email_key_of(email: str) -> str:
        return email.strip().lower()

    @classmethod
    async def sign_up(cls, display_name: str, email: str, password: str, rounds: int) -> User:
        """Create an account; every broken rule is reported at once, per field."""
        name, address = display_name.strip(), email.strip()
        errors = _display_name_errors(name) | _email_errors(address) | _password_errors(password)
        if errors:
            raise InvalidInput(errors)
        if await cls.filter(email_key=cls.email_key_of(address)).exists():
            raise InvalidInput({"email": "An account with this email already exists."})
        salt = bcrypt.gensalt(rounds)
        hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)
        try:
            return await cls.create(
                display_name=name,
                email=address,
                email_key=cls.email_key_of(address),
                password_hash=hashed.decode(),
            )
        except IntegrityError:
            raise InvalidInput({"email": "An account with this email already exists."}) from None

    async def rename(self, display_name: str) -> None:
        """Change the display name; everyone sharing a conversation sees it live."""
        name = display_name.strip()
        errors = _display_name_errors(name)
        if errors:
            raise InvalidInput(errors)
        async with in_transaction() as conn:
            await User.filter(id=self.id).using_db(conn).update(display_name=name)
            await notify(conn, "profile", user=self.id, to=[self.id, *await self.contact_ids(conn)])
        self.display_name = name

    async def change_password(
        self, current: str, new: str, rounds: int, keep_session: int | None
    ) -> None:
        """Set a new password after checking the current one; every other session ends."""
        stored = self.password_hash.encode()
        if not await asyncio.to_thread(_password_matches, current, stored, rounds):
            raise InvalidInput({"current_password": "That isn't your current password."})
        errors = _password_errors(new)
        if errors:
            raise InvalidInput({"new_password": errors["password"]})
        hashed = await asyncio.to_thread(bcrypt.hashpw, new.encode(), bcrypt.gensalt(rounds))
        async with in_transaction() as conn:
            await User.filter(id=self.id).using_db(conn).update(password_hash=hashed.decode())
            ended = AuthSession.filter(user_id=self.id).exclude(id=keep_session or 0)
            for session_id in await ended.using_db(conn).values_list("id", flat=True):
                await notify(conn, "logout", session=session_id, to=[self.id])
            await ended.using_db(conn).delete()
        self.password_hash = hashed.decode()

    async def contact_ids(self, conn: BaseDBAsyncClient | None = None) -> list[int]:
        """Everyone who shares a conversation with this user and still sees it."""
        rows = await (conn or _connection()).execute_query_dict(
            "SELECT DISTINCT other.user_id FROM memberships me JOIN memberships other "
            "ON other.conversation_id = me.conversation_id AND other.user_id <> me.user_id "
            "WHERE me.user_id = $1 AND other.state <> 'blocked'",
            [self.id],
        )
        return [row["user_id"] for row in rows]

    @classmethod
    async def authenticate(cls, email: str, password: str, rounds: int) -> User | None:
        """The account for these credentials, or None; same cost for unknown emails."""
        user = await cls.get_or_none(email_key=cls.email_key_of(email))
        stored = user.password_hash.encode() if user else None
        if not await asyncio.to_thread(_password_matches, password, stored, rounds):
            return None
        return user


def _password_matches(password: str, stored_hash: bytes | None, rounds: int) -> bool:
    """bcrypt's check, in a worker thread; no account still costs one full check."""
    try:
        return bcrypt.checkpw(password.encode(), stored_hash or _dummy_hash(rounds)) and bool(
            stored_hash
        )
    except ValueError:  # longer than bcrypt accepts: can't be the password
        return False


def _display_name_errors(name: str) -> dict[str, str]:
    if not name:
        return {"display_name": "Enter a display name."}
    if len(name) > MAX_DISPLAY_NAME_CHARS:
        return {"display_name": f"Use at most {MAX_DISPLAY_NAME_CHARS} characters."}
    if not name.isprintable():
        return {"display_name": "Use letters, digits, spaces and punctuation only."}
    return {}


def _email_errors(address: str) -> dict[str, str]:
    if len(address) > MAX_EMAIL_CHARS:
        return {"email": f"Use at most {MAX_EMAIL_CHARS} characters."}
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return {"email": "Enter a valid email address, like name@example.com."}
    return {}


def _password_errors(password: str) -> dict[str, str]:
    if len(password) < MIN_PASSWORD_CHARS:
        return {"password": f"Use at least {MIN_PASSWORD_CHARS} characters."}
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return {"password": f"Use at most {MAX_PASSWORD_BYTES} bytes (about 70 letters)."}
    return {}


class AuthSession(Model):
    """One logged-in browser. The cookie holds a random token; we keep only its hash."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "chatin.User", related_name="sessions", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "auth_sessions"

    @staticmethod
    def hash_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    async def begin(cls, user: User) -> str:
        """Open a session for user; the returned token goes into the signed cookie."""
        token = secrets.token_urlsafe(32)
        await cls.create(user=user, token_hash=cls.hash_of(token))
        return token

    @classmethod
    async def viewer(cls, token: str) -> tuple[User, int] | None:
        """The user and session id behind a token, or None once the session has ended.

        Raw SQL: this runs on every request and socket open.
        """
        rows = await db.fetch(
            "SELECT s.id AS session_id, u.id, u.display_name, u.email, u.email_key, "
            "u.password_hash, u.created_at, u.last_seen_at "
            "FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
            cls.hash_of(token),
        )
        if not rows:
            return None
        row = dict(rows[0])
        session_id = row.pop("session_id")
        return User._init_from_db(**row), session_id

    @classmethod
    async def end(cls, token: str) -> None:
        await cls.filter(token_hash=cls.hash_of(token)).delete()


class ThrottleHit(Model):
    """One counted event (a failed log-in, a sign-up) for a throttle key.

    Kept in PostgreSQL so every worker and node sees the same counts.
    """

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=300)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "throttle_hits"
        indexes = (("key", "at"),)


class Throttle:
    """A sliding-window limit: at most `limit` hits per key within `window`."""

    def __init__(self, name: str, limit: int, window: timedelta) -> None:
        self.name = name
        self.limit = limit
        self.window = window

    def _key(self, part: str) -> str:
        return f"{self.name}:{part}"[:300]

    async def retry_after(self, *parts: str) -> int | None:
        """Seconds until a key is allowed again, or None when none is over its limit."""
        conn = _connection()
        rows = await conn.execute_query_dict(
            "SELECT key, count(*) AS hits, min(at) AS oldest FROM throttle_hits "
            "WHERE key = ANY($1::text[]) AND at > now() - $2::interval GROUP BY key",
            [[self._key(part) for part in parts], self.window],
        )
        waits = [
            _seconds_until(row["oldest"] + self.window) for row in rows if row["hits"] >= self.limit
        ]
        return max(waits) if waits else None

    async def hit(self, *parts: str) -> None:
        """Count one event for each key, forgetting hits older than the window."""
        conn = _connection()
        await conn.execute_query(
            "DELETE FROM throttle_hits WHERE at <= now() - $1::interval", [self.window]
        )
        await conn.execute_query(
            "INSERT INTO throttle_hits (key, at) SELECT unnest($1::text[]), now()",
            [[self._key(part) for part in parts]],
        )


def _seconds_until(moment: datetime) -> int:
    remaining = (moment - datetime.now(UTC)).total_seconds()
    return max(1, int(remaining) + 1)


def _connection() -> BaseDBAsyncClient:
    return connections.get("default")


MAX_MESSAGE_CHARS = 4_000
PAGE_SIZE = 50


class TooLong(Exception):
    """A message over MAX_MESSAGE_CHARS; nothing was stored."""


class TooFast(Exception):
    """The author sent more than SEND_LIMIT messages within SEND_WINDOW; nothing stored."""


SEND_LIMIT = 20
SEND_WINDOW = timedelta(seconds=10)


class NotDelivered(Exception):
    """The other side does not take messages from this author (they blocked them)."""


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class MemberState(StrEnum):
    REQUEST = "request"  # someone started a chat with this member, who hasn't answered
    ACTIVE = "active"
    BLOCKED = "blocked"  # this member blocked the conversation: hidden, takes no messages


class MemberRole(StrEnum):
    OWNER = "owner"
    MEMBER = "member"


class Conversation(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(ConversationKind, max_length=8, default=ConversationKind.DIRECT)
    direct_key = fields.CharField(
        max_length=40, null=True, unique=True, description="'<low id>:<high id>': one per pair"
    )
    last_message_id = fields.BigIntField(null=True)
    last_activity_at = fields.DatetimeField(auto_now_add=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "conversations"

    @staticmethod
    def direct_key_of(a: int, b: int) -> str:
        low, high = sorted((a, b))
        return f"{low}:{high}"

    @classmethod
    def handle(cls, conversation_id: int) -> Conversation:
        """An unloaded conversation for verbs that check membership themselves (post)."""
        return cls._init_from_db(id=conversation_id)

    @classmethod
    async def visible_to(cls, viewer: User, conversation_id: int) -> Conversation:
        """The conversation if viewer is a member who hasn't blocked it; else NotFound."""
        found = await cls.filter(
            id=conversation_id,
            memberships__user_id=viewer.id,
            memberships__state__in=(MemberState.REQUEST, MemberState.ACTIVE),
        ).first()
        if found is None:
            raise NotFound
        return found

    @classmethod
    async def start_direct(cls, starter: User, email: str) -> Conversation:
        """Open (or find) the one-to-one conversation with the account behind email.

        A new conversation is a request on the other side until they accept or write back.
        """
        other = await User.get_or_none(email_key=User.email_key_of(email))
        if other is None:
            raise InvalidInput({"contact_email": "No one with that email uses ChatIn yet."})
        if other.id == starter.id:
            raise InvalidInput({"contact_email": "That's your own email."})
        key = cls.direct_key_of(starter.id, other.id)
        async with in_transaction() as conn:
            conversation, created = await cls.get_or_create(direct_key=key, using_db=conn)
            if created:
                await Membership.bulk_create(
                    [
                        Membership(
                            conversation=conversation,
                            user=starter,
                            role=MemberRole.OWNER,
                            state=MemberState.ACTIVE,
                        ),
                        Membership(
                            conversation=conversation, user=other, state=MemberState.REQUEST
                        ),
                    ],
                    using_db=conn,
                )
                await notify(
                    conn, "conversation", conversation=conversation.id, change="new", to=[other.id]
                )
            else:
                await conversation.accept(starter, conn)
        return conversation

    async def accept(self, member: User, conn: BaseDBAsyncClient | None = None) -> None:
        """A request becomes a normal conversation for member; blocked stays blocked."""
        conn = conn or _connection()
        updated = (
            await Membership.filter(
                conversation_id=self.id, user_id=member.id, state=MemberState.REQUEST
            )
            .using_db(conn)
            .update(state=MemberState.ACTIVE)
        )
        if updated:
            members = await self.member_ids(conn)
            await notify(conn, "conversation", conversation=self.id, change="accepted", to=members)

    async def block(self, member: User) -> None:
        """Hide the conversation from member and refuse the others' messages to them."""
        async with in_transaction() as conn:
            await (
                Membership.filter(conversation_id=self.id, user_id=member.id)
                .using_db(conn)
                .update(state=MemberState.BLOCKED)
            )
            others = await self.member_ids(conn, exclude=member.id)
            await notify(
                conn,
                "conversation",
                conversation=self.id,
                change="blocked",
                to=[member.id, *others],
            )

    async def post(self, author: User, body: str, client_id: UUID, limited: bool = True) -> Message:
        """Store a message once per client_id and announce it on commit.

        One statement: lock the conversation (so its ids commit in order, which the
        catch-up cursor relies on), check the author may write, insert, move the
        conversation up, and queue the NOTIFY.
        """
        body = Message.clean(body)
        limit = SEND_LIMIT if limited else None
        rows = await db.fetch(
            _POST_SQL, self.id, author.id, body, str(client_id), limit, SEND_WINDOW
        )
        outcome = rows[0]
        if outcome["my_state"] not in (MemberState.REQUEST, MemberState.ACTIVE):
            raise NotFound
        if outcome["blocked"]:
            raise NotDelivered
        if outcome["too_fast"]:
            raise TooFast
        if outcome["id"] is None:  # this client_id was used before: the retry stores nothing
            return await Message.get(author_id=author.id, client_id=client_id)
        return Message(
            id=outcome["id"],
            conversation_id=self.id,
            author_id=author.id,
            body=body,
            client_id=client_id,
            created_at=outcome["created_at"],
        )

    async def messages_before(self, before: int | None, limit: int = PAGE_SIZE) -> list[Message]:
        """Up to `limit` messages older than id `before` (newest page when None), oldest first."""
        query = Message.filter(conversation_id=self.id)
        if before is not None:
            query = query.filter(id__lt=before)
        page = await query.order_by("-id").limit(limit)
        return list(reversed(page))

    async def messages_after(self, after: int, limit: int) -> list[Message]:
        """Messages newer than id `after`, oldest first: what a reconnecting tab missed."""
        return (
            await Message.filter(conversation_id=self.id, id__gt=after).order_by("id").limit(limit)
        )

    async def mark_read(self, reader: User, upto: int) -> None:
        """Reader has seen everything up to message `upto`: never moves back, never past
        the latest message; a change is announced to every member."""
        await _connection().execute_query(_MARK_READ_SQL, [self.id, reader.id, upto])

    async def announce_typing(self, typist: User) -> None:
        """Tell the other members that typist is typing; nothing is stored."""
        await notify(
            _connection(),
            "typing",
            conversation=self.id,
            member=typist.id,
            to=await self.member_ids(exclude=typist.id),
        )

    async def member_ids(
        self, conn: BaseDBAsyncClient | None = None, exclude: int | None = None
    ) -> list[int]:
        """Members who see this conversation (a blocker no longer does)."""
        query = Membership.filter(conversation_id=self.id).exclude(state=MemberState.BLOCKED)
        if exclude is not None:
            query = query.exclude(user_id=exclude)
        return list(await query.using_db(conn).values_list("user_id", flat=True))


# A receipt cursor moved (rows of `moved`): tell every member who still sees the conversation.
_ANNOUNCE_MOVED = """
SELECT pg_notify('chatin', json_build_object(
  'kind', '{kind}', 'conversation', moved.conversation_id, 'member', moved.user_id,
  'after', moved.before, 'upto', moved.upto,
  'to', (SELECT array_agg(user_id) FROM memberships
         WHERE conversation_id = moved.conversation_id AND state <> 'blocked'))::text)
FROM moved
"""

# Read implies delivered. The old cursor rides in the announcement so that tabs can update
# exactly the messages whose status changed.
_MARK_READ_SQL = """
WITH target AS (
  SELECT m.id, m.last_read_message_id AS before, LEAST($3::bigint, c.last_message_id) AS upto
  FROM memberships m JOIN conversations c ON c.id = m.conversation_id
  WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.state <> 'blocked'
  FOR UPDATE OF m
), moved AS (
  UPDATE memberships m
  SET last_read_message_id = t.upto,
      delivered_message_id = GREATEST(m.delivered_message_id, t.upto)
  FROM target t
  WHERE m.id = t.id AND t.upto > m.last_read_message_id
  RETURNING m.conversation_id, m.user_id, t.before, t.upto
)
""" + _ANNOUNCE_MOVED.format(kind="read")

# One statement for a batch of (conversation, member, message id) that reached a tab.
_DELIVERED_SQL = """
WITH input AS (
  SELECT * FROM unnest($1::int[], $2::int[], $3::bigint[]) AS t(conversation_id, user_id, upto)
), target AS (
  SELECT m.id, m.delivered_message_id AS before, max(i.upto) AS upto
  FROM memberships m JOIN input i USING (conversation_id, user_id)
  GROUP BY m.id, m.delivered_message_id
  HAVING max(i.upto) > m.delivered_message_id
), moved AS (
  UPDATE memberships m SET delivered_message_id = t.upto
  FROM target t
  WHERE m.id = t.id AND t.upto > m.delivered_message_id
  RETURNING m.conversation_id, m.user_id, t.before, t.upto
)
""" + _ANNOUNCE_MOVED.format(kind="delivered")


async def record_deliveries(reached: list[tuple[int, int, int]]) -> None:
    """Messages reached these (conversation, member) tabs up to these ids; authors hear of it."""
    if not reached:
        return
    conversations, users, upto = (list(column) for column in zip(*reached, strict=True))
    await _connection().execute_query(_DELIVERED_SQL, [conversations, users, upto])


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


class Membership(Model):
    id = fields.IntField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "chatin.Conversation", related_name="memberships", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "chatin.User", related_name="memberships", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(MemberRole, max_length=8, default=MemberRole.MEMBER)
    state = fields.CharEnumField(MemberState, max_length=8, default=MemberState.ACTIVE)
    last_read_message_id = fields.BigIntField(default=0)
    delivered_message_id = fields.BigIntField(
        default=0, description="highest message id that reached one of this member's tabs"
    )
    joined_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "memberships"
        unique_together = (("conversation", "user"),)
        indexes = (("user_id", "state"),)


class Message(Model):
    id = fields.BigIntField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
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
        """The body as stored: line endings normalised, edges trimmed, size bounded."""
        text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
        if not text:
            raise InvalidInput({"body": "Write something first."})
        if len(text) > MAX_MESSAGE_CHARS:
            raise TooLong
        return text


# $1 conversation, $2 author, $3 body, $4 client_id, $5 most messages per author within
# $6 (NULL: no limit; counted in the database, so it holds across workers and nodes).
# Writing back accepts a request, and the author has read (and received) their own message.
_POST_SQL = """
WITH members AS (
  SELECT m.user_id, m.state FROM memberships m JOIN conversations c ON c.id = m.conversation_id
  WHERE c.id = $1 FOR UPDATE OF c
), verdict AS (
  SELECT (SELECT state FROM members WHERE user_id = $2) AS my_state,
         EXISTS (SELECT 1 FROM members WHERE state = 'blocked') AS blocked,
         $5::int IS NOT NULL AND (
           SELECT count(*) FROM messages WHERE author_id = $2
             AND created_at > now() - $6::interval) >= $5::int AS too_fast
), inserted AS (
  INSERT INTO messages (conversation_id, author_id, body, client_id, created_at)
  SELECT $1, $2, $3, $4::uuid, now() FROM verdict
  WHERE verdict.my_state IN ('request', 'active') AND NOT verdict.blocked
    AND NOT verdict.too_fast
  ON CONFLICT (author_id, client_id) DO NOTHING
  RETURNING id, created_at
), moved AS (
  UPDATE conversations SET last_message_id = i.id, last_activity_at = i.created_at
  FROM inserted i WHERE conversations.id = $1
  RETURNING 1
), mine AS (
  UPDATE memberships SET last_read_message_id = i.id, delivered_message_id = i.id,
    state = CASE WHEN state = 'request' THEN 'active' ELSE state END
  FROM inserted i WHERE conversation_id = $1 AND user_id = $2
  RETURNING 1
), announced AS (
  SELECT pg_notify('chatin', json_build_object(
    'kind', 'message', 'conversation', $1::int, 'message', i.id,
    'to', (SELECT array_agg(user_id) FROM members))::text)
  FROM inserted i
)
SELECT v.my_state, v.blocked, v.too_fast, i.id, i.created_at,
       (SELECT count(*) FROM announced) + (SELECT count(*) FROM moved)
         + (SELECT count(*) FROM mine) AS writes
FROM verdict v LEFT JOIN inserted i ON true
"""


async def notify(conn: BaseDBAsyncClient, kind: str, **ids: int | str | list[int]) -> None:
    """Queue an announcement of ids (never HTML) that PostgreSQL sends only on commit."""
    payload = json.dumps({"kind": kind, **ids})
    await conn.execute_query("SELECT pg_notify($1, $2)", [NOTIFY_CHANNEL, payload])


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

    @property
    def is_request(self) -> bool:
        return self.state == MemberState.REQUEST

    @property
    def last_is_mine(self) -> bool:
        return self.last_author_id == self.viewer_id

    @property
    def shows_presence(self) -> bool:
        """Presence is for people who both accepted the conversation (and nobody blocked)."""
        return self.state == MemberState.ACTIVE and self.other_state == MemberState.ACTIVE

    def status_of(self, message_id: int) -> str:
        """The viewer's own message as the other side has it: Read, Delivered or Sent."""
        if message_id <= self.peer_read:
            return "Read"
        if message_id <= self.peer_delivered:
            return "Delivered"
        return "Sent"


_ENTRY_FIELDS = tuple(Entry.__dataclass_fields__)

_ENTRIES_SQL = """
SELECT c.id, me.user_id AS viewer_id, me.state, other.user_id AS other_id,
       u.display_name AS other_name, lm.body AS last_body, lm.author_id AS last_author_id,
       lm.created_at AS last_at,
       (SELECT count(*) FROM messages x WHERE x.conversation_id = c.id
          AND x.id > me.last_read_message_id AND x.author_id <> me.user_id) AS unread,
       me.last_read_message_id AS last_read, other.state AS other_state,
       other.last_read_message_id AS peer_read, other.delivered_message_id AS peer_delivered,
       EXISTS (SELECT 1 FROM presence p WHERE p.user_id = other.user_id
               AND p.expires_at > now()) AS other_online,
       u.last_seen_at AS other_last_seen
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


_MESSAGE_FIELDS = ("id", "conversation_id", "author_id", "body", "client_id", "created_at")

# The fan-out's one statement: the message, and each recipient's entry beside it.
_MESSAGE_WITH_ENTRIES_SQL = f"""
SELECT e.*, {", ".join(f"m.{name} AS message_{name}" for name in _MESSAGE_FIELDS)}
FROM ({_ENTRIES_FOR_MEMBERS_SQL}) e
JOIN messages m ON m.id = $3 AND m.conversation_id = $1
"""


async def message_with_entries(
    conversation_id: int, message_id: int, user_ids: list[int]
) -> tuple[Message | None, dict[int, Entry]]:
    """A new message and its recipients' list entries, loaded once per worker in one
    round trip (the hot path of every message). No message: no entries either."""
    rows = await db.fetch(_MESSAGE_WITH_ENTRIES_SQL, conversation_id, user_ids, message_id)
    if not rows:
        return None, {}
    first = rows[0]
    message = Message._init_from_db(**{name: first[f"message_{name}"] for name in _MESSAGE_FIELDS})
    entries = {}
    for row in rows:
        fields_of_entry = {name: row[name] for name in _ENTRY_FIELDS}
        entries[row["viewer_id"]] = Entry(**fields_of_entry)
    return message, entries


PRESENCE_TTL = timedelta(seconds=45)


class Presence(Model):
    """A worker's claim that a user has a tab open there, renewed while it lasts.

    Claims from a crashed worker simply expire, so presence needs no cleanup process.
    """

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
        await _connection().execute_query(_ARRIVE_SQL, [worker, user_id, PRESENCE_TTL])

    @classmethod
    async def leave(cls, worker: str, user_id: int) -> None:
        """Drop this worker's claim; if no claim is left, they are offline as of now."""
        await _connection().execute_query(_LEAVE_SQL, [worker, user_id])

    @classmethod
    async def renew(cls, worker: str, user_ids: list[int]) -> None:
        await _connection().execute_query(
            "UPDATE presence SET expires_at = now() + $3::interval "
            "WHERE worker = $1 AND user_id = ANY($2::int[])",
            [worker, user_ids, PRESENCE_TTL],
        )


# Whose presence changes reach: people who share a conversation both sides accepted.
_CONTACTS_OF = """(SELECT coalesce(array_agg(other.user_id), '{}') FROM memberships me
  JOIN memberships other ON other.conversation_id = me.conversation_id
   AND other.user_id <> me.user_id
  WHERE me.user_id = $2 AND me.state = 'active' AND other.state = 'active')"""

_ARRIVE_SQL = f"""
WITH was AS (
  SELECT EXISTS (SELECT 1 FROM presence WHERE user_id = $2 AND expires_at > now()) AS online
), claim AS (
  INSERT INTO presence (worker, user_id, expires_at) VALUES ($1, $2, now() + $3::interval)
  ON CONFLICT (worker, user_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
  RETURNING user_id
)
SELECT pg_notify('chatin', json_build_object(
  'kind', 'presence', 'user', $2::int, 'to', {_CONTACTS_OF})::text)
FROM claim, was WHERE NOT was.online
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
SELECT pg_notify('chatin', json_build_object(
  'kind', 'presence', 'user', $2::int, 'to', {_CONTACTS_OF})::text)
FROM offline
"""


async def person_is_online(user_id: int) -> bool:
    return await Presence.filter(user_id=user_id, expires_at__gt=datetime.now(UTC)).exists()
