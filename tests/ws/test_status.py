"""Receipts, unread counts, typing and presence reach exactly the people who may see them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from bs4 import BeautifulSoup
from quart import Quart
from quart.testing import QuartClient

from chatin import db
from chatin.events import CHANNEL
from chatin.live import presence as presence_module
from chatin.models import User
from tests.conftest import csrf_token, parse, sign_up

if TYPE_CHECKING:
    from quart.testing.connections import TestWebsocketConnection

ORIGIN = {"Origin": "http://localhost"}
WAIT = 5


async def post(client: QuartClient, path: str, **form: str) -> int:
    form["csrf_token"] = await csrf_token(client, "/")
    response = await client.post(path, form=form, headers={"HX-Request": "true"})
    return response.status_code


async def start_chat(app: Quart, first: str, second: str, accept: bool = True) -> tuple:
    """Two signed-up people; the first adds the second, who accepts unless told not to."""
    one, two = app.test_client(), app.test_client()
    await sign_up(one, first)
    email = await sign_up(two, second)
    token = await csrf_token(one, "/")
    response = await one.post("/contacts", form={"contact_email": email, "csrf_token": token})
    conversation = int(response.headers["Location"].rsplit("/", 1)[1])
    if accept:
        assert await post(two, f"/c/{conversation}/accept") in (200, 204)
    return one, two, conversation


async def frame(ws: TestWebsocketConnection) -> BeautifulSoup:
    async with asyncio.timeout(WAIT):
        return parse(await ws.receive())


async def frame_where(ws: TestWebsocketConnection, found: Callable[[BeautifulSoup], bool]):
    """The first frame that satisfies `found`, skipping others (bounded in time)."""
    async with asyncio.timeout(WAIT):
        while True:
            html = parse(await ws.receive())
            if found(html):
                return html


async def hello(ws: TestWebsocketConnection, conversation: int | str = "", after: int = 0) -> None:
    await ws.send(json.dumps({"conversation": conversation, "after": str(after)}))
    await frame(ws)  # the list, re-sent in full


async def send(client: QuartClient, conversation: int, body: str) -> int:
    token = await csrf_token(client, f"/c/{conversation}")
    response = await client.post(
        f"/c/{conversation}/messages",
        form={"body": body, "client_id": _uuid(), "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 201
    return int(parse(await response.get_data(as_text=True)).article["data-id"])


def _uuid() -> str:
    return str(uuid.uuid4())


def status_of(html: BeautifulSoup, message_id: int) -> str | None:
    span = html.select_one(f"#status-{message_id}")
    return None if span is None else span["aria-label"]


async def test_author_sees_delivered_then_read_in_every_tab(app: Quart) -> None:
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    async with (
        alice.websocket("/ws", headers=ORIGIN) as alice_tab,
        alice.websocket("/ws", headers=ORIGIN) as alice_other_tab,
        bob.websocket("/ws", headers=ORIGIN) as bob_tab,
    ):
        for tab in (alice_tab, alice_other_tab, bob_tab):
            await hello(tab, conversation)
        message = await send(alice, conversation, "hello")
        for tab in (alice_tab, alice_other_tab):
            sent = await frame_where(tab, lambda h: h.select_one(f"#message-{message}"))
            assert status_of(sent, message) == "Sent"
        await frame_where(bob_tab, lambda h: h.select_one(f"#message-{message}"))
        for tab in (alice_tab, alice_other_tab):
            delivered = await frame_where(tab, lambda h: status_of(h, message) is not None)
            assert status_of(delivered, message) == "Delivered"

        assert await post(bob, f"/c/{conversation}/read", upto=str(message)) == 204
        for tab in (alice_tab, alice_other_tab):
            read = await frame_where(tab, lambda h: status_of(h, message) is not None)
            assert status_of(read, message) == "Read"
        entry = await frame_where(bob_tab, lambda h: h.select_one(f"#conv-{conversation}"))
        assert entry.select_one("[aria-label$=unread]") is None


async def test_unread_count_follows_messages_and_reads(app: Quart) -> None:
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    async with bob.websocket("/ws", headers=ORIGIN) as bob_tab:
        await hello(bob_tab)
        for text in ("one", "two", "three"):
            last = await send(alice, conversation, text)
        # The last message's frame is rendered after all three were stored, before any read.
        entry = await frame_where(bob_tab, lambda h: h.select_one(f"#message-{last}"))
        assert entry.select_one(f"#conv-{conversation} [aria-label='3 unread']") is not None
        assert entry.select_one(f"#conv-{conversation} a")["href"] == f"/c/{conversation}"
        assert await post(bob, f"/c/{conversation}/read", upto=str(last - 1)) == 204
        entry = await frame_where(bob_tab, lambda h: h.select_one(f"#conv-{conversation}"))
        assert entry.select_one("[aria-label='1 unread']") is not None


async def test_read_is_clamped_to_the_latest_message_and_never_moves_back(app: Quart) -> None:
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    first = await send(alice, conversation, "one")
    await send(alice, conversation, "two")
    assert await post(bob, f"/c/{conversation}/read", upto=str(10**15)) == 204
    assert await post(bob, f"/c/{conversation}/read", upto=str(first)) == 204
    page = parse(await (await bob.get("/")).get_data(as_text=True))
    assert page.select_one(f"#conv-{conversation} [aria-label$=unread]") is None
    await send(alice, conversation, "three")
    page = parse(await (await bob.get("/")).get_data(as_text=True))
    assert page.select_one(f"#conv-{conversation} [aria-label='1 unread']") is not None


async def test_strangers_cannot_mark_read_or_type(app: Quart) -> None:
    alice, _, conversation = await start_chat(app, "Alice", "Bob")
    mallory = app.test_client()
    await sign_up(mallory, "Mallory")
    assert await post(mallory, f"/c/{conversation}/read", upto="1") == 404
    assert await post(mallory, f"/c/{conversation}/typing") == 404
    assert await post(alice, f"/c/{conversation}/read", upto="not-a-number") == 400


async def test_typing_reaches_the_other_side_once_per_burst(app: Quart) -> None:
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    async with alice.websocket("/ws", headers=ORIGIN) as alice_tab:
        await hello(alice_tab, conversation)
        assert await post(bob, f"/c/{conversation}/typing") == 204
        # A push of Bob's accept may still be on its way; the typing frame is the next after it.
        typing = await frame_where(alice_tab, lambda html: html.select_one(".typing") is not None)
        assert typing.select_one(f"#typing-{conversation}").get_text() == "Bob is typing…"
        assert await post(bob, f"/c/{conversation}/typing") == 204  # within 3 s: dropped
        message = await send(bob, conversation, "done typing")
        fence = await frame(alice_tab)
        assert fence.select_one(f"#message-{message}") is not None, "a second typing frame came"
        assert fence.select_one(f"#typing-{conversation}").get_text() == ""


async def test_presence_reaches_accepted_contacts_only(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presence_module, "OFFLINE_GRACE_SECONDS", 0.05)
    alice, bob, with_bob = await start_chat(app, "Alice", "Bob")
    carol = app.test_client()
    carol_email = await sign_up(carol, "Carol")
    token = await csrf_token(alice, "/")
    await alice.post("/contacts", form={"contact_email": carol_email, "csrf_token": token})
    async with (
        bob.websocket("/ws", headers=ORIGIN) as bob_tab,
        carol.websocket("/ws", headers=ORIGIN) as carol_tab,
    ):
        await hello(bob_tab)
        await hello(carol_tab)
        async with alice.websocket("/ws", headers=ORIGIN) as alice_tab:
            await hello(alice_tab)
            online = await frame_where(bob_tab, is_presence)
            assert online.select_one("[id^=presence-list-]")["aria-label"] == "Online"
        offline = await frame_where(bob_tab, is_presence)
        assert offline.select_one("[id^=presence-list-]")["aria-label"] == "Offline"
        assert "last seen" in offline.select_one("[id^=presence-head-]").get_text()
        # Fence: Carol's next frame is Alice's message, not Alice's presence.
        carol_conversation = await _conversation_with(carol, "Alice")
        message = await send(alice, carol_conversation, "hi Carol")
        fence = await frame_where(carol_tab, lambda html: is_presence(html) or is_message(html))
        assert fence.select_one(f"#message-{message}") is not None, "presence leaked to Carol"
    assert with_bob > 0


def is_presence(html: BeautifulSoup) -> bool:
    """A presence push (not a list entry, which carries a presence dot of its own; a push of
    a conversation change may still be on its way when a test's tabs open)."""
    return html.select_one("[id^=presence-]") is not None and html.select_one(".conv-entry") is None


def is_message(html: BeautifulSoup) -> bool:
    return html.select_one("article[id^=message-]") is not None


async def _conversation_with(client: QuartClient, name: str) -> int:
    page = parse(await (await client.get("/")).get_data(as_text=True))
    for link in page.select("nav[aria-label=Conversations] a[href^='/c/']"):
        if name in link.get_text():
            return int(link["href"].rsplit("/", 1)[1])
    raise AssertionError(f"no conversation with {name}")


async def test_blocked_person_sees_no_presence(app: Quart, database_url: str) -> None:
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    assert await post(bob, f"/c/{conversation}/block") in (200, 204)
    page = parse(await (await alice.get(f"/c/{conversation}")).get_data(as_text=True))
    assert page.select_one(".presence-dot, .presence-text.online") is None
    assert page.select_one("[id^=presence-head-]").get_text(strip=True) == ""

    announcements: asyncio.Queue[dict] = asyncio.Queue()
    listener = await db.connect(database_url)
    await listener.add_listener(
        CHANNEL, lambda *args: announcements.put_nowait(json.loads(args[3]))
    )
    try:
        async with bob.websocket("/ws", headers=ORIGIN) as bob_tab:
            await hello(bob_tab)
            async with asyncio.timeout(WAIT):
                event = await announcements.get()
                while event["kind"] != "presence":
                    event = await announcements.get()
    finally:
        await listener.close()
    alice_id = (await User.get(display_name="Alice")).id
    assert alice_id not in (event["to"] or [])
