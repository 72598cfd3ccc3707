"""Groups live over /ws: a new group reaches every member's list, messages, typing and
receipts reach the members, and someone who left or was removed gets nothing more of it,
from the removal's commit on; sharing a group reveals no presence."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest
from quart import Quart

from tests.chatting import (
    WAIT,
    Person,
    articles,
    conversation_of,
    frame,
    frame_with,
    hello_of,
    open_tab,
    person,
    start_chat,
)
from tests.conftest import parse
from tests.ws.test_receipts import read, status


async def post_form(who: Person, path: str, pairs: list[tuple[str, str]] = ()) -> int:
    body = urlencode([("csrf_token", who.csrf), *pairs])
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return (await who.client.post(path, data=body.encode(), headers=headers)).status_code


async def group_of(owner: Person, members: list[Person], name: str = "Trip") -> int:
    for member in members:
        await start_chat(owner, member)
    pairs = [("name", name), *(("members", str(m.id)) for m in members)]
    body = urlencode([("csrf_token", owner.csrf), *pairs])
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return conversation_of(await owner.client.post("/groups", data=body.encode(), headers=headers))


async def fence(tab: object, who: Person) -> None:
    """Something `who` must get next: their own new name in the top bar. Any group news
    that came first fails the test."""
    assert (await post_form(who, "/profile/name", [("display_name", f"{who.name}!")])) == 303
    html = parse(await asyncio.wait_for(tab.receive(), WAIT))  # type: ignore[attr-defined]
    assert html.select_one("#own-name, .me-name") is not None, f"came before the fence: {html}"


async def test_a_new_group_appears_live_in_every_members_list(
    alice: Person, bob: Person, carol: Person
) -> None:
    await start_chat(alice, bob)
    await start_chat(alice, carol)
    async with bob.socket() as bob_tab, carol.socket() as carol_tab:
        await open_tab(bob, bob_tab, "/")
        await open_tab(carol, carol_tab, "/")
        pairs = [("name", "Trip"), ("members", str(bob.id)), ("members", str(carol.id))]
        body = urlencode([("csrf_token", alice.csrf), *pairs]).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        group = conversation_of(await alice.client.post("/groups", data=body, headers=headers))
        for tab in (bob_tab, carol_tab):
            html = await frame_with(tab, f"#conv-{group}")
            entry = html.select_one(f"#conv-{group}")
            assert "Trip" in entry.get_text() and "Alice created the group" in entry.get_text()


async def test_group_messages_reach_every_member_once_with_the_authors_name(
    alice: Person, bob: Person, carol: Person
) -> None:
    group = await group_of(alice, [bob, carol])
    path = f"/c/{group}"
    async with bob.socket() as bob_tab, carol.socket() as carol_tab:
        await open_tab(bob, bob_tab, path)
        await open_tab(carol, carol_tab, path)
        message = await alice.say(group, "hello group")
        for who, tab in ((bob, bob_tab), (carol, carol_tab)):
            # Live, or in the catch-up when the post beat the tab's hello: once either way.
            html = await frame_with(tab, f"#message-{message}")
            assert articles(html) == [message]
            assert html.select_one(f"#message-{message} .author").get_text() == "Alice"
            entry = (await who.page("/")).select_one(f"#conv-{group}")
            assert "Alice: hello group" in entry.get_text()


async def test_typing_names_one_two_or_several(
    app: Quart, alice: Person, bob: Person, carol: Person
) -> None:
    dave = await person(app, "Dave")
    group = await group_of(alice, [bob, carol, dave])
    async with alice.socket() as tab:
        await open_tab(alice, tab, f"/c/{group}")
        expected = [
            "Bob is typing…",
            "Bob and Carol are typing…",
            "Several people are typing…",
        ]
        for typist, text in zip((bob, carol, dave), expected, strict=True):
            assert await post_form(typist, f"/c/{group}/typing") == 204
            html = await frame_with(tab, f"#typing-{group}")
            assert html.select_one(f"#typing-{group}").get_text() == text


async def test_receipts_turn_delivered_and_read_only_when_every_other_member_has(
    alice: Person, bob: Person, carol: Person
) -> None:
    group = await group_of(alice, [bob, carol])
    path = f"/c/{group}"
    async with alice.socket() as alice_tab:
        await open_tab(alice, alice_tab, path)
        message = await alice.say(group, "did everyone get this?")
        assert status(await frame_with(alice_tab, f"#message-{message}"), message) == "Sent"
        async with bob.socket() as bob_tab:
            await open_tab(bob, bob_tab, "/")  # Bob's tab has it: one of two
            ticked = await frame_with(alice_tab, f"#status-{message}")
            assert status(ticked, message) == "Sent"
            async with carol.socket() as carol_tab:
                await open_tab(carol, carol_tab, "/")
                ticked = await frame_with(alice_tab, f"#status-{message}")
                assert status(ticked, message) == "Delivered"
                await read(bob, group, message)
                ticked = await frame_with(alice_tab, f"#status-{message}")
                assert status(ticked, message) == "Delivered"
                assert ticked.select_one(f"#status-{message}")["data-detail"] == "Read by 1 of 2"
                await read(carol, group, message)
                ticked = await frame_with(alice_tab, f"#status-{message}")
                assert status(ticked, message) == "Read"


@pytest.mark.parametrize("how", ["removed", "left"])
async def test_a_removed_or_leaving_members_tab_loses_the_group_and_hears_nothing_more(
    how: str, alice: Person, bob: Person, carol: Person
) -> None:
    group = await group_of(alice, [bob, carol])
    async with bob.socket() as bob_tab:
        await open_tab(bob, bob_tab, f"/c/{group}")
        if how == "removed":
            assert await post_form(alice, f"/c/{group}/members/{bob.id}/remove") == 303
        else:
            assert await post_form(bob, f"/c/{group}/leave") == 303
        gone = await frame_with(bob_tab, f"#chat-{group}")
        assert gone.select_one(f"#conv-{group}[hx-swap-oob=delete]") is not None
        assert "no longer in this group" in gone.select_one(f"#chat-{group}").get_text()
        await alice.say(group, "after Bob")
        await post_form(carol, f"/c/{group}/typing")
        await post_form(alice, f"/c/{group}/name", [("name", "Without Bob")])
        await fence(bob_tab, bob)


@pytest.mark.parametrize("role", ["owner", "member", "left", "removed", "stranger"])
async def test_socket_permission_table(
    app: Quart, role: str, alice: Person, bob: Person, carol: Person
) -> None:
    """A hello naming the group catches up a member on it, and nobody else; and only
    members hear of its new messages."""
    dave, erin = await person(app, "Dave"), await person(app, "Erin")
    group = await group_of(alice, [bob, carol, dave])
    early = await alice.say(group, "early")
    assert await post_form(carol, f"/c/{group}/leave") == 303
    assert await post_form(alice, f"/c/{group}/members/{dave.id}/remove") == 303
    who = {"owner": alice, "member": bob, "left": carol, "removed": dave, "stranger": erin}[role]
    member = role in ("owner", "member")
    page = await who.page("/")
    async with who.socket() as tab:
        hello = json.loads(hello_of(page)) | {"conversation": group, "after": "0"}
        await tab.send(json.dumps(hello))
        listing = await frame(tab)
        assert (listing.select_one(f"#conv-{group}") is not None) is member
        if member:
            caught_up = await frame_with(tab, f"#message-{early}")
            assert early in articles(caught_up)
        later = await bob.say(group, "later")
        if member:
            assert later in articles(await frame_with(tab, f"#message-{later}"))
        await fence(tab, who)


async def test_sharing_a_group_reveals_no_presence(
    alice: Person, bob: Person, carol: Person
) -> None:
    """Bob and Carol are not contacts; they only share Alice's group."""
    group = await group_of(alice, [bob, carol])
    async with carol.socket() as carol_tab:
        await open_tab(carol, carol_tab, f"/c/{group}")
        page = await carol.page(f"/c/{group}")
        assert page.select_one(f"#presence-head-{bob.id}") is None
        assert page.select_one(f"#presence-list-{bob.id}") is None
        async with bob.socket() as bob_tab:
            await open_tab(bob, bob_tab, "/")
            await fence(carol_tab, carol)
