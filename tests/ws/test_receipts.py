"""Ticks tell the author only what they may know: nothing but "Sent" while the conversation
is a request (receipts would tell whether a stranger is online), what already happened once
it is accepted, and "Delivered" as soon as the other person has any tab open."""

from __future__ import annotations

import asyncio

import pytest
from bs4 import BeautifulSoup

from tests.chatting import WAIT, Person, frame_with, open_tab, start_chat
from tests.conftest import parse


def status(html: BeautifulSoup, message: int) -> str | None:
    tick = html.select_one(f"#status-{message}")
    return None if tick is None else str(tick["aria-label"])


async def frames_until(tab: object, selector: str) -> tuple[list[BeautifulSoup], BeautifulSoup]:
    """The frames before the first one holding `selector`, and that one (bounded in time)."""
    before: list[BeautifulSoup] = []
    async with asyncio.timeout(WAIT):
        while True:
            html = parse(await tab.receive())  # type: ignore[attr-defined]
            if html.select_one(selector) is not None:
                return before, html
            before.append(html)


async def unread_cleared(tab: object, conversation: int) -> None:
    """Wait for the conversation's list entry without an unread count (bounded in time);
    an entry pushed before (the request itself, the message) may come first."""
    async with asyncio.timeout(WAIT):
        while True:
            html = parse(await tab.receive())  # type: ignore[attr-defined]
            entry = html.select_one(f"#conv-{conversation}")
            if entry is not None and entry.select_one("[aria-label$=unread]") is None:
                return


async def read(who: Person, conversation: int, upto: int) -> None:
    form = {"upto": str(upto), "csrf_token": who.csrf}
    response = await who.client.post(
        f"/c/{conversation}/read", form=form, headers={"HX-Request": "true"}
    )
    assert response.status_code == 204


@pytest.mark.parametrize("accepting", ["Accept", "writing back"])
async def test_a_request_shows_only_sent_until_accepted_then_what_already_happened(
    alice: Person, bob: Person, accepting: str
) -> None:
    conversation = await start_chat(alice, bob, accept=False)
    path = f"/c/{conversation}"
    async with alice.socket() as alice_tab, bob.socket() as bob_tab:
        await open_tab(alice, alice_tab, path)
        await open_tab(bob, bob_tab, "/")
        message = await alice.say(conversation, "hello, stranger")
        await frame_with(bob_tab, f"#message-{message}")  # reached Bob's open tab
        await read(bob, conversation, message)
        await unread_cleared(bob_tab, conversation)  # his own tabs hear of his read
        assert status(await alice.page(path), message) == "Sent"

        if accepting == "Accept":
            assert (await bob.post(f"{path}/accept", htmx=True)).status_code in (200, 204)
        else:
            await bob.say(conversation, "hello back")
        before, accepted = await frames_until(alice_tab, f"#request-{conversation}")
        assert {status(html, message) for html in before} <= {None, "Sent"}
        assert status(accepted, message) == "Read"
    assert status(await alice.page(path), message) == "Read"


async def test_a_tab_that_opens_marks_what_came_meanwhile_delivered_in_every_conversation(
    alice: Person, bob: Person, carol: Person
) -> None:
    with_alice = await start_chat(alice, bob)
    with_carol = await start_chat(carol, bob)
    async with alice.socket() as alice_tab, carol.socket() as carol_tab:
        await open_tab(alice, alice_tab, f"/c/{with_alice}")
        await open_tab(carol, carol_tab, "/")
        from_alice = await alice.say(with_alice, "while you were away")
        from_carol = await carol.say(with_carol, "me too")
        sent = await frame_with(alice_tab, f"#message-{from_alice}")
        assert status(sent, from_alice) == "Sent"
        sent = await frame_with(carol_tab, f"#message-{from_carol}")
        assert status(sent, from_carol) == "Sent"

        async with bob.socket() as bob_tab:  # Bob comes online, on the list page
            await open_tab(bob, bob_tab, "/")
            delivered = await frame_with(alice_tab, f"#status-{from_alice}")
            assert status(delivered, from_alice) == "Delivered"
            delivered = await frame_with(carol_tab, f"#status-{from_carol}")
            assert status(delivered, from_carol) == "Delivered"
    assert status(await alice.page(f"/c/{with_alice}"), from_alice) == "Delivered"
