"""What one person's sockets may cost the server: a socket answers one hello, a catch-up
sends at most CATCH_UP_LIMIT messages (older ones are the page's "Load older messages"),
and a person keeps at most MAX_TABS_PER_USER sockets on a worker."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from quart.testing.connections import WebsocketDisconnectError

from chatin.live.hub import MAX_TABS_PER_USER
from chatin.live.socket import CATCH_UP_LIMIT
from chatin.models import PAGE_SIZE
from tests.chatting import (
    WAIT,
    Person,
    articles,
    articles_until,
    frame_with,
    hello_of,
    message_id,
    open_tab,
    seed_messages,
    start_chat,
)
from tests.conftest import parse

BAD_HELLO = 4400
TOO_MANY_TABS = 4429


async def frames_until_closed(tab: object) -> tuple[list[str], int]:
    """Every frame the server sent until it closed the socket, and the close code."""
    received: list[str] = []
    with pytest.raises(WebsocketDisconnectError) as closed:
        async with asyncio.timeout(WAIT):
            while True:
                received.append(await tab.receive())  # type: ignore[attr-defined]
    return received, closed.value.args[0]


async def test_a_second_hello_closes_the_socket_and_resends_nothing(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    page = await bob.page(path)  # its cursor: nothing shown yet
    missed = await seed_messages(conversation, alice.id, 5)
    async with bob.socket() as tab:
        await tab.send(hello_of(page, url=path))
        assert await articles_until(tab, missed[-1]) == missed
        await tab.send(json.dumps({"typing": True}))  # the contract lets typing come up too
        live = await alice.say(conversation, "still open")
        assert await articles_until(tab, live) == [live]
        await tab.send(hello_of(page, url=path))  # "after": "0" once more
        received, code = await frames_until_closed(tab)
    assert code == BAD_HELLO
    assert [a for frame in received for a in articles(parse(frame))] == []


async def test_a_long_absence_shows_the_newest_page_with_older_ones_a_link_away(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    page = await bob.page(path)  # its cursor: nothing shown yet
    history = await seed_messages(conversation, alice.id, CATCH_UP_LIMIT * 5)
    async with bob.socket() as tab:
        await tab.send(hello_of(page, url=path))
        await frame_with(tab, "#conversation-list")
        replaced = await frame_with(tab, "article")
        thread = replaced.find(attrs={"hx-swap-oob": f"innerHTML:#thread-{conversation}"})
        assert thread is not None and thread.parent is replaced
        assert page.select_one(f"#thread-{conversation}[role=log]") is not None
        assert articles(replaced) == history[-PAGE_SIZE:]
        assert replaced.select_one(f"#cursor-{conversation}")["value"] == str(history[-1])
        fence = await alice.say(conversation, "fence")
        assert await articles_until(tab, fence) == [fence]

    # The link shown above the newest page loads the ones before it, as on the page.
    older = thread.find("a", string="Load older messages")
    assert older is not None
    response = await bob.client.get(str(older["hx-get"]))
    assert response.status_code == 200
    previous = parse(await response.get_data(as_text=True))
    before = history[-2 * PAGE_SIZE : -PAGE_SIZE]
    assert [message_id(a) for a in previous.select("article")] == before


async def test_a_catch_up_up_to_the_limit_comes_in_full_and_in_order(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    page = await bob.page(path)
    missed = await seed_messages(conversation, alice.id, CATCH_UP_LIMIT)
    async with bob.socket() as tab:
        await tab.send(hello_of(page, url=path))
        await frame_with(tab, "#conversation-list")
        # The catch-up reads what was missed after it sends the list: a message sent before
        # it has would make 201 missed, and the newest page would come instead.
        assert await articles_until(tab, missed[-1]) == missed
        fence = await alice.say(conversation, "fence")
        assert await articles_until(tab, fence) == [fence]


async def test_the_oldest_tab_is_closed_when_one_too_many_opens(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    async with contextlib.AsyncExitStack() as stack:
        tabs = []
        for _ in range(MAX_TABS_PER_USER):
            tab = await stack.enter_async_context(alice.socket())
            await open_tab(alice, tab, "/")
            tabs.append(tab)
        newest = await stack.enter_async_context(alice.socket())
        await open_tab(alice, newest, "/")

        _, code = await frames_until_closed(tabs[0])
        assert code == TOO_MANY_TABS
        message = await bob.say(conversation, "to every tab still open")
        for tab in [*tabs[1:], newest]:
            assert message in await articles_until(tab, message)
