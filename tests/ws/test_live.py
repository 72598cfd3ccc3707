"""Messages pushed live over /ws: every tab of both people, once, rendered for its viewer;
reconnecting tabs catch up; strangers, logged-out sessions and stalled tabs get nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, TypeVar

import pytest
from bs4 import BeautifulSoup
from quart import Quart
from quart.testing import QuartClient, connections
from quart.testing.connections import WebsocketDisconnectError

from chatin.live import socket as socket_module
from tests.chatting import (
    ORIGIN,
    WAIT,
    Person,
    another_session,
    article_text,
    articles,
    articles_until,
    frame,
    frame_with,
    hello_of,
    message_id,
    open_tab,
    seed_messages,
    start_chat,
)
from tests.conftest import parse

T = TypeVar("T", bound=connections.TestWebsocketConnection)

LOGGED_OUT = 4401
TOO_SLOW = 1013
CLIENT_FRAME_LIMIT = 2**20  # the `websockets` client's default max_size


def assert_oob_swaps(pushed: BeautifulSoup, page: BeautifulSoup) -> None:
    """Every top-level element is an out-of-band swap whose target is on the viewer's page
    (the ws extension swaps top-level elements only: by id, or into a target)."""
    elements = pushed.find_all(recursive=False)
    assert elements, "an empty frame"
    for element in elements:
        swap = str(element.get("hx-swap-oob", "true"))
        if ":" in swap:
            target = swap.split(":", 1)[1]
            assert page.select_one(target) is not None, f"{swap}: no such target on the page"
        else:
            assert element.get("id"), f"a top-level element without id: {element}"
            found = page.select_one(f"#{element['id']}")
            assert found is not None, f"#{element['id']} is not on the page"


async def wait_closed(ws: connections.TestWebsocketConnection) -> int:
    """The close code, after whatever frames were already on their way."""
    with pytest.raises(WebsocketDisconnectError) as closed:
        async with asyncio.timeout(WAIT):
            while True:
                await ws.receive()
    return closed.value.args[0]


async def test_a_message_reaches_every_tab_of_both_people_once(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    async with (
        alice.socket() as alice_tab,
        alice.socket() as alice_other_tab,
        bob.socket() as bob_tab,
        bob.socket() as bob_other_tab,
    ):
        tabs = {alice_tab: alice, alice_other_tab: alice, bob_tab: bob, bob_other_tab: bob}
        pages = {alice.id: await alice.page(path), bob.id: await bob.page(path)}
        for tab, who in tabs.items():
            await open_tab(who, tab, path)

        body = 'hello <b>both</b><img src=x onerror="alert(1)">\nof you'
        message = await alice.say(conversation, body)
        for tab, who in tabs.items():
            pushed = await frame_with(tab, f"#message-{message}")
            assert_oob_swaps(pushed, pages[who.id])
            insert = pushed.find(attrs={"hx-swap-oob": f"beforeend:#thread-{conversation}"})
            assert insert is not None and insert.parent is pushed
            article = insert.select_one(f"article#message-{message}")
            assert article_text(article) == body
            assert article.select("b, img, script, [onerror]") == []
            statuses = [s["aria-label"] for s in article.select("[aria-label]")]
            assert statuses == (["Sent"] if who is alice else [])
            entry = pushed.select_one(f"#conv-{conversation} a[href='{path}']")
            assert entry is not None
            other = "Bob" if who is alice else "Alice"
            assert other in entry.get_text() and "hello <b>both</b>" in entry.get_text()
            assert entry.select("b, img, script, [onerror]") == []
            unread = [u["aria-label"] for u in entry.select("[aria-label$=unread]")]
            assert unread == ([] if who is alice else ["1 unread"])
            cursor = pushed.select_one(f"input#cursor-{conversation}")
            assert cursor is not None and cursor["value"] == str(message)

        fence = await bob.say(conversation, "fence")
        for tab in tabs:
            assert await articles_until(tab, fence) == [fence], "a message came twice"


async def page_send(who: Person, conversation: int, page: BeautifulSoup, body: str) -> int:
    """Send as the page's script does: with the page's own token beside the message."""
    form = {"body": body, "client_id": str(uuid.uuid4()), "csrf_token": who.csrf}
    form["tab"] = str(page.select_one("form.composer input[name=tab]")["value"])
    response = await who.client.post(
        f"/c/{conversation}/messages", form=form, headers={"HX-Request": "true"}
    )
    assert response.status_code == 201
    return message_id(parse(await response.get_data(as_text=True)).select_one("article"))


async def test_the_page_that_sent_a_message_gets_no_copy_and_every_other_tab_does(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    sending, other = await alice.page(path), await alice.page(path)
    async with alice.socket() as sender, alice.socket() as alice_other, bob.socket() as bob_tab:
        await sender.send(hello_of(sending, url=path))
        await alice_other.send(hello_of(other, url=path))
        for tab in (sender, alice_other):
            await frame_with(tab, "#conversation-list")
        await open_tab(bob, bob_tab, path)
        message = await page_send(alice, conversation, sending, "from this page")
        for tab in (alice_other, bob_tab):
            assert await articles_until(tab, message) == [message]
        # Bob's page can't silence Alice's: a token only counts for its own person's tabs.
        forged = await page_send(bob, conversation, sending, "a forged token")
        for tab in (sender, alice_other, bob_tab):
            assert await articles_until(tab, forged) == [forged]
        fence = await bob.say(conversation, "fence")
        for tab in (sender, alice_other, bob_tab):
            assert await articles_until(tab, fence) == [fence]


async def test_a_new_contact_request_appears_live_with_accept_and_block(
    alice: Person, bob: Person
) -> None:
    async with bob.socket() as bob_tab, alice.socket() as alice_tab:
        home = await bob.page("/")
        await open_tab(bob, bob_tab, "/")
        conversation = await start_chat(alice, bob, accept=False)
        await open_tab(alice, alice_tab, f"/c/{conversation}")
        pushed = await frame_with(bob_tab, f"#conv-{conversation}")
        entry = pushed.select_one(f"#conv-{conversation}")
        into_list = entry.find_parent(attrs={"hx-swap-oob": True})
        assert into_list is not None and into_list.parent is pushed
        target = str(into_list["hx-swap-oob"]).split(":", 1)[-1]
        assert home.select_one(target) is home.select_one("#conversation-list")
        link = entry.select_one(f"a[href='/c/{conversation}']")
        assert link is not None and "Alice" in link.get_text()
        for button in ("Accept", "Block"):
            assert entry.find("button", string=button) is not None, button

        assert (await bob.post(f"/c/{conversation}/accept", htmx=True)).status_code in (200, 204)
        accepted = await frame_with(bob_tab, f"#conv-{conversation}")
        assert accepted.select_one(f"#conv-{conversation}").find("button", string="Accept") is None
        message = await bob.say(conversation, "hi Alice")
        assert message in await articles_until(alice_tab, message)


@pytest.mark.parametrize("reconnecting", ["reader", "author"])
async def test_reconnecting_tab_gets_each_missed_message_once_in_order(
    alice: Person, bob: Person, carol: Person, reconnecting: str
) -> None:
    conversation = await start_chat(alice, bob)
    elsewhere = await start_chat(carol, bob)
    with_carol = await start_chat(alice, carol)
    viewer = bob if reconnecting == "reader" else alice
    path = f"/c/{conversation}"
    page = await viewer.page(path)
    async with viewer.socket() as tab:
        await tab.send(hello_of(page, url=path))
        await frame_with(tab, "#conversation-list")
        seen = await alice.say(conversation, "seen live")
        cursor = (await frame_with(tab, f"#message-{seen}")).select_one(f"#cursor-{conversation}")
        assert cursor is not None and cursor["value"] == str(seen)

    missed = [await alice.say(conversation, f"missed {n}") for n in range(3)]
    async with viewer.socket() as tab:
        await tab.send(hello_of(page, cursor=cursor, url=path))
        listing = await frame(tab)
        entries = {a["href"] for a in listing.select("#conversation-list a[href^='/c/']")}
        assert entries == {path, f"/c/{elsewhere if viewer is bob else with_carol}"}
        fence = await alice.say(conversation, "fence")  # while the tab may still catch up
        caught_up = await articles_until(tab, fence)
        assert caught_up == [*missed, fence]
        last = await alice.say(conversation, "last")
        assert await articles_until(tab, last) == [last]


async def test_catch_up_frames_are_swaps_into_the_open_conversation(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    page = await bob.page(path)
    missed = [await alice.say(conversation, f"missed {n}") for n in range(2)]
    async with bob.socket() as tab:
        await tab.send(hello_of(page, url=path))
        listing = await frame(tab)
        assert_oob_swaps(listing, page)
        caught_up = await frame_with(tab, "article")
        assert_oob_swaps(caught_up, page)
        assert articles(caught_up) == missed
        assert caught_up.select_one(f"#cursor-{conversation}")["value"] == str(missed[-1])
        for article in caught_up.select("article"):
            assert article.select("[aria-label]") == []


async def test_a_catch_up_of_long_messages_comes_in_frames_clients_accept(
    alice: Person, bob: Person
) -> None:
    """Escaping makes "&<" text five times longer: 150 such messages would be one frame of
    2.7 MB, past the 1 MiB many WebSocket clients take by default."""
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    page = await bob.page(path)
    filler = " " + "&<" * 1_990  # 3,980 characters, under the 4,000 limit
    missed = await seed_messages(conversation, alice.id, 150, filler)
    async with bob.socket() as tab:
        await tab.send(hello_of(page, url=path))
        await frame_with(tab, "#conversation-list")
        seen: list[int] = []
        async with asyncio.timeout(WAIT):
            while len(seen) < len(missed):
                raw = await tab.receive()
                assert len(raw.encode()) < CLIENT_FRAME_LIMIT
                caught_up = parse(raw)
                seen += articles(caught_up)
                assert caught_up.select_one(f"#cursor-{conversation}")["value"] == str(seen[-1])
        assert seen == missed
        assert str(caught_up.select("article p.body")[-1].get_text()).endswith(filler)


async def test_message_pushed_before_the_hello_does_not_jump_the_catch_up(
    alice: Person, bob: Person
) -> None:
    """A browser says hello on the socket's open event, a round trip after the server
    accepted; a message committed meanwhile must still come after the missed ones."""
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    page = await bob.page(path)
    missed = [await alice.say(conversation, f"missed {n}") for n in range(3)]
    async with socket_of(bob.client, WatchedTab) as tab, bob.socket() as other_tab:
        await open_tab(bob, other_tab, path)
        async with asyncio.timeout(WAIT):
            await tab.opened.wait()  # what makes the browser send its hello
        early = await alice.say(conversation, "while the hello is on its way")
        # Bob's other tab has it, so the hub has handed it to this tab too.
        assert await articles_until(other_tab, early) == [early]
        await tab.send(hello_of(page, url=path))
        fence = await alice.say(conversation, "fence")
        seen = await articles_until(tab, fence)
        assert sorted(seen) == [*missed, early, fence], "a message was lost or repeated"
        assert seen == [*missed, early, fence], "the tab got its messages out of order"


async def test_stranger_gets_nothing_of_someone_elses_conversation(
    alice: Person, bob: Person, carol: Person
) -> None:
    theirs = await start_chat(alice, bob)
    with_carol = await start_chat(alice, carol)
    page = await carol.page(f"/c/{with_carol}")
    async with carol.socket() as tab:
        # A forged hello asking to catch up on Alice and Bob's conversation from the start.
        forged = json.loads(hello_of(page, url=f"/c/{with_carol}"))
        forged |= {"conversation": theirs, "after": "0"}
        await tab.send(json.dumps(forged))
        listing = await frame(tab)
        assert listing.select_one(f"a[href='/c/{theirs}']") is None
        assert listing.select_one(f"a[href='/c/{with_carol}']") is not None

        await alice.say(theirs, "private")
        await bob.say(theirs, "also private")
        fence = await alice.say(with_carol, "hi Carol")
        pushed = await frame(tab)
        assert articles(pushed) == [fence], "the stranger got someone else's message"
        assert pushed.select_one(f"#conv-{theirs}") is None


async def test_log_out_closes_that_sessions_socket_only(
    app: Quart, alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    alice_elsewhere = await another_session(app, alice)
    path = f"/c/{conversation}"
    async with alice.socket() as tab, alice_elsewhere.socket() as other_session_tab:
        await open_tab(alice, tab, path)
        await open_tab(alice_elsewhere, other_session_tab, path)
        assert (await alice.post("/logout")).status_code == 303
        assert await wait_closed(tab) == LOGGED_OUT
        message = await bob.say(conversation, "still there?")
        assert await articles_until(other_session_tab, message) == [message]


class WatchedTab(connections.TestWebsocketConnection):
    """A tab whose `opened` event fires when the server accepts, like the browser's `open`."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.opened = asyncio.Event()

    async def _asgi_send(self, message: dict) -> None:  # type: ignore[override]
        await super()._asgi_send(message)
        if message["type"] == "websocket.accept":
            self.opened.set()


class StalledTab(connections.TestWebsocketConnection):
    """A tab that stopped reading: the server's sends to it never complete (as when a
    browser's TCP window stays full). Accept and close still go through."""

    async def _asgi_send(self, message: dict) -> None:  # type: ignore[override]
        if message["type"] == "websocket.send":
            await asyncio.Event().wait()
        await super()._asgi_send(message)


def socket_of(client: QuartClient, kind: type[T]) -> T:
    """A /ws connection of the test client made with our own connection class."""
    client.websocket_connection_class = kind  # type: ignore[assignment]
    try:
        return client.websocket("/ws", headers={"Origin": ORIGIN})  # type: ignore[return-value]
    finally:
        del client.websocket_connection_class


async def test_tab_that_stops_reading_is_closed_and_others_keep_receiving(
    alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket_module, "QUEUE_SIZE", 4)  # fill it in a few messages, not 257
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    async with bob.socket() as reading_tab, socket_of(bob.client, StalledTab) as stalled_tab:
        await open_tab(bob, reading_tab, path)
        sent = []
        for n in range(6):  # one stuck in the send, four queued, one too many
            sent.append(await alice.say(conversation, f"burst {n}"))
            assert await articles_until(reading_tab, sent[-1]) == [sent[-1]]
        assert await wait_closed(stalled_tab) == TOO_SLOW
        after = await alice.say(conversation, "after the slow tab left")
        assert await articles_until(reading_tab, after) == [after]


async def test_a_tab_that_goes_away_leaves_the_hub(app: Quart, alice: Person, bob: Person) -> None:
    """The tab's going reaches the socket's reader, which must end the whole socket: its
    place in the hub is freed (a worker holds only open tabs) and the next tab is served."""
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    hub = app.extensions["hub"]
    async with asyncio.timeout(WAIT):
        async with bob.socket() as tab:  # leaving the block disconnects, then awaits the end
            await open_tab(bob, tab, path)
            assert hub.tab_count() == 1
    assert hub.tab_count() == 0
    async with bob.socket() as tab:
        await open_tab(bob, tab, path)
        said = await alice.say(conversation, "after the first tab went")
        assert await articles_until(tab, said) == [said]
