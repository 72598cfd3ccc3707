"""Reactions and replies as model verbs: one reaction per person per message, each change one
place in the conversation's sequence (so the catch-up replays it), retries change nothing
twice, only served emoji, and a message deleted for everyone keeps no reactions."""

from __future__ import annotations

import uuid

import pytest

from chatin import db
from chatin.models import (
    Conversation,
    Deleted,
    InvalidInput,
    Message,
    NotDelivered,
    NotFound,
    Reaction,
    User,
    changed_since,
    find_emoji,
    react,
    unreact,
    with_extras,
)
from tests.db.test_message_changes import chat, last_seq, say


async def chips_of(message: Message, viewer: User) -> list[str]:
    fresh = (await with_extras([await Message.get(id=message.id)]))[0]
    return [chip.label(viewer.id) for chip in fresh.chips]


async def test_one_reaction_per_person_another_replaces_and_taking_back_removes(
    alice: User, bob: User
) -> None:
    conversation = await chat(alice, bob)
    message = await say(conversation, alice, "lunch?")
    await react(bob, conversation.id, message.id, "👍")
    await react(alice, conversation.id, message.id, "👍")
    assert await chips_of(message, alice) == ["👍 2: Bob, you"]
    await react(bob, conversation.id, message.id, "❤️")
    assert await chips_of(message, bob) == ["👍 1: Alice", "❤️ 1: you"]
    await unreact(bob, conversation.id, message.id, "👍")  # not his reaction: nothing changes
    assert await chips_of(message, bob) == ["👍 1: Alice", "❤️ 1: you"]
    await unreact(bob, conversation.id, message.id, "❤️")
    assert await chips_of(message, alice) == ["👍 1: you"]
    assert await Reaction.filter(message_id=message.id).count() == 1


async def test_each_reaction_change_takes_a_place_and_a_retry_takes_none(
    alice: User, bob: User
) -> None:
    conversation = await chat(alice, bob)
    message = await say(conversation, alice, "news")
    before = await last_seq(conversation)
    await react(bob, conversation.id, message.id, "😮")
    await react(bob, conversation.id, message.id, "😮")  # a retry
    assert await last_seq(conversation) == before + 1
    await unreact(bob, conversation.id, message.id, "😮")
    await unreact(bob, conversation.id, message.id, "😮")
    assert await last_seq(conversation) == before + 2
    stored = await Message.get(id=message.id)
    assert (stored.seq, stored.changed) == (before + 2, True)
    # A message whose only change is a reaction is replayed to a tab that missed it.
    changed, newest = await changed_since(conversation.id, alice.id, before, message.id, 10)
    assert [m.id for m in changed] == [message.id] and newest == before + 2


@pytest.mark.parametrize("bad", ["", "a", "👍👍", ":thumbs_up:", "\x00", "👍" + "x" * 40, "🏻"])
async def test_only_one_served_emoji_is_a_reaction(alice: User, bob: User, bad: str) -> None:
    conversation = await chat(alice, bob)
    message = await say(conversation, alice, "hi")
    with pytest.raises(InvalidInput):
        await react(bob, conversation.id, message.id, bad)
    assert await Reaction.all().count() == 0
    assert (await Message.get(id=message.id)).changed is False


async def test_strangers_deleted_messages_and_blocked_conversations_take_no_reactions(
    alice: User, bob: User, carol: User
) -> None:
    conversation = await chat(alice, bob)
    message = await say(conversation, alice, "hi")
    with pytest.raises(NotFound):
        await react(carol, conversation.id, message.id, "👍")
    with pytest.raises(NotFound):  # a real message, named under another conversation
        await react(alice, (await chat(alice, carol)).id, message.id, "👍")
    gone = await say(conversation, alice, "oops")
    await Message.delete_for_everyone(alice, conversation.id, gone.id)
    with pytest.raises(Deleted):
        await react(bob, conversation.id, gone.id, "👍")
    await conversation.block(bob)
    with pytest.raises(NotDelivered):
        await react(alice, conversation.id, message.id, "👍")
    assert await Reaction.all().count() == 0


async def test_a_message_deleted_for_everyone_keeps_no_reactions(alice: User, bob: User) -> None:
    conversation = await chat(alice, bob)
    message = await say(conversation, alice, "secret")
    await react(bob, conversation.id, message.id, "😂")
    await react(alice, conversation.id, message.id, "🙏")
    await Message.delete_for_everyone(alice, conversation.id, message.id)
    rows = await db.fetch("SELECT count(*) AS n FROM reactions WHERE message_id = $1", message.id)
    assert rows[0]["n"] == 0
    assert await chips_of(message, bob) == []


async def test_a_reply_quotes_its_original_as_it_now_is(alice: User, bob: User) -> None:
    conversation = await chat(alice, bob)
    original = await say(conversation, alice, "first line\nsecond line")
    reply = await conversation.post(bob, "answer", uuid.uuid4(), reply_to=original.id)
    (shown,) = await with_extras([await Message.get(id=reply.id)])
    assert (shown.quote.author_name, shown.quote.first_line) == ("Alice", "first line")
    await Message.delete_for_everyone(alice, conversation.id, original.id)
    (shown,) = await with_extras([await Message.get(id=reply.id)])
    assert shown.quote.deleted and shown.quote.first_line == ""


async def test_a_reply_to_another_conversations_message_or_a_missing_one_is_a_plain_message(
    alice: User, bob: User, carol: User
) -> None:
    conversation = await chat(alice, bob)
    elsewhere: Conversation = await chat(alice, carol)
    foreign = await say(elsewhere, carol, "not yours to quote")
    for target in (foreign.id, foreign.id + 1000):
        reply = await conversation.post(bob, "hm", uuid.uuid4(), reply_to=target)
        assert (await Message.get(id=reply.id)).reply_to_id is None


def test_the_picker_finds_emoji_by_name() -> None:
    assert ("🚀", "rocket") in find_emoji("rocket")
    assert all("heart" in name for _, name in find_emoji("heart"))
    assert len(find_emoji("")) > 100


async def test_a_page_of_messages_loads_its_reactions_and_quotes_in_one_query_each(
    alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = await chat(alice, bob)
    first = await say(conversation, alice, "quoted")
    for n in range(20):
        message = await conversation.post(bob, f"reply {n}", uuid.uuid4(), reply_to=first.id)
        await react(alice, conversation.id, message.id, "👍")
    page = await Message.filter(conversation_id=conversation.id).order_by("id")
    queries: list[str] = []
    fetch = db.fetch

    async def counted(sql: str, *args: object) -> object:
        queries.append(sql)
        return await fetch(sql, *args)

    monkeypatch.setattr(db, "fetch", counted)
    shown = await with_extras(page)
    assert len(queries) == 2, "one query for all reactions, one for all quotes"
    assert all(m.quote.first_line == "quoted" for m in shown[1:])
    assert all([chip.label(bob.id) for chip in m.chips] == ["👍 1: Alice"] for m in shown[1:])
