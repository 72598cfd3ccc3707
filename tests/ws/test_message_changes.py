"""Edits and deletes over /ws: pushed live to every tab of both people as the message now
is, and replayed to a tab that was away exactly once each, in order, by its change cursor."""

from __future__ import annotations

import asyncio
import json

from bs4 import BeautifulSoup, Tag

from chatin.models import Conversation
from tests.chatting import (
    WAIT,
    Person,
    article_text,
    articles,
    articles_until,
    frame_with,
    hello_of,
    open_tab,
    start_chat,
    two_tabs_each,
)
from tests.conftest import parse
from tests.ws.test_live import WatchedTab, assert_oob_swaps, socket_of

DELETED = "This message was deleted"


async def edit(who: Person, conversation: int, message: int, body: str) -> None:
    form = {"body": body, "csrf_token": who.csrf}
    path = f"/c/{conversation}/m/{message}/edit"
    response = await who.client.post(path, form=form, headers={"HX-Request": "true"})
    assert response.status_code == 200, await response.get_data(as_text=True)


async def delete(who: Person, conversation: int, message: int) -> None:
    response = await who.post(f"/c/{conversation}/m/{message}/delete", htmx=True)
    assert response.status_code == 200, await response.get_data(as_text=True)


def shown(article: Tag) -> tuple[int, str, bool]:
    """A message as a frame shows it: id, text, marked edited."""
    return int(article["data-id"]), article_text(article), article.select_one(".edited") is not None


def hello_at(page: BeautifulSoup, path: str, after: int, seq: int) -> str:
    """The page's hello with its cursors where earlier pushes left them."""
    hello = json.loads(hello_of(page, url=path))
    assert {"after", "seq"} <= hello.keys(), "the hello carries both cursors"
    return json.dumps(hello | {"after": str(after), "seq": str(seq)})


async def messages_until(tab: object, last: int) -> list[tuple[int, str, bool]]:
    """Every message in every frame up to the one carrying message `last`, as shown."""
    seen: list[tuple[int, str, bool]] = []
    async with asyncio.timeout(WAIT):
        while last not in [message for message, _, _ in seen]:
            html = parse(await tab.receive())  # type: ignore[attr-defined]
            seen += [shown(article) for article in html.select("article[data-id]")]
    return seen


async def last_seq(conversation: int) -> int:
    return (await Conversation.get(id=conversation)).last_seq


async def test_an_edit_and_a_delete_reach_every_tab_of_both_people_live(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    message = await alice.say(conversation, "draft")
    async with two_tabs_each(alice, bob, path) as tabs:
        await edit(alice, conversation, message, "final <b>text</b>")
        for tab, opened in tabs.items():
            who = opened.who
            pushed = await frame_with(tab, f"#message-{message}")
            assert_oob_swaps(pushed, opened.page)
            article = pushed.find("article", recursive=False)
            assert article is not None, "a changed message swaps its twin by id"
            assert shown(article) == (message, "final <b>text</b>", True)
            actions = article.select_one("details.message-actions summary")
            assert actions is not None and "Message actions" in actions.get_text()
            mine = "mine" in article["class"]
            assert mine == (who.id == alice.id), "the page's menu offers Edit and Delete on mine"
            cursor = pushed.find("input", id=f"seq-{conversation}", recursive=False)
            assert cursor is not None and cursor["value"] == str(await last_seq(conversation))

        await delete(alice, conversation, message)
        for tab in tabs:
            pushed = await frame_with(tab, f"#message-{message}")
            article = pushed.find("article", recursive=False)
            assert shown(article) == (message, DELETED, False)
            assert article.select("details") == [] and "final" not in str(pushed)

        fence = await bob.say(conversation, "fence")
        for tab in tabs:
            assert await articles_until(tab, fence) == [fence], "a change came twice"


async def test_a_tab_away_during_changes_catches_up_to_their_current_state_once(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    first = await alice.say(conversation, "first")
    second = await alice.say(conversation, "second")
    third = await bob.say(conversation, "third")
    unchanged = await bob.say(conversation, "unchanged")
    page = await bob.page(path)
    hello = hello_at(page, path, unchanged, await last_seq(conversation))
    async with bob.socket() as tab:
        await tab.send(hello)
        await frame_with(tab, "#conversation-list")

    await edit(alice, conversation, first, "first, edited")
    await edit(alice, conversation, first, "first, edited twice")
    await delete(alice, conversation, second)
    await edit(bob, conversation, third, "third, edited")  # in another tab of bob's
    newer = await alice.say(conversation, "newer")
    await edit(alice, conversation, newer, "newer, edited")
    async with bob.socket() as tab:
        await tab.send(hello)
        await frame_with(tab, "#conversation-list")
        fence = await alice.say(conversation, "fence")
        seen = await messages_until(tab, fence)
    assert seen == [
        (first, "first, edited twice", True),
        (second, DELETED, False),
        (third, "third, edited", True),
        (newer, "newer, edited", True),
        (fence, "fence", False),
    ], "each change once, in the order they happened, as the message now is"


async def test_the_catch_up_moves_the_change_cursor_so_a_later_one_repeats_nothing(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    message = await alice.say(conversation, "draft")
    page = await bob.page(path)
    start = await last_seq(conversation)
    await edit(alice, conversation, message, "edited while away")
    async with bob.socket() as tab:
        await tab.send(hello_at(page, path, message, start))
        await frame_with(tab, "#conversation-list")
        caught_up = await frame_with(tab, f"#message-{message}")
    cursor = caught_up.find("input", id=f"seq-{conversation}", recursive=False)
    assert cursor is not None and int(cursor["value"]) == await last_seq(conversation)
    async with bob.socket() as tab:
        await tab.send(hello_at(page, path, message, int(cursor["value"])))
        await frame_with(tab, "#conversation-list")
        fence = await alice.say(conversation, "fence")
        assert await articles_until(tab, fence) == [fence]


async def test_a_change_made_while_the_hello_is_on_its_way_comes_once(
    alice: Person, bob: Person
) -> None:
    """The change is both queued for the tab and in its catch-up: the tab gets it once."""
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    message = await alice.say(conversation, "draft")
    page = await bob.page(path)
    start = await last_seq(conversation)
    async with socket_of(bob.client, WatchedTab) as tab, bob.socket() as other_tab:
        await open_tab(bob, other_tab, path)
        async with asyncio.timeout(WAIT):
            await tab.opened.wait()
        await edit(alice, conversation, message, "edited meanwhile")
        # Bob's other tab has it, so the hub has handed it to this tab too.
        await frame_with(other_tab, f"#message-{message}")
        await tab.send(hello_at(page, path, message, start))
        fence = await alice.say(conversation, "fence")  # may come in the catch-up
        seen = await messages_until(tab, fence)
        later = await alice.say(conversation, "later")  # after everything queued before
        seen += await messages_until(tab, later)
    assert seen == [
        (message, "edited meanwhile", True),
        (fence, "fence", False),
        (later, "later", False),
    ]


async def test_a_change_to_a_message_the_tab_has_not_loaded_is_not_added_to_it(
    alice: Person, bob: Person
) -> None:
    """The pushed article is bare (it swaps by id only); the thread script places only
    articles whose twin the tab shows (checked in the browser tests' page)."""
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    message = await alice.say(conversation, "old")
    async with bob.socket() as tab:
        await open_tab(bob, tab, path)
        await edit(alice, conversation, message, "old, edited")
        pushed = await frame_with(tab, f"#message-{message}")
    assert pushed.find(attrs={"hx-swap-oob": True}) is None, "nothing is inserted anywhere"
    assert articles(pushed) == [message]
