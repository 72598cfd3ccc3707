"""The hub without a database: which tabs hear of an event, which close and with what code,
presence claims that survive a reload, and the announcements it reads (`Event.parse`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from quart import Quart

from chatin.events import Change, Event, Kind
from chatin.live import hub as hub_module
from chatin.live import presence as presence_module
from chatin.live.frames import Push
from chatin.live.hub import LOGGED_OUT_CODE, RESTART_CODE, Hub
from chatin.live.presence import DeliveryBatches
from chatin.models import Presence

ALICE, BOB, CAROL = 1, 2, 3
WAIT_SECONDS = 1.0


@dataclass(eq=False)  # hashed by identity, like a real socket
class FakeTab:
    user_id: int
    session_id: int = 0
    pushes: asyncio.Queue[Push] = field(default_factory=asyncio.Queue)
    close_codes: list[int] = field(default_factory=list)

    def offer(self, push: Push) -> None:
        self.pushes.put_nowait(push)

    def request_close(self, code: int) -> None:
        self.close_codes.append(code)

    async def next_push(self) -> Push:
        async with asyncio.timeout(WAIT_SECONDS):
            return await self.pushes.get()


class FakeRenderer:
    """Stands in for `render_event`: one push per user, failing for chosen message ids."""

    def __init__(self) -> None:
        self.calls: list[tuple[Event, list[int]]] = []
        self.failing: set[int] = set()

    async def __call__(self, event: Event, user_ids: list[int]) -> dict[int, Push]:
        self.calls.append((event, list(user_ids)))
        if event.message in self.failing:
            raise RuntimeError("the message vanished")
        return {
            uid: Push(f"m{event.message}>u{uid}", event.conversation, event.message)
            for uid in user_ids
        }


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
    assert bob_push.frame == "m42>u2"
    assert alice_laptop.pushes.get_nowait() is alice_phone.pushes.get_nowait()
    assert [tab.pushes.qsize() for tab in (alice_laptop, alice_phone, bob)] == [0, 0, 0]


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
    hub.deliver(message(42, BOB))  # rendered after the failure, on a fresh connection
    assert (await bob.next_push()).message == 42
    assert [tab.close_codes for tab in alice_tabs] == [[RESTART_CODE], [RESTART_CODE]]
    assert bob.close_codes == []


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
