"""Conversation rules, enforced by the model verbs whatever route or socket calls them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from tortoise.transactions import in_transaction

from chatin import db
from chatin.events import CHANNEL, Kind, notify
from chatin.models import (
    MAX_MESSAGE_CHARS,
    PAGE_SIZE,
    SEND_LIMIT,
    Conversation,
    InvalidInput,
    Membership,
    MemberState,
    Message,
    NotDelivered,
    NotFound,
    TooFast,
    TooLong,
    User,
)
from tests.chatting import seed_messages

WAIT = 5


class Rollback(Exception):
    """Raised inside a transaction to undo it."""


async def state_of(conversation: Conversation, user: User) -> str:
    membership = await Membership.get(conversation_id=conversation.id, user_id=user.id)
    return membership.state


async def stored_bodies(conversation: Conversation) -> list[str]:
    return list(
        await Message.filter(conversation_id=conversation.id)
        .order_by("id")
        .values_list("body", flat=True)
    )


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class Announcements:
    """Everything committed to the app's channel, heard on a connection of our own."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._fences = 0

    def _hear(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._heard.put_nowait(json.loads(payload))

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            return await self._heard.get()

    async def assert_silent(self) -> None:
        """Nothing came before a fence we send now (committed on our own connection)."""
        self._fences += 1
        fence = {"kind": "fence", "n": self._fences}
        await self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, json.dumps(fence))
        assert await self.next() == fence, "something was announced before the fence"


@asynccontextmanager
async def announcements(database_url: str) -> AsyncIterator[Announcements]:
    conn = await db.connect(database_url)
    heard = Announcements(conn)
    await conn.add_listener(CHANNEL, heard._hear)
    try:
        yield heard
    finally:
        await conn.close()


# --- start_direct -------------------------------------------------------------------------


async def test_adding_a_contact_twice_finds_the_same_conversation(alice: User, bob: User) -> None:
    first = await Conversation.start_direct(alice, "bob@example.com")
    again = await Conversation.start_direct(alice, "  BOB@Example.com ")
    assert again.id == first.id
    assert await Conversation.all().count() == 1
    assert await Membership.filter(conversation_id=first.id).count() == 2


async def test_adding_back_finds_the_same_conversation_and_accepts_it(
    alice: User, bob: User
) -> None:
    started = await Conversation.start_direct(alice, "bob@example.com")
    assert await state_of(started, bob) == MemberState.REQUEST
    back = await Conversation.start_direct(bob, "alice@example.com")
    assert back.id == started.id
    assert await Conversation.all().count() == 1
    assert await state_of(started, bob) == MemberState.ACTIVE
    assert await state_of(started, alice) == MemberState.ACTIVE


async def test_each_pair_gets_its_own_conversation(alice: User, bob: User, carol: User) -> None:
    with_bob = await Conversation.start_direct(alice, "bob@example.com")
    with_carol = await Conversation.start_direct(alice, "carol@example.com")
    between_them = await Conversation.start_direct(bob, "carol@example.com")
    assert len({with_bob.id, with_carol.id, between_them.id}) == 3


async def test_unknown_or_own_email_is_refused_and_creates_nothing(
    alice: User, bob: User, subtests: pytest.Subtests
) -> None:
    for email in ("nobody@example.com", "alice@example.com", "ALICE@example.com", "", "x@y"):
        with subtests.test(email=email):
            with pytest.raises(InvalidInput) as refused:
                await Conversation.start_direct(alice, email)
            assert set(refused.value.errors) == {"contact_email"}
            assert await Conversation.all().count() == 0
            assert await Membership.all().count() == 0


async def test_the_other_side_has_a_request_until_they_accept(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    assert await state_of(conversation, alice) == MemberState.ACTIVE
    assert await state_of(conversation, bob) == MemberState.REQUEST
    await conversation.post(alice, "hi Bob", new_id())
    assert await state_of(conversation, bob) == MemberState.REQUEST, "the starter's post accepted"
    await conversation.accept(bob)
    assert await state_of(conversation, bob) == MemberState.ACTIVE


async def test_the_other_side_accepts_by_writing_back(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    await conversation.post(bob, "hi Alice", new_id())
    assert await state_of(conversation, bob) == MemberState.ACTIVE


async def test_a_request_is_visible_to_both_members_only(
    alice: User, bob: User, carol: User
) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    assert (await Conversation.visible_to(alice, conversation.id)).id == conversation.id
    assert (await Conversation.visible_to(bob, conversation.id)).id == conversation.id
    with pytest.raises(NotFound):
        await Conversation.visible_to(carol, conversation.id)
    with pytest.raises(NotFound):
        await Conversation.visible_to(alice, conversation.id + 1000)


# --- post -----------------------------------------------------------------------------------


async def test_same_client_id_twice_stores_once(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    client_id = new_id()
    first = await conversation.post(alice, "only once", client_id)
    retry = await conversation.post(alice, "only once", client_id)
    assert retry.id == first.id
    assert await stored_bodies(conversation) == ["only once"]


async def test_two_authors_may_use_the_same_client_id(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    client_id = new_id()
    await conversation.post(alice, "from Alice", client_id)
    await conversation.post(bob, "from Bob", client_id)
    assert await stored_bodies(conversation) == ["from Alice", "from Bob"]


async def test_post_keeps_the_text_with_its_line_breaks(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    message = await conversation.post(alice, "  line one\r\nline two\n\n<b>three</b>  ", new_id())
    stored = await Message.get(id=message.id)
    assert stored.body == "line one\nline two\n\n<b>three</b>"
    assert stored.author_id == alice.id and stored.conversation_id == conversation.id


async def test_empty_message_is_refused_and_nothing_stored(
    alice: User, bob: User, subtests: pytest.Subtests
) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    for body in ("", "   ", "\n\r\n\t "):
        with subtests.test(body=body):
            with pytest.raises(InvalidInput) as refused:
                await conversation.post(alice, body, new_id())
            assert set(refused.value.errors) == {"body"}
            assert await stored_bodies(conversation) == []


async def test_message_over_the_limit_is_refused_and_nothing_stored(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    with pytest.raises(TooLong):
        await conversation.post(alice, "x" * (MAX_MESSAGE_CHARS + 1), new_id())
    assert await stored_bodies(conversation) == []
    await conversation.post(alice, "x" * MAX_MESSAGE_CHARS, new_id())
    assert await stored_bodies(conversation) == ["x" * MAX_MESSAGE_CHARS]


async def test_blocker_no_longer_sees_the_conversation(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    await conversation.block(bob)
    with pytest.raises(NotFound):
        await Conversation.visible_to(bob, conversation.id)
    with pytest.raises(NotFound):
        await conversation.post(bob, "from the blocker", new_id())


async def test_blocked_conversation_refuses_the_others_posts(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    await conversation.post(alice, "before the block", new_id())
    await conversation.block(bob)
    with pytest.raises(NotDelivered):
        await conversation.post(alice, "after the block", new_id())
    assert await stored_bodies(conversation) == ["before the block"]


async def test_starter_can_block_too(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    await conversation.block(alice)
    with pytest.raises(NotFound):
        await Conversation.visible_to(alice, conversation.id)
    with pytest.raises(NotDelivered):
        await conversation.post(bob, "anyone there?", new_id())
    assert await stored_bodies(conversation) == []


async def test_accepting_does_not_undo_a_block(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    await conversation.block(bob)
    await conversation.accept(bob)
    await Conversation.start_direct(bob, "alice@example.com")
    assert await state_of(conversation, bob) == MemberState.BLOCKED


# --- messages_before ------------------------------------------------------------------------


async def test_pages_go_back_by_id_oldest_first(alice: User, bob: User) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    ids = await seed_messages(conversation.id, alice.id, 2 * PAGE_SIZE + 7)
    newest = await conversation.messages_before(alice, None)
    assert [m.id for m in newest] == ids[-PAGE_SIZE:]
    middle = await conversation.messages_before(alice, newest[0].id)
    assert [m.id for m in middle] == ids[-2 * PAGE_SIZE : -PAGE_SIZE]
    oldest = await conversation.messages_before(alice, middle[0].id)
    assert [m.id for m in oldest] == ids[:7]
    assert await conversation.messages_before(alice, oldest[0].id) == []


async def test_new_messages_do_not_shift_older_pages(alice: User, bob: User) -> None:
    """Pages are anchored on an id, not counted from the end (no OFFSET)."""
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    ids = await seed_messages(conversation.id, alice.id, PAGE_SIZE + 10)
    newest = await conversation.messages_before(alice, None)
    for n in range(5):  # arrive while the reader scrolls up
        await conversation.post(bob, f"new {n}", new_id())
    older = await conversation.messages_before(alice, newest[0].id)
    assert [m.id for m in older] == ids[:10]


async def test_pages_hold_only_this_conversations_messages(
    alice: User, bob: User, carol: User
) -> None:
    with_bob = await Conversation.start_direct(alice, "bob@example.com")
    with_carol = await Conversation.start_direct(alice, "carol@example.com")
    for n in range(3):
        await with_bob.post(alice, f"bob {n}", new_id())
        await with_carol.post(alice, f"carol {n}", new_id())
    page = await with_bob.messages_before(alice, None)
    assert [m.body for m in page] == ["bob 0", "bob 1", "bob 2"]
    before_last = await with_bob.messages_before(alice, page[-1].id, limit=1)
    assert [m.body for m in before_last] == ["bob 1"]


# --- announcements --------------------------------------------------------------------------


async def test_post_is_announced_once_with_ids_only(
    alice: User, bob: User, database_url: str
) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    async with announcements(database_url) as heard:
        client_id = new_id()
        message = await conversation.post(alice, "<b>not in the payload</b>", client_id, tab=77)
        announced = await heard.next()
        assert announced == {
            "kind": "message",
            "conversation": conversation.id,
            "message": message.id,
            "member": alice.id,  # the author, whose sending page (tab) needs no copy
            "tab": 77,
            "to": announced["to"],
        }
        assert sorted(announced["to"]) == sorted([alice.id, bob.id])
        await conversation.post(alice, "<b>not in the payload</b>", client_id)  # a retry
        await heard.assert_silent()


async def test_refused_post_announces_nothing(
    alice: User, bob: User, database_url: str, subtests: pytest.Subtests
) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    async with announcements(database_url) as heard:
        for body, error in (("x" * (MAX_MESSAGE_CHARS + 1), TooLong), ("  ", InvalidInput)):
            with subtests.test(error=error.__name__):
                with pytest.raises(error):
                    await conversation.post(alice, body, new_id())
                await heard.assert_silent()


async def test_sending_too_fast_is_refused_stores_and_announces_nothing(
    alice: User, bob: User, database_url: str
) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    for n in range(SEND_LIMIT):
        await conversation.post(alice, f"n{n}", new_id())
    async with announcements(database_url) as heard:
        with pytest.raises(TooFast):
            await conversation.post(alice, "one too many", new_id())
        await heard.assert_silent()
    assert len(await stored_bodies(conversation)) == SEND_LIMIT
    await conversation.post(bob, "the limit is per author", new_id())


async def test_post_to_a_blocked_conversation_announces_nothing(
    alice: User, bob: User, database_url: str
) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    await conversation.block(bob)
    async with announcements(database_url) as heard:
        with pytest.raises(NotDelivered):
            await conversation.post(alice, "after the block", new_id())
        await heard.assert_silent()


async def test_post_in_a_transaction_is_announced_only_on_commit(
    alice: User, bob: User, database_url: str
) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    async with announcements(database_url) as heard:
        async with in_transaction():
            pending = await conversation.post(alice, "pending", new_id())
            await heard.assert_silent()
        assert (await heard.next())["message"] == pending.id


async def test_rolled_back_post_announces_nothing_and_stores_nothing(
    alice: User, bob: User, database_url: str
) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    async with announcements(database_url) as heard:
        with pytest.raises(Rollback):
            async with in_transaction():
                await conversation.post(alice, "undone", new_id())
                raise Rollback
        await heard.assert_silent()
    assert await stored_bodies(conversation) == []


async def test_notify_in_a_rolled_back_transaction_is_never_sent(
    alice: User, bob: User, database_url: str
) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    async with announcements(database_url) as heard:
        with pytest.raises(Rollback):
            async with in_transaction() as conn:
                await notify(conn, Kind.CONVERSATION, conversation=conversation.id, to=[bob.id])
                raise Rollback
        await heard.assert_silent()


async def test_new_conversation_is_announced_to_the_other_side_once(
    alice: User, bob: User, database_url: str
) -> None:
    async with announcements(database_url) as heard:
        conversation = await Conversation.start_direct(alice, "bob@example.com")
        assert await heard.next() == {
            "kind": "conversation",
            "conversation": conversation.id,
            "change": "new",
            "to": [bob.id],
        }
        await Conversation.start_direct(alice, "bob@example.com")  # found, not new
        with pytest.raises(InvalidInput):
            await Conversation.start_direct(alice, "nobody@example.com")
        await heard.assert_silent()


async def test_block_is_announced_to_both_sides(alice: User, bob: User, database_url: str) -> None:
    conversation = await Conversation.start_direct(alice, "bob@example.com")
    await conversation.accept(bob)
    async with announcements(database_url) as heard:
        await conversation.block(bob)
        blocked = await heard.next()
        assert blocked["kind"] == "conversation" and blocked["change"] == "blocked"
        assert sorted(blocked["to"]) == sorted([alice.id, bob.id])
