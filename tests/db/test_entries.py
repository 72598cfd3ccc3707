"""The fan-out's loads: what the hub renders a message from, one message or many at once."""

from __future__ import annotations

import uuid

import pytest
from quart import Quart

from chatin.models import (
    Conversation,
    User,
    message_with_entries,
    messages_with_entries,
    own_messages_between,
    own_messages_in_ranges,
)
from tests.db.conftest import person


@pytest.fixture
async def people(app: Quart) -> dict[str, User]:
    return {name: await person(name) for name in ("Alice", "Bob", "Carol")}


async def test_a_burst_loads_each_message_with_the_entries_it_would_have_alone(
    people: dict[str, User],
) -> None:
    alice, bob, carol = people["Alice"], people["Bob"], people["Carol"]
    with_bob = await Conversation.start_direct(alice, "bob@example.com")
    await Conversation.start_direct(bob, "alice@example.com")
    with_carol = await Conversation.start_direct(alice, "carol@example.com")
    sent = [
        await with_bob.post(alice, "one", uuid.uuid4()),
        await with_carol.post(alice, "two", uuid.uuid4()),
        await with_bob.post(bob, "three", uuid.uuid4()),
    ]
    everyone = [alice.id, bob.id, carol.id]
    wanted = [(m.conversation_id, m.id) for m in sent] + [(with_bob.id, sent[1].id)]
    burst = await messages_with_entries(wanted, everyone)
    assert list(burst) == wanted[:3]  # a message of another conversation is not found there
    for key, (message, entries) in burst.items():
        alone_message, alone_entries = await message_with_entries(*key, everyone)
        assert (message.id, message.body, message.author_id) == (
            alone_message.id,
            alone_message.body,
            alone_message.author_id,
        )
        assert entries == alone_entries
    assert sorted(burst[wanted[0]][1]) == sorted([alice.id, bob.id])


async def test_ticks_for_many_ranges_are_each_authors_messages_in_each_range(
    people: dict[str, User],
) -> None:
    alice, bob = people["Alice"], people["Bob"]
    chat = await Conversation.start_direct(alice, "bob@example.com")
    await Conversation.start_direct(bob, "alice@example.com")
    ids = [
        (await chat.post(author, str(n), uuid.uuid4())).id
        for n, author in enumerate([alice, bob, alice, alice, bob])
    ]
    ranges = [
        (chat.id, alice.id, 0, ids[-1]),
        (chat.id, bob.id, ids[0], ids[3]),
        (chat.id, alice.id, ids[-1], ids[-1]),
        (chat.id, bob.id, 0, ids[-1]),
    ]
    alone = [await own_messages_between(*each) for each in ranges]
    assert await own_messages_in_ranges(ranges) == alone
    assert alone[0] == [ids[3], ids[2], ids[0]]
    assert alone[2] == []
