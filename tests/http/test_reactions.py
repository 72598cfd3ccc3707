"""Reactions and replies through the real routes, with JavaScript (htmx) and without (plain
forms and pages), and who may do what: author, other member, stranger, for every action."""

from __future__ import annotations

import uuid

import pytest
from bs4 import BeautifulSoup, Tag

from chatin.models import Message, Reaction
from chatin.views.actions import CHANGES
from tests.chatting import Person, article_text, start_chat
from tests.conftest import parse
from tests.files import PDF, send_files
from tests.http.test_message_actions import bubble


async def choose(
    who: Person, path: str, emoji: str, htmx: bool, field: str = "emoji"
) -> tuple[int, str]:
    """Press a reaction button: `emoji` sets one's reaction, `unreact` takes it back."""
    headers = {"HX-Request": "true"} if htmx else {}
    form = {field: emoji, "csrf_token": who.csrf}
    response = await who.client.post(f"{path}/react", form=form, headers=headers)
    return response.status_code, await response.get_data(as_text=True)


async def reply(who: Person, conversation: int, body: str, to: int, htmx: bool) -> int:
    form = {
        "body": body,
        "client_id": str(uuid.uuid4()),
        "reply_to": str(to),
        "csrf_token": who.csrf,
    }
    headers = {"HX-Request": "true"} if htmx else {}
    response = await who.client.post(f"/c/{conversation}/messages", form=form, headers=headers)
    return response.status_code


def chips(article: Tag) -> list[str]:
    """The accessible names of the reaction chips under a message."""
    return [str(button["aria-label"]) for button in article.select(".reactions button")]


async def edit(who: Person, path: str, htmx: bool) -> int:
    headers = {"HX-Request": "true"} if htmx else {}
    form = {"body": "changed", "csrf_token": who.csrf}
    return (await who.client.post(f"{path}/edit", form=form, headers=headers)).status_code


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("react", ("author", "member")),
        ("unreact", ("author", "member")),
        ("reply", ("author", "member")),
        ("edit", ("author",)),
        ("delete", ("author",)),
    ],
)
@pytest.mark.parametrize("actor", ["author", "member", "stranger"])
async def test_who_may_do_what(
    alice: Person,
    bob: Person,
    carol: Person,
    actor: str,
    action: str,
    allowed: tuple[str, ...],
    htmx: bool,
) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "the original")
    path = f"/c/{conversation}/m/{message}"
    who = {"author": alice, "member": bob, "stranger": carol}[actor]
    if action == "unreact":  # something to take back, for those who may
        for person in (alice, bob):
            assert (await choose(person, path, "👍", htmx=True))[0] == 200
    before = await Reaction.filter(message_id=message).count()

    if action in ("react", "unreact"):
        field = "emoji" if action == "react" else "unreact"
        status, _ = await choose(who, path, "👍", htmx, field)
    elif action == "reply":
        status = await reply(who, conversation, "answer", message, htmx)
    elif action == "edit":
        status = await edit(who, path, htmx)
    else:
        status = (await who.post(f"{path}/delete", htmx=htmx)).status_code

    if actor not in allowed:
        assert status == (404 if actor == "stranger" else 403)
        stored = await Message.get(id=message)
        assert (stored.body, stored.deleted_at) == ("the original", None)
        assert await Reaction.filter(message_id=message).count() == before
        assert await Message.filter(reply_to_id=message).count() == 0
        return
    assert status in ((200, 201) if htmx else (303,))
    mine = Reaction.filter(message_id=message, user_id=who.id)
    if action == "react":
        assert await mine.values_list("emoji", flat=True) == ["👍"]
    elif action == "unreact":
        assert await mine.count() == 0 and await Reaction.all().count() == 1
    elif action == "reply":
        assert await Message.filter(reply_to_id=message, author_id=who.id).count() == 1


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
async def test_chips_say_who_reacted_and_pressing_one_toggles_ones_own(
    alice: Person, bob: Person, htmx: bool
) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "pizza tonight?")
    path = f"/c/{conversation}/m/{message}"
    await choose(alice, path, "👍", htmx)
    status, html = await choose(bob, path, "👍", htmx)
    if htmx:  # the message as it now is, for htmx to put in place of the old one
        assert status == 200 and chips(bubble(parse(html), message)) == ["👍 2: Alice, you"]
    else:
        assert status == 303
    article = bubble(await alice.page(f"/c/{conversation}"), message)
    assert chips(article) == ["👍 2: you, Bob"]
    chip = article.select_one(".reactions button")
    assert (chip["name"], chip["value"], chip["aria-pressed"]) == ("unreact", "👍", "true")
    await choose(alice, path, "👍", htmx, field="unreact")  # pressing her chip
    assert chips(bubble(await alice.page(f"/c/{conversation}"), message)) == ["👍 1: Bob"]
    await choose(alice, path, "👍", htmx, field="unreact")  # a retry: nothing left to take back
    assert chips(bubble(await bob.page(f"/c/{conversation}"), message)) == ["👍 1: you"]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize("bad", ["", "x", "👍👍", "<b>", ":smile:", "👍\x00"])
async def test_anything_but_one_served_emoji_is_400_and_nothing_stored(
    alice: Person, bob: Person, bad: str, htmx: bool
) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "hi")
    status, _ = await choose(bob, f"/c/{conversation}/m/{message}", bad, htmx)
    assert status == 400
    assert await Reaction.all().count() == 0
    assert (await Message.get(id=message)).changed is False


async def test_reacting_without_a_csrf_token_is_refused(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "hi")
    response = await bob.client.post(f"/c/{conversation}/m/{message}/react", form={"emoji": "👍"})
    assert response.status_code == 403
    assert await Reaction.all().count() == 0


async def test_the_quick_reactions_show_which_one_is_mine(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "hi")
    await choose(bob, f"/c/{conversation}/m/{message}", "😂", htmx=True)
    article = bubble(await bob.page(f"/c/{conversation}"), message)
    form = article.select_one("details.message-actions form[method=post]")
    assert form["action"] == f"/c/{conversation}/m/{message}/react"
    assert form.select_one("input[name=csrf_token]") is not None
    pressed = {b.get_text(): (b["name"], b["aria-pressed"]) for b in form.select("button")}
    assert pressed["😂"] == ("unreact", "true")
    assert pressed["👍"] == ("emoji", "false")


async def test_the_reaction_page_lists_emoji_and_finds_them_by_name(
    alice: Person, bob: Person, carol: Person
) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "launch day")
    path = f"/c/{conversation}/m/{message}/react"
    page = await bob.page(path)
    assert page.find("label", string="Search emoji") is not None
    assert len(page.select("#emoji-results button[name=emoji]")) > 100
    found = await bob.page(f"{path}?q=rocket")
    form = found.select_one("form#emoji-results[method=post]")
    assert form["action"] == path and form.select_one("input[name=csrf_token]") is not None
    assert [b.get_text() for b in form.select("button")] == ["🚀"]
    assert (await carol.client.get(path)).status_code == 404
    await choose(bob, f"/c/{conversation}/m/{message}", "🚀", htmx=False)
    assert chips(bubble(await alice.page(f"/c/{conversation}"), message)) == ["🚀 1: Bob"]


async def test_a_deleted_message_takes_no_reactions_and_loses_its_chips(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "hmm")
    path = f"/c/{conversation}/m/{message}"
    await choose(bob, path, "😢", htmx=True)
    assert (await alice.post(f"{path}/delete")).status_code == 303
    for htmx in (True, False):
        assert (await choose(bob, path, "👍", htmx))[0] == 409
    article = bubble(await bob.page(f"/c/{conversation}"), message)
    assert chips(article) == [] and article.select_one("details") is None
    assert await Reaction.all().count() == 0


def reply_bar(page: BeautifulSoup) -> Tag:
    bar = page.select_one("form.composer #replying")
    assert bar is not None
    return bar


async def test_reply_without_javascript_shows_the_quote_in_the_composer_and_the_message(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    original = await alice.say(conversation, "where shall we meet?\nany ideas")
    assert reply_bar(await bob.page(f"/c/{conversation}")).has_attr("hidden")
    page = await bob.page(f"/c/{conversation}?reply={original}")
    bar = reply_bar(page)
    assert not bar.has_attr("hidden")
    assert bar.select_one("input[name=reply_to]")["value"] == str(original)
    assert bar.select_one(".quote-author").get_text() == "Alice"
    assert bar.select_one(".quote-text").get_text() == "where shall we meet?"
    assert bar.find("a", string="Cancel reply")["href"] == f"/c/{conversation}"
    assert await reply(bob, conversation, "the station", original, htmx=False) == 303
    answer = await Message.get(body="the station")
    article = bubble(await alice.page(f"/c/{conversation}"), answer.id)
    quote = article.select_one("a.quote")
    assert quote.get_text(" ", strip=True) == "In reply to You where shall we meet?"
    assert quote["href"] == f"/c/{conversation}?before={original + 1}#message-{original}"
    assert article_text(article) == "the station"


async def test_a_reply_shows_original_message_deleted_once_it_is(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    original = await alice.say(conversation, "my secret plan")
    assert await reply(bob, conversation, "tell me", original, htmx=True) == 201
    await alice.post(f"/c/{conversation}/m/{original}/delete")
    page = await bob.page(f"/c/{conversation}")
    assert page.select_one("a.quote .quote-text").get_text() == "Original message deleted"
    assert "my secret plan" not in str(page)
    assert reply_bar(await bob.page(f"/c/{conversation}?reply={original}")).has_attr("hidden")


async def test_a_reply_to_a_message_of_another_conversation_is_a_plain_message(
    alice: Person, bob: Person, carol: Person
) -> None:
    conversation = await start_chat(alice, bob)
    elsewhere = await start_chat(alice, carol)
    foreign = await carol.say(elsewhere, "between carol and alice")
    assert await reply(bob, conversation, "peek", foreign, htmx=True) == 201
    page = await bob.page(f"/c/{conversation}")
    assert page.select_one("a.quote") is None and "between carol" not in str(page)
    assert reply_bar(await bob.page(f"/c/{conversation}?reply={foreign}")).has_attr("hidden")


async def test_the_reply_bar_for_javascript_is_a_fragment(
    alice: Person, bob: Person, carol: Person
) -> None:
    conversation = await start_chat(alice, bob)
    original = await alice.say(conversation, "hello")
    response = await bob.client.get(f"/c/{conversation}/m/{original}/reply")
    bar = parse(await response.get_data(as_text=True)).select_one("#replying")
    assert bar.select_one("input[name=reply_to]")["value"] == str(original)
    stranger = await carol.client.get(f"/c/{conversation}/m/{original}/reply")
    assert stranger.status_code == 404


async def test_a_reply_to_a_file_quotes_its_name_and_a_deleted_files_reactions_go_too(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    response = await send_files(alice, conversation, [("report.pdf", PDF)])
    sent = parse(await response.get_data(as_text=True)).select_one("article[data-id]")
    original = int(sent["data-id"])
    assert await reply(bob, conversation, "thanks", original, htmx=True) == 201
    await choose(bob, f"/c/{conversation}/m/{original}", "🙏", htmx=True)
    page = await alice.page(f"/c/{conversation}")
    assert page.select_one("a.quote .quote-text").get_text() == "📎 report.pdf"
    assert chips(bubble(page, original)) == ["🙏 1: Bob"]
    await alice.post(f"/c/{conversation}/m/{original}/delete")
    assert await Reaction.all().count() == 0
    quote = (await bob.page(f"/c/{conversation}")).select_one("a.quote .quote-text")
    assert quote.get_text() == "Original message deleted"


async def test_reacting_too_fast_gets_429_and_changes_nothing(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "react away")
    path = f"/c/{conversation}/m/{message}"
    for n in range(CHANGES.limit):
        emoji = "👍" if n % 2 else "❤️"
        assert (await choose(bob, path, emoji, htmx=True))[0] == 200
    status, _ = await choose(bob, path, "😂", htmx=True)
    assert status == 429
    assert await Reaction.filter(message_id=message).values_list("emoji", flat=True) == ["👍"]
