"""Conversations and their members: starting, accepting, blocking, posting, paging.

Posting is the hot path: one statement locks the conversation, checks the author, inserts
once per client_id, moves the conversation up and queues the announcement.
"""

from __future__ import annotations

from contextlib import nullcontext
from enum import StrEnum
from uuid import UUID

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.transactions import in_transaction

from chatin import db
from chatin.events import Change, Kind, notify, notify_sql
from chatin.models import messages, receipts
from chatin.models.accounts import User
from chatin.models.attachments import attach_files
from chatin.models.errors import InvalidInput, NotDelivered, NotFound, TooFast
from chatin.models.messages import PAGE_SIZE, SEND_LIMIT, SEND_WINDOW, Message
from chatin.models.replies import with_extras
from chatin.models.visibility import CURRENT_STATES, visible


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class MemberState(StrEnum):
    REQUEST = "request"  # someone started a chat with this member, who hasn't answered
    ACTIVE = "active"
    BLOCKED = "blocked"  # this member blocked the conversation: hidden, takes no messages
    LEFT = "left"  # left a group: sees nothing of it any more (404, like a stranger)
    REMOVED = "removed"  # removed from a group by an owner: the same as left


CURRENT = (MemberState.REQUEST, MemberState.ACTIVE)  # see models.visibility.current


class MemberRole(StrEnum):
    OWNER = "owner"
    MEMBER = "member"


# $1 conversation, $2 author, $3 body, $4 client_id, $5 most messages per author within
# $6 (NULL: no limit; counted in the database, so it holds across workers and nodes), $7 the
# message it replies to (NULL: none; one outside this conversation, or missing, is ignored).
# Writing back accepts a request (announced as an accept too), and the author has read (and
# received) their own message. The message takes the next place in the conversation's
# sequence of changes, read from the locked row (the statement's snapshot may predate it).
_POST_SQL = f"""
WITH members AS (
  SELECT m.user_id, m.state, c.last_seq
  FROM memberships m JOIN conversations c ON c.id = m.conversation_id
  WHERE c.id = $1 FOR UPDATE OF c
), readers AS (
  SELECT user_id FROM members WHERE state IN {CURRENT_STATES}
), verdict AS (
  SELECT (SELECT state FROM members WHERE user_id = $2) AS my_state,
         EXISTS (SELECT 1 FROM members WHERE state = 'blocked') AS blocked,
         $5::int IS NOT NULL AND (
           SELECT count(*) FROM messages WHERE author_id = $2
             AND created_at > now() - $6::interval) >= $5::int AS too_fast
), inserted AS (
  INSERT INTO messages (conversation_id, author_id, body, client_id, created_at, seq, reply_to_id)
  SELECT $1, $2, $3, $4::uuid, now(), (SELECT max(last_seq) FROM members) + 1,
    (SELECT m.id FROM messages m JOIN memberships me ON me.conversation_id = $1
       AND me.user_id = $2 WHERE m.id = $7::bigint AND m.conversation_id = $1
       AND {visible("m", "me")}) FROM verdict
  WHERE verdict.my_state IN ('request', 'active') AND NOT verdict.blocked
    AND NOT verdict.too_fast
  ON CONFLICT (author_id, client_id) DO NOTHING
  RETURNING id, created_at, seq, reply_to_id
), moved AS (
  UPDATE conversations SET last_message_id = i.id, last_activity_at = i.created_at,
    last_seq = i.seq
  FROM inserted i WHERE conversations.id = $1
  RETURNING 1
), mine AS (
  UPDATE memberships SET last_read_message_id = i.id, delivered_message_id = i.id,
    state = CASE WHEN state = 'request' THEN 'active' ELSE state END
  FROM inserted i WHERE conversation_id = $1 AND user_id = $2
  RETURNING 1
), announced AS (
  SELECT {
    notify_sql(
        Kind.MESSAGE,
        "'conversation', $1::int, 'message', i.id, 'member', $2::int, 'tab', $8::bigint, "
        "'to', (SELECT array_agg(user_id) FROM readers)",
    )
}
  FROM inserted i
), accepted AS (
  SELECT {
    notify_sql(
        Kind.CONVERSATION,
        f"'conversation', $1::int, 'change', '{Change.ACCEPTED.value}', "
        "'to', (SELECT array_agg(user_id) FROM readers)",
    )
}
  FROM inserted i, verdict v WHERE v.my_state = 'request'
)
SELECT v.my_state, v.blocked, v.too_fast, i.id, i.created_at, i.seq, i.reply_to_id,
       (SELECT count(*) FROM announced) + (SELECT count(*) FROM moved)
         + (SELECT count(*) FROM mine) + (SELECT count(*) FROM accepted) AS writes
FROM verdict v LEFT JOIN inserted i ON true
"""


class Conversation(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(ConversationKind, max_length=8, default=ConversationKind.DIRECT)
    direct_key = fields.CharField(
        max_length=40, null=True, unique=True, description="'<low id>:<high id>': one per pair"
    )
    last_message_id = fields.BigIntField(null=True)
    last_seq = fields.BigIntField(
        default=0,
        db_default=0,
        description="the newest change's place in this conversation's sequence",
    )
    last_activity_at = fields.DatetimeField(auto_now_add=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    name = fields.CharField(max_length=80, null=True, description="a group's name, if given")

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
            memberships__state__in=CURRENT,
        ).first()
        if found is None:
            raise NotFound
        return found

    @classmethod
    async def start_direct(cls, starter: User, email: str) -> Conversation:
        """Open (or find) the one-to-one conversation with the account behind email.

        A new conversation is a request on the other side until they accept or write back.
        """
        other = await User.by_email(email)
        if other is None:
            raise InvalidInput({"contact_email": "No one with that email uses ChatIn yet."})
        if other.id == starter.id:
            raise InvalidInput({"contact_email": "That's your own email."})
        return await cls.start_direct_with(starter, other.id)

    @classmethod
    async def start_direct_with(cls, starter: User, other_id: int) -> Conversation:
        """Open (or find) the one-to-one conversation with another person, found by email or
        by their connect link: either way the same request for them to accept or block."""
        key = cls.direct_key_of(starter.id, other_id)
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
                            conversation=conversation, user_id=other_id, state=MemberState.REQUEST
                        ),
                    ],
                    using_db=conn,
                )
                await notify(
                    conn,
                    Kind.CONVERSATION,
                    conversation=conversation.id,
                    change=Change.NEW,
                    to=[other_id],
                )
            else:
                await conversation.accept(starter, conn)
        return conversation

    async def accept(self, member: User, conn: BaseDBAsyncClient | None = None) -> None:
        """A request becomes a normal conversation for member; blocked stays blocked."""
        async with in_transaction() if conn is None else nullcontext(conn) as conn:
            updated = (
                await Membership.filter(
                    conversation_id=self.id, user_id=member.id, state=MemberState.REQUEST
                )
                .using_db(conn)
                .update(state=MemberState.ACTIVE)
            )
            if updated:
                await notify(
                    conn,
                    Kind.CONVERSATION,
                    conversation=self.id,
                    change=Change.ACCEPTED,
                    to=await self.member_ids(conn),
                )

    async def block(self, member: User) -> None:
        """Hide the conversation from member and refuse the others' messages to them. Only
        a direct conversation: in a group one leaves instead."""
        if self.kind is ConversationKind.GROUP:
            raise NotFound
        async with in_transaction() as conn:
            await (
                Membership.filter(conversation_id=self.id, user_id=member.id)
                .using_db(conn)
                .update(state=MemberState.BLOCKED)
            )
            others = await self.member_ids(conn, exclude=member.id)
            await notify(
                conn,
                Kind.CONVERSATION,
                conversation=self.id,
                change=Change.BLOCKED,
                to=[member.id, *others],
            )

    async def post(
        self,
        author: User,
        body: str,
        client_id: UUID,
        limited: bool = True,
        attached: bool = False,
        reply_to: int | None = None,
        tab: int | None = None,
    ) -> Message:
        """Store a message once per client_id and announce it on commit.

        One statement: lock the conversation (so its ids commit in order, which the
        catch-up cursor relies on), check the author may write, insert, move the
        conversation up, and queue the NOTIFY. A message that carries a file (`attached`,
        see attachments.post_files) may have no text. `tab` is the sending page's token: that
        tab has the message from the POST's answer, so the hub sends it no copy.
        """
        body = Message.clean(body, required=not attached)
        limit = SEND_LIMIT if limited else None
        rows = await db.fetch(
            _POST_SQL, self.id, author.id, body, str(client_id), limit, SEND_WINDOW, reply_to, tab
        )
        outcome = rows[0]
        if outcome["my_state"] not in CURRENT:
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
            seq=outcome["seq"],
            reply_to_id=outcome["reply_to_id"],
        )

    async def messages_before(
        self, viewer: User, before: int | None, limit: int = PAGE_SIZE
    ) -> list[Message]:
        """Up to `limit` messages viewer sees older than id `before` (newest page when None),
        oldest first, with their files."""
        page = await messages.messages_before(self.id, viewer.id, before, limit)
        await attach_files(page)
        return await with_extras(page)

    async def messages_after(self, viewer: User, after: int, limit: int) -> list[Message]:
        """Messages viewer sees newer than id `after`, oldest first, with their files: what a
        reconnecting tab missed."""
        missed = await messages.messages_after(self.id, viewer.id, after, limit)
        await attach_files(missed)
        return await with_extras(missed)

    async def mark_read(self, reader: User, upto: int) -> None:
        """Reader has seen everything up to message `upto` (see receipts)."""
        await receipts.mark_read(self.id, reader.id, upto)

    async def announce_typing(self, typist: User) -> None:
        """Tell the other members that typist is typing; nothing is stored."""
        async with in_transaction() as conn:
            await notify(
                conn,
                Kind.TYPING,
                conversation=self.id,
                member=typist.id,
                to=await self.member_ids(conn, exclude=typist.id),
            )

    async def member_ids(
        self, conn: BaseDBAsyncClient | None = None, exclude: int | None = None
    ) -> list[int]:
        """Members who see this conversation (a blocker, a leaver no longer do)."""
        query = Membership.filter(conversation_id=self.id, state__in=CURRENT)
        if exclude is not None:
            query = query.exclude(user_id=exclude)
        return list(await query.using_db(conn).values_list("user_id", flat=True))


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
    visible_from = fields.BigIntField(
        default=0,
        db_default=0,
        description="the member sees messages with a greater id (models.visibility)",
    )

    class Meta:
        table = "memberships"
        unique_together = (("conversation", "user"),)
        indexes = (("user_id", "state"),)
