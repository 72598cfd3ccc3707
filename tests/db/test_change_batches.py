"""The hub renders changes (edits, deletes, reactions) queued with new messages in one batch:
each reader gets exactly what the change would have rendered alone, in a few queries
whatever the batch holds, and in a group the reaction's chips name "you" for the right
reader."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from bs4 import BeautifulSoup
from quart import Quart

from chatin import db
from chatin.events import Event, Kind
from chatin.live import frames
from chatin.models import Message, User, react
from chatin.models.groups import create_group
from tests.db.test_conversations import announcements
from tests.db.test_groups import befriend
from tests.db.test_message_changes import chat, say

BATCH_QUERIES = 5  # messages with entries, reactions, quotes, ticks, group authors' entries


async def heard_events(heard: Any, count: int) -> list[Event]:
    events = []
    for _ in range(count):
        event = Event.parse(json.dumps(await heard.next()))
        assert event is not None
        events.append(event)
    return events


async def test_a_batch_of_messages_and_changes_renders_what_each_renders_alone(
    app: Quart, alice: User, bob: User, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = await chat(alice, bob)
    original = await say(conversation, alice, "Dinner at eight?")
    await conversation.post(bob, "Make it nine", uuid.uuid4(), reply_to=original.id)
    async with announcements(database_url) as heard:
        await react(bob, conversation.id, original.id, "👍")
        await Message.edit(alice, conversation.id, original.id, "Dinner at nine?")
        newest = await say(conversation, alice, "See you there")
        events = await heard_events(heard, 3)
    assert [event.kind for event in events] == [Kind.CHANGE, Kind.CHANGE, Kind.MESSAGE]
    people = [alice.id, bob.id]
    queries: list[str] = []
    fetch = db.fetch

    async def counted(query: str, *args: Any) -> Any:
        queries.append(query)
        return await fetch(query, *args)

    async with app.app_context():
        alone = [await frames.render_event(event, people) for event in events]
        monkeypatch.setattr(db, "fetch", counted)
        batched = await frames.render_batch([(event, people) for event in events])
    assert len(queries) <= BATCH_QUERIES
    assert [{u: p.frame for u, p in pushes.items()} for pushes in batched] == [
        {u: p.frame for u, p in pushes.items()} for pushes in alone
    ]
    edit_for_bob = BeautifulSoup(batched[1][bob.id].frame, "html.parser")
    assert edit_for_bob.select_one(f"#message-{original.id} .body").get_text() == (
        "Dinner at nine?"
    )
    quote = edit_for_bob.select_one(f"[hx-swap-oob='innerHTML:.quote-of-{original.id}']")
    assert quote is not None and "Dinner at nine?" in quote.get_text()
    toast = BeautifulSoup(batched[0][alice.id].frame, "html.parser").select_one(".toast")
    assert toast is not None and "reacted 👍" in toast.get_text()
    assert batched[2][bob.id].message == newest.id


async def test_a_reaction_in_a_group_names_you_to_the_one_who_reacted(
    app: Quart, alice: User, bob: User, carol: User, dave: User, database_url: str
) -> None:
    for friend in (bob, carol, dave):
        await befriend(alice, friend)
    group = await create_group(alice, "Trip", [bob.id, carol.id, dave.id])
    message = await say(group, alice, "Which trail?")
    await react(carol, group.id, message.id, "🙏")
    async with announcements(database_url) as heard:
        await react(bob, group.id, message.id, "👍")
        [event] = await heard_events(heard, 1)
    people = [alice.id, bob.id, carol.id, dave.id]
    async with app.app_context():
        [pushes] = await frames.render_batch([(event, people)])

    def chips(user: User) -> list[str]:
        frame = BeautifulSoup(pushes[user.id].frame, "html.parser")
        return [chip["aria-label"] for chip in frame.select(f"#message-{message.id} .chip")]

    assert chips(alice) == ["🙏 1: Carol", "👍 1: Bob"]
    assert chips(bob) == ["🙏 1: Carol", "👍 1: you"]
    assert chips(carol) == ["🙏 1: you", "👍 1: Bob"]
    assert chips(dave) == ["🙏 1: Carol", "👍 1: Bob"]
