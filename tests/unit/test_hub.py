"""The hub without a database: which tabs hear of an event, which close and with what code,
presence claims that survive a reload, and the announcements it reads (`Event.parse`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from quart import Quart

from chatin.events import Change, Event, Kind
from chatin.live import hub as hub_module
from chatin.live import presence as presence_module
from chatin.live.frames import Push
from chatin.live.hub import LOGGED_OUT_CODE, MAX_BATCH, RESTART_CODE, Hub
from chatin.live.presence import DeliveryBatches
from chatin.models import Presence

ALICE, BOB, CAROL = 1, 2, 3
WAIT_SECONDS = 1.0


@dataclass(eq=False)  # hashed by identity, like a real socket
class FakeTab:
    user_id: int
    session_id: int = 0
    tab_token: int = 0
    pushes: asyncio.Queue[Push] = field(default_factory=asyncio.Queue)
    close_codes: list[int] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, push: Push) -> None:
        self.pushes.put_nowait(push)

    def request_close(self, code: int) -> None:
        self.close_codes.append(code)
        self.closed.set()

    async def next_push(self) -> Push:
        async with asyncio.timeout(WAIT_SECONDS):
            return await self.pushes.get()


class FakeRenderer:
    """Stands in for `render_event` and `render_batch`: one push per user, failing for
    chosen message ids; `queries` counts the round trips the real ones would make."""

    def __init__(self) -> None:
        self.calls: list[tuple[Event, list[int]]] = []
        self.queries: list[list[Event]] = []
        self.failing: set[int] = set()

    async def __call__(self, event: Event, user_ids: list[int]) -> dict[int, Push]:
        return (await self.many([(event, user_ids)]))[0]

    async def many(self, events: list[tuple[Event, list[int]]]) -> list[dict[int, Push]]:
        self.queries.append([event for event, _ in events])
        self.calls.extend((event, list(user_ids)) for event, user_ids in events)
        if any(event.message in self.failing for event, _ in events):
            raise RuntimeError("the message vanished")
        return [
            {
                uid: Push(f"{event.kind}{event.message}>u{uid}", event.conversation, event.message)
                for uid in user_ids
            }
            for event, user_ids in events
        ]


class PresenceWrites:
    """Stands in for `Presence.arrive/leave`: every write, in the order the hub made it."""

    def __init__(self) -> None:
        self.writes: asyncio.Queue[tuple[str, int]] = asyncio.Queue()

    async def arrive(self, _worker: str, user_id: int) -> None:
        self.writes.put_nowait(("arrive", user_id))

    async def leave(self, _worker: str, user_id: int) -> None:
        self.writes.put_nowait(("leave", user_id))

    async def next(self, count: int) -> list[tuple[str, int]]:
        async with asyncio.timeout(WAIT_SECONDS):
            return [await self.writes.get() for _ in range(count)]


@contextlib.asynccontextmanager
async def no_connection() -> AsyncIterator[None]:
    yield


def message(message_id: int, *to: int) -> Event:
    return Event(Kind.MESSAGE, to=to, conversation=7, message=message_id)


@pytest.fixture
def renderer(monkeypatch: pytest.MonkeyPatch) -> FakeRenderer:
    fake = FakeRenderer()
    monkeypatch.setattr(hub_module, "render_event", fake)
    monkeypatch.setattr(hub_module, "render_batch", fake.many)
    monkeypatch.setattr(hub_module.db, "holding_connection", no_connection)
    return fake


@pytest.fixture
def presence(monkeypatch: pytest.MonkeyPatch) -> PresenceWrites:
    fake = PresenceWrites()
    monkeypatch.setattr(Presence, "arrive", fake.arrive)
    monkeypatch.setattr(Presence, "leave", fake.leave)
    monkeypatch.setattr(presence_module, "OFFLINE_GRACE_SECONDS", 0.01)
    return fake


@pytest.fixture
async def hub(renderer: FakeRenderer, presence: PresenceWrites) -> AsyncIterator[Hub]:
    running = Hub(Quart(__name__))
    running.start()
    yield running
    await running.stop()


@pytest.fixture
async def stopped_hub(renderer: FakeRenderer, presence: PresenceWrites) -> AsyncIterator[Hub]:
    """A hub whose events queue up until the test starts it."""
    waiting = Hub(Quart(__name__))
    yield waiting
    await waiting.stop()


def attach(hub: Hub, user_id: int, session_id: int = 0) -> FakeTab:
    tab = FakeTab(user_id, session_id)
    hub.attach(tab)
    return tab


async def test_each_user_is_rendered_once_and_all_their_tabs_get_it(
    hub: Hub, renderer: FakeRenderer
) -> None:
    alice_laptop, alice_phone, bob = attach(hub, ALICE), attach(hub, ALICE), attach(hub, BOB)
    event = message(42, ALICE, BOB, CAROL)  # Carol has no tab on this worker
    hub.deliver(event)
    bob_push = await bob.next_push()
    assert renderer.calls == [(event, [ALICE, BOB])]
    assert bob_push.frame == "message42>u2"
    assert alice_laptop.pushes.get_nowait() is alice_phone.pushes.get_nowait()
    assert [tab.pushes.qsize() for tab in (alice_laptop, alice_phone, bob)] == [0, 0, 0]


def sent(message_id: int, author: int, tab: int, *to: int) -> Event:
    """A message its author's page sent, naming itself by its token."""
    return Event(Kind.MESSAGE, to=to, conversation=7, message=message_id, member=author, tab=tab)


async def test_the_page_that_sent_a_message_gets_no_copy_and_the_authors_other_tabs_do(
    hub: Hub, renderer: FakeRenderer
) -> None:
    sender, other_tab, bob = attach(hub, ALICE), attach(hub, ALICE), attach(hub, BOB)
    sender.tab_token, other_tab.tab_token = 5, 6
    hub.deliver(sent(42, ALICE, 5, ALICE, BOB))
    assert (await bob.next_push()).message == 42
    assert (await other_tab.next_push()).message == 42
    hub.deliver(message(43, ALICE))  # fence: the sender's next push is this one
    assert (await sender.next_push()).message == 43


async def test_an_author_whose_only_tab_sent_the_message_is_not_rendered(
    hub: Hub, renderer: FakeRenderer
) -> None:
    sender, bob = attach(hub, ALICE), attach(hub, BOB)
    sender.tab_token = 5
    hub.deliver(sent(42, ALICE, 5, ALICE, BOB))
    hub.deliver(sent(43, BOB, 5, ALICE, BOB))  # Bob's page can't speak for Alice's
    hub.deliver(sent(44, ALICE, 9, ALICE, BOB))  # Alice's other page, on another worker
    assert [(await bob.next_push()).message for _ in range(3)] == [42, 43, 44]
    assert [(await sender.next_push()).message for _ in range(2)] == [43, 44]
    assert [users for _, users in renderer.calls] == [[BOB], [ALICE, BOB], [ALICE, BOB]]


async def test_an_event_for_nobody_on_this_worker_is_not_rendered(
    hub: Hub, renderer: FakeRenderer
) -> None:
    alice = attach(hub, ALICE)
    hub.deliver(message(41, CAROL))
    hub.deliver(message(42, ALICE))  # fence: rendered after 41 had it been kept
    assert (await alice.next_push()).message == 42
    assert [event.message for event, _ in renderer.calls] == [42]


async def test_logout_closes_only_that_sessions_tabs() -> None:
    hub = Hub(Quart(__name__))
    laptop_tabs = [attach(hub, ALICE, session_id=10), attach(hub, ALICE, session_id=10)]
    phone, bob = attach(hub, ALICE, session_id=11), attach(hub, BOB, session_id=12)
    hub.deliver(Event(Kind.LOGOUT, to=(ALICE,), session=10))
    assert [tab.close_codes for tab in laptop_tabs] == [[LOGGED_OUT_CODE], [LOGGED_OUT_CODE]]
    assert phone.close_codes == bob.close_codes == []


async def test_a_full_backlog_asks_every_tab_to_reconnect_and_catch_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "EVENT_BACKLOG", 2)
    hub = Hub(Quart(__name__))  # not started: nothing drains the backlog
    alice, bob = attach(hub, ALICE), attach(hub, BOB)
    hub.deliver(message(1, ALICE))
    hub.deliver(message(2, ALICE))
    assert alice.close_codes == bob.close_codes == []
    hub.deliver(message(3, ALICE))
    assert alice.close_codes == bob.close_codes == [RESTART_CODE]


async def test_a_failed_render_reconnects_its_readers_and_the_hub_carries_on(
    hub: Hub, renderer: FakeRenderer
) -> None:
    renderer.failing.add(41)
    alice_tabs, bob = [attach(hub, ALICE), attach(hub, ALICE)], attach(hub, BOB)
    hub.deliver(message(41, ALICE))
    async with asyncio.timeout(WAIT_SECONDS):
        await alice_tabs[1].closed.wait()
    hub.deliver(message(42, BOB))  # rendered after the failure, on a fresh connection
    assert (await bob.next_push()).message == 42
    assert [tab.close_codes for tab in alice_tabs] == [[RESTART_CODE], [RESTART_CODE]]
    assert bob.close_codes == []


async def test_a_burst_of_messages_is_loaded_in_one_query_and_each_tab_gets_each_once(
    stopped_hub: Hub, renderer: FakeRenderer
) -> None:
    tabs = [attach(stopped_hub, ALICE), attach(stopped_hub, ALICE), attach(stopped_hub, BOB)]
    for message_id in range(1, 6):
        stopped_hub.deliver(message(message_id, ALICE, BOB))
    stopped_hub.start()
    for tab in tabs:
        assert [(await tab.next_push()).message for _ in range(5)] == [1, 2, 3, 4, 5]
    assert [[event.message for event in query] for query in renderer.queries] == [[1, 2, 3, 4, 5]]
    assert [tab.pushes.qsize() for tab in tabs] == [0, 0, 0]


async def test_other_events_in_a_burst_keep_their_place_between_messages(
    stopped_hub: Hub, renderer: FakeRenderer
) -> None:
    alice, bob = attach(stopped_hub, ALICE), attach(stopped_hub, BOB)
    stopped_hub.deliver(message(1, ALICE, BOB))
    stopped_hub.deliver(Event(Kind.TYPING, to=(ALICE,), conversation=7, member=BOB))
    stopped_hub.deliver(message(2, ALICE, BOB))
    stopped_hub.deliver(message(3, ALICE, BOB))
    stopped_hub.start()
    seen_by_alice = [(await alice.next_push()).frame for _ in range(4)]
    assert seen_by_alice == ["message1>u1", "typingNone>u1", "message2>u1", "message3>u1"]
    assert [(await bob.next_push()).frame for _ in range(3)] == [
        "message1>u2",
        "message2>u2",
        "message3>u2",
    ]
    assert [[event.kind for event in query] for query in renderer.queries] == [
        [Kind.MESSAGE],
        [Kind.TYPING],
        [Kind.MESSAGE, Kind.MESSAGE],
    ]


async def test_delivery_ticks_between_messages_are_loaded_with_them(
    stopped_hub: Hub, renderer: FakeRenderer
) -> None:
    alice, bob = attach(stopped_hub, ALICE), attach(stopped_hub, BOB)
    ticks = Event(Kind.DELIVERED, to=(ALICE, BOB), conversation=7, member=BOB, after=0, upto=1)
    for event in (message(1, ALICE, BOB), ticks, message(2, ALICE, BOB)):
        stopped_hub.deliver(event)
    stopped_hub.start()
    assert [(await alice.next_push()).frame for _ in range(3)] == [
        "message1>u1",
        "deliveredNone>u1",
        "message2>u1",
    ]
    assert [(await bob.next_push()).message for _ in range(3)] == [1, None, 2]
    assert [[event.kind for event in query] for query in renderer.queries] == [
        [Kind.MESSAGE, Kind.DELIVERED, Kind.MESSAGE]
    ]


async def test_a_long_backlog_is_taken_in_bounded_batches(
    stopped_hub: Hub, renderer: FakeRenderer
) -> None:
    alice = attach(stopped_hub, ALICE)
    for message_id in range(MAX_BATCH + 6):
        stopped_hub.deliver(message(message_id, ALICE))
    stopped_hub.start()
    arrived = [(await alice.next_push()).message for _ in range(MAX_BATCH + 6)]
    assert arrived == list(range(MAX_BATCH + 6))
    assert [len(query) for query in renderer.queries] == [MAX_BATCH, 6]
    assert (stopped_hub.stats.events, stopped_hub.stats.batches) == (MAX_BATCH + 6, 2)


def hold_the_loop(seconds: float) -> None:
    """What a long synchronous stretch (a big render, a full GC pass) does to the loop."""
    time.sleep(seconds)


async def test_the_sampler_sees_the_backlog_and_a_blocked_loop(
    stopped_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats, sampled = stopped_hub.stats, asyncio.Event()
    record = stats.record

    def record_and_tell(backlog: int, lag_seconds: float) -> None:
        record(backlog, lag_seconds)
        sampled.set()

    monkeypatch.setattr(stats, "record", record_and_tell)
    attach(stopped_hub, ALICE)
    for message_id in range(3):
        stopped_hub.deliver(message(message_id, ALICE))
    sampler = asyncio.create_task(stats.sample_forever())
    try:
        await asyncio.sleep(0)  # the sampler's timer is set
        hold_the_loop(0.2)
        async with asyncio.timeout(WAIT_SECONDS):
            await sampled.wait()
    finally:
        sampler.cancel()
    seen = stats.as_dict(since=0)
    assert (seen["sockets"], seen["backlog"][0]) == (1, 3)
    assert seen["lag_ms"][0] >= 100
    assert stats.as_dict(since=stats.taken)["backlog"] == []


async def test_a_reload_does_not_flicker_offline(hub: Hub, presence: PresenceWrites) -> None:
    old_tab = attach(hub, ALICE)
    hub.detach(old_tab)
    attach(hub, ALICE)  # the reloaded page, well within the grace period
    hub.detach(attach(hub, BOB))  # fence: Bob's leave is due after any of Alice's
    assert await presence.next(3) == [("arrive", ALICE), ("arrive", BOB), ("leave", BOB)]


async def test_closing_the_last_tab_goes_offline_but_closing_one_of_two_does_not(
    hub: Hub, presence: PresenceWrites
) -> None:
    laptop, phone, bob = attach(hub, ALICE), attach(hub, ALICE), attach(hub, BOB)
    hub.detach(laptop)
    hub.detach(bob)
    assert await presence.next(3) == [("arrive", ALICE), ("arrive", BOB), ("leave", BOB)]
    hub.detach(phone)
    assert await presence.next(1) == [("leave", ALICE)]
    assert hub.tab_count() == 0


async def test_delivery_ticks_are_written_in_one_batch_with_the_highest_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches: asyncio.Queue[list[tuple[int, int, int]]] = asyncio.Queue()

    async def record_deliveries(rows: list[tuple[int, int, int]]) -> None:
        batches.put_nowait(rows)

    monkeypatch.setattr(presence_module, "record_deliveries", record_deliveries)
    deliveries = DeliveryBatches()
    for conversation, user_id, message_id in [
        (7, BOB, 41),
        (7, BOB, 43),
        (7, BOB, 42),
        (7, ALICE, 40),
        (8, BOB, 5),
    ]:
        deliveries.record(conversation, user_id, message_id)
    writer = asyncio.create_task(deliveries.run())
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            batch = await batches.get()
    finally:
        writer.cancel()
    assert sorted(batch) == [(7, ALICE, 40), (7, BOB, 43), (8, BOB, 5)]


PAYLOADS: dict[Kind, dict[str, Any]] = {
    Kind.MESSAGE: {"conversation": 7, "message": 42},
    Kind.CHANGE: {"conversation": 7, "message": 42, "seq": 90},
    Kind.CONVERSATION: {"conversation": 7, "change": "accepted"},
    Kind.READ: {"conversation": 7, "member": 2, "after": 40, "upto": 42},
    Kind.DELIVERED: {"conversation": 7, "member": 2, "after": 40, "upto": 42},
    Kind.TYPING: {"conversation": 7, "member": 2},
    Kind.PRESENCE: {"user": 2},
    Kind.PROFILE: {"user": 2},
    Kind.LOGOUT: {"session": 10},
    Kind.CHECK: {"check": 2**52 - 1},
    Kind.ANSWER: {"check": 2**52 - 1, "worker": 4321},
}


@pytest.mark.parametrize("kind", list(Kind))
def test_every_event_kind_reads_back_from_its_notify_payload(kind: Kind) -> None:
    ids = PAYLOADS[kind]
    event = Event.parse(json.dumps({"kind": kind.value, **ids, "to": [1, 2]}))
    change = Change(ids["change"]) if "change" in ids else None
    others = {name: value for name, value in ids.items() if name != "change"}
    assert event == Event(kind, to=(1, 2), change=change, **others)


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        '{"kind": "shout", "to": [1]}',
        '{"conversation": 7, "to": [1]}',
        '{"kind": "message", "conversation": "seven", "message": 42, "to": [1]}',
        '{"kind": "message", "conversation": 7, "colour": 3, "to": [1]}',
        '{"kind": "conversation", "conversation": 7, "change": "exploded", "to": [1]}',
        '{"kind": "message", "conversation": 7, "to": ["bob"]}',
        "[1, 2]",
    ],
)
def test_a_malformed_notification_is_ignored(payload: str) -> None:
    assert Event.parse(payload) is None
