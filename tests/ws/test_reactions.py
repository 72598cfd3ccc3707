"""Reactions and replies over /ws: a reaction reaches every tab of both people live as the
message now is (chips per viewer), the author hears of it in a toast, a tab that was away
catches up on edits, deletes and reactions once each, and quotes follow their original."""

from __future__ import annotations

import uuid

from bs4 import BeautifulSoup, Tag

from tests.chatting import (
    Person,
    article_text,
    articles_until,
    frame_with,
    open_tab,
    start_chat,
    two_tabs_each,
)
from tests.conftest import parse
from tests.ws.test_live import assert_oob_swaps
from tests.ws.test_message_changes import DELETED, delete, edit, hello_at, last_seq


async def react(who: Person, conversation: int, message: int, emoji: str) -> None:
    form = {"emoji": emoji, "csrf_token": who.csrf}
    path = f"/c/{conversation}/m/{message}/react"
    response = await who.client.post(path, form=form, headers={"HX-Request": "true"})
    assert response.status_code == 200, await response.get_data(as_text=True)


async def reply(who: Person, conversation: int, body: str, to: int) -> int:
    form = {"body": body, "client_id": str(uuid.uuid4()), "reply_to": str(to)}
    response = await who.client.post(
        f"/c/{conversation}/messages",
        form=form | {"csrf_token": who.csrf},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 201
    article = parse(await response.get_data(as_text=True)).select_one("article[data-id]")
    return int(article["data-id"])


def state(article: Tag) -> tuple[int, str, list[str]]:
    """A message as a frame shows it: id, text, chips' accessible names."""
    chips = [str(b["aria-label"]) for b in article.select(".reactions button")]
    return int(article["data-id"]), article_text(article), chips


async def states_until(tab: object, last: int) -> list[tuple[int, str, list[str]]]:
    seen: list[tuple[int, str, list[str]]] = []
    while last not in [message for message, _, _ in seen]:
        html = await frame_with(tab, "article[data-id]")  # type: ignore[arg-type]
        seen += [state(article) for article in html.select("article[data-id]")]
    return seen


async def test_a_reaction_reaches_every_tab_of_both_people_once_and_the_author_gets_a_toast(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    message = await alice.say(conversation, "dinner at 8?")
    async with two_tabs_each(alice, bob, path) as tabs:
        await react(bob, conversation, message, "👍")
        for tab, opened in tabs.items():
            who = opened.who
            pushed = await frame_with(tab, f"#message-{message}")
            assert_oob_swaps(pushed, opened.page)
            article = pushed.find("article", recursive=False)
            chip = "👍 1: you" if who.id == bob.id else "👍 1: Bob"
            assert state(article) == (message, "dinner at 8?", [chip])
            toast = pushed.select_one(".toast")
            if who.id == alice.id:
                assert toast.get_text(" ", strip=True) == "Bob reacted 👍"
                assert toast["href"] == path
            else:
                assert toast is None, "nobody hears of their own reaction"

        await react(bob, conversation, message, "❤️")  # replaces his reaction
        for tab, opened in tabs.items():
            article = (await frame_with(tab, f"#message-{message}")).find("article")
            mine = opened.who.id == bob.id
            assert state(article)[2] == ["❤️ 1: you" if mine else "❤️ 1: Bob"]

        fence = await bob.say(conversation, "fence")
        for tab in tabs:
            assert await articles_until(tab, fence) == [fence], "a change came twice"


async def test_a_tab_away_during_an_edit_a_delete_and_two_reactions_catches_up_once(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    first = await alice.say(conversation, "first")
    second = await alice.say(conversation, "second")
    third = await bob.say(conversation, "third")
    untouched = await bob.say(conversation, "untouched")
    page = await bob.page(path)
    hello = hello_at(page, path, untouched, await last_seq(conversation))

    await edit(alice, conversation, first, "first, edited")
    await delete(alice, conversation, second)
    await react(alice, conversation, third, "👍")
    await react(bob, conversation, first, "😂")  # from another tab of bob's
    async with bob.socket() as tab:
        await tab.send(hello)
        await frame_with(tab, "#conversation-list")
        caught_up = await frame_with(tab, "article[data-id]")
        fence = await alice.say(conversation, "fence")
        seen = [state(a) for a in caught_up.select("article[data-id]")]
        seen += await states_until(tab, fence)
    assert seen == [
        (second, DELETED, []),
        (third, "third", ["👍 1: Alice"]),
        (first, "first, edited", ["😂 1: you"]),
        (fence, "fence", []),
    ], "each changed message once, in the order of its latest change, as it now is"


async def test_a_reply_carries_its_quote_and_the_quote_follows_the_original(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    original = await alice.say(conversation, "the plan\nin detail")
    async with bob.socket() as tab:
        await open_tab(bob, tab, path)
        answer = await reply(alice, conversation, "see above", original)
        pushed = await frame_with(tab, f"#message-{answer}")
        quote = pushed.select_one(f"#message-{answer} a.quote")
        assert quote.get_text(" ", strip=True) == "In reply to Alice the plan"
        page = await bob.page(path)

        await edit(alice, conversation, original, "the new plan")
        pushed = await frame_with(tab, f"#message-{original}")
        assert_oob_swaps(pushed, page)
        update = pushed.find(attrs={"hx-swap-oob": f"innerHTML:.quote-of-{original}"})
        assert update.select_one(".quote-text").get_text() == "the new plan"

        await delete(alice, conversation, original)
        pushed = await frame_with(tab, f"#message-{original}")
        update = pushed.find(attrs={"hx-swap-oob": f"innerHTML:.quote-of-{original}"})
        assert update.get_text(" ", strip=True) == "In reply to Original message deleted"
        assert "plan" not in str(pushed)


async def test_a_tab_away_when_an_original_is_deleted_gets_its_quotes_updated(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    original = await alice.say(conversation, "soon gone")
    answer = await reply(bob, conversation, "what?", original)
    page: BeautifulSoup = await bob.page(path)
    hello = hello_at(page, path, answer, await last_seq(conversation))
    await delete(alice, conversation, original)
    async with bob.socket() as tab:
        await tab.send(hello)
        await frame_with(tab, "#conversation-list")
        caught_up = await frame_with(tab, f"#message-{original}")
    assert_oob_swaps(caught_up, page)
    update = caught_up.find(attrs={"hx-swap-oob": f"innerHTML:.quote-of-{original}"})
    assert update.select_one(".quote-text").get_text() == "Original message deleted"
