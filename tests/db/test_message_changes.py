"""Edits and deletes as model verbs: own messages only, one place each in the conversation's
sequence of changes, announced on commit, retries change nothing twice, and deleted text
leaves the database."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chatin import db
from chatin.models import (
    MAX_MESSAGE_CHARS,
    Conversation,
    Deleted,
    Message,
    NotDelivered,
    NotFound,
    NotYours,
    TooLong,
    User,
    changed_since,
    entries_of_viewer,
)
from tests.db.test_conversations import announcements


async def chat(starter: User, other: User) -> Conversation:
    conversation = await Conversation.start_direct(starter, f"{other.display_name}@example.com")
    await conversation.accept(other)
    return conversation


async def say(conversation: Conversation, author: User, body: str) -> Message:
    return await conversation.post(author, body, uuid.uuid4())


async def last_seq(conversation: Conversation) -> int:
    return (await Conversation.get(id=conversation.id)).last_seq


async def test_every_change_takes_the_next_place_in_the_conversation(
    alice: User, bob: User
) -> None:
    conversation = await chat(alice, bob)
    first = await say(conversation, alice, "first")
    second = await say(conversation, bob, "second")
    edited = await Message.edit(alice, conversation.id, first.id, "first, better")
    deleted = await Message.delete_for_everyone(bob, conversation.id, second.id)
    assert [first.seq, second.seq, edited.seq, deleted.seq] == [1, 2, 3, 4]
    assert await last_seq(conversation) == 4
    stored = {m.id: m for m in await Message.filter(conversation_id=conversation.id)}
    assert (stored[first.id].seq, stored[first.id].body) == (3, "first, better")
    assert stored[first.id].edited_at is not None and stored[first.id].deleted_at is None
    assert stored[second.id].seq == 4 and stored[second.id].deleted_at is not None


async def test_parallel_posts_and_edits_take_distinct_places_in_commit_order(
    alice: User, bob: User
) -> None:
    conversation = await chat(alice, bob)
    mine = await say(conversation, alice, "edit me")
    writes = [say(conversation, bob, f"parallel {n}") for n in range(10)]
    writes += [Message.edit(alice, conversation.id, mine.id, f"edit {n}") for n in range(10)]
    results = await asyncio.gather(*writes)
    places = sorted(result.seq for result in results)
    assert places == list(range(2, 22)), "every change got its own place, none skipped"
    assert await last_seq(conversation) == 21
    assert (await Message.get(id=mine.id)).seq == max(r.seq for r in results if r.id == mine.id)


async def test_deleted_text_is_gone_from_the_database(alice: User, bob: User) -> None:
    conversation = await chat(alice, bob)
    secret = await say(conversation, alice, "my PIN is 4921")
    await Message.delete_for_everyone(alice, conversation.id, secret.id)
    rows = await db.fetch("SELECT * FROM messages WHERE id = $1", secret.id)
    assert all("4921" not in str(value) for value in rows[0].values())
    assert rows[0]["body"] == "" and rows[0]["deleted_at"] is not None
    found = await db.fetch("SELECT count(*) AS n FROM messages WHERE body LIKE '%4921%'")
    assert found[0]["n"] == 0


async def test_only_the_author_changes_a_message(alice: User, bob: User, carol: User) -> None:
    conversation = await chat(alice, bob)
    message = await say(conversation, alice, "mine")
    with pytest.raises(NotYours):
        await Message.edit(bob, conversation.id, message.id, "bob was here")
    with pytest.raises(NotYours):
        await Message.delete_for_everyone(bob, conversation.id, message.id)
    with pytest.raises(NotFound):
        await Message.edit(carol, conversation.id, message.id, "carol was here")
    with pytest.raises(NotFound):
        await Message.delete_for_everyone(carol, conversation.id, message.id)
    with pytest.raises(NotFound):  # a real message, named under another conversation
        await Message.edit(alice, (await chat(alice, carol)).id, message.id, "moved")
    with pytest.raises(NotFound):
        await Message.edit(alice, conversation.id, message.id + 1000, "missing")
    assert (await Message.get(id=message.id)).body == "mine"
    assert await last_seq(conversation) == 1


async def test_a_deleted_message_cannot_be_edited(alice: User, bob: User) -> None:
    conversation = await chat(alice, bob)
    message = await say(conversation, alice, "soon gone")
    await Message.delete_for_everyone(alice, conversation.id, message.id)
    with pytest.raises(Deleted):
        await Message.edit(alice, conversation.id, message.id, "back again")
    with pytest.raises(Deleted):
        await Message.own(alice, conversation.id, message.id)
    assert (await Message.get(id=message.id)).body == ""


async def test_an_edit_keeps_the_message_rules(alice: User, bob: User) -> None:
    conversation = await chat(alice, bob)
    message = await say(conversation, alice, "short")
    with pytest.raises(TooLong):
        await Message.edit(alice, conversation.id, message.id, "x" * (MAX_MESSAGE_CHARS + 1))
    edited = await Message.edit(alice, conversation.id, message.id, "  y\r\n")
    assert edited.body == "y"


async def test_changes_in_a_blocked_conversation_are_refused_like_a_send(
    alice: User, bob: User
) -> None:
    conversation = await chat(alice, bob)
    message = await say(conversation, alice, "before the block")
    await conversation.block(bob)
    with pytest.raises(NotDelivered):
        await Message.edit(alice, conversation.id, message.id, "after the block")
    with pytest.raises(NotDelivered):
        await Message.delete_for_everyone(alice, conversation.id, message.id)
    assert (await Message.get(id=message.id)).body == "before the block"


async def test_retried_edits_and_deletes_change_and_announce_once(
    alice: User, bob: User, database_url: str
) -> None:
    conversation = await chat(alice, bob)
    message = await say(conversation, alice, "draft")
    async with announcements(database_url) as heard:
        once = await Message.edit(alice, conversation.id, message.id, "final")
        again = await Message.edit(alice, conversation.id, message.id, "final")
        assert again.seq == once.seq == 2
        announced = await heard.next()
        assert sorted(announced.pop("to")) == sorted([alice.id, bob.id])
        assert announced == {
            "kind": "change",
            "conversation": conversation.id,
            "message": message.id,
            "seq": 2,
        }
        await heard.assert_silent()
        gone = await Message.delete_for_everyone(alice, conversation.id, message.id)
        gone_again = await Message.delete_for_everyone(alice, conversation.id, message.id)
        assert gone.seq == gone_again.seq == 3
        assert (await heard.next())["seq"] == 3
        await heard.assert_silent()
    assert await last_seq(conversation) == 3


async def test_an_edit_neither_moves_the_conversation_up_nor_counts_as_unread(
    alice: User, bob: User, carol: User
) -> None:
    with_bob = await chat(alice, bob)
    old = await say(with_bob, alice, "older conversation")
    with_carol = await chat(alice, carol)
    await say(with_carol, alice, "newer conversation")
    before = await entries_of_viewer(bob.id), await entries_of_viewer(alice.id)
    await Message.edit(alice, with_bob.id, old.id, "older conversation, edited")
    after = await entries_of_viewer(bob.id), await entries_of_viewer(alice.id)
    assert [e.id for e in after[1]] == [e.id for e in before[1]] == [with_carol.id, with_bob.id]
    assert [e.unread for e in after[0]] == [e.unread for e in before[0]] == [1]
    assert after[0][0].last_at == before[0][0].last_at


async def test_changed_since_lists_changed_messages_up_to_the_cursor_in_change_order(
    alice: User, bob: User
) -> None:
    conversation = await chat(alice, bob)
    ids = [(await say(conversation, alice, f"m{n}")).id for n in range(4)]
    seen = await last_seq(conversation)
    await Message.edit(alice, conversation.id, ids[2], "m2 edited")
    await Message.delete_for_everyone(alice, conversation.id, ids[0])
    await Message.edit(alice, conversation.id, ids[3], "beyond the cursor")
    changed, newest = await changed_since(conversation.id, alice.id, seen, ids[2], 10)
    assert [(m.id, m.body) for m in changed] == [(ids[2], "m2 edited"), (ids[0], "")]
    assert newest == seen + 3
    assert await changed_since(conversation.id, alice.id, newest, ids[3], 10) == ([], newest)
