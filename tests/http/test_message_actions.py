"""Editing and deleting one's own message through the real routes, with JavaScript (htmx)
and without (plain forms and pages): who may, what the pages offer, what the thread shows."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup, Tag

from chatin.models import MAX_MESSAGE_CHARS, Message
from chatin.views.actions import CHANGES
from tests.chatting import Person, article_text, start_chat
from tests.conftest import parse


async def edit(who: Person, path: str, body: str, htmx: bool) -> tuple[int, str]:
    headers = {"HX-Request": "true"} if htmx else {}
    form = {"body": body, "csrf_token": who.csrf}
    response = await who.client.post(f"{path}/edit", form=form, headers=headers)
    return response.status_code, await response.get_data(as_text=True)


async def delete(who: Person, path: str, htmx: bool) -> tuple[int, str]:
    response = await who.post(f"{path}/delete", htmx=htmx)
    return response.status_code, await response.get_data(as_text=True)


def bubble(page: BeautifulSoup, message: int) -> Tag:
    found = page.select_one(f"article#message-{message}")
    assert found is not None, f"message {message} is not on the page"
    return found


def actions_of(article: Tag) -> list[str]:
    """The names in the message's "Message actions" menu; [] when it has none."""
    menu = article.select_one("details.message-actions")
    if menu is None:
        return []
    summary = menu.find("summary")
    assert summary is not None and summary.get_text(strip=True).endswith("Message actions")
    return [link.get_text(strip=True) for link in menu.select(".menu > a")]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize("action", ["edit", "delete"])
@pytest.mark.parametrize(
    ("actor", "status"), [("author", None), ("member", 403), ("stranger", 404)]
)
async def test_only_the_author_may_edit_or_delete(
    alice: Person,
    bob: Person,
    carol: Person,
    actor: str,
    status: int | None,
    action: str,
    htmx: bool,
) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "the original")
    path = f"/c/{conversation}/m/{message}"
    who = {"author": alice, "member": bob, "stranger": carol}[actor]

    page = await who.client.get(f"{path}/{action}")
    assert page.status_code == (status or 200)
    if action == "edit":
        got, html = await edit(who, path, "changed", htmx)
    else:
        got, html = await delete(who, path, htmx)

    stored = await Message.get(id=message)
    if status is not None:
        assert got == status
        assert (stored.body, stored.edited_at, stored.deleted_at) == ("the original", None, None)
        return
    assert got == (200 if htmx else 303)
    if htmx:  # the message as it now is, for htmx to put in place of the old one
        article = bubble(parse(html), message)
        shown = "changed" if action == "edit" else "This message was deleted"
        assert article_text(article) == shown
    assert stored.body == ("changed" if action == "edit" else "")


async def test_a_stranger_and_a_missing_message_get_the_same_404(
    alice: Person, bob: Person, carol: Person
) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "hello")
    for who, path in [
        (carol, f"/c/{conversation}/m/{message}"),
        (alice, f"/c/{conversation}/m/{message + 1000}"),
        (alice, f"/c/{conversation}/m/{2**63 - 1}"),
    ]:
        assert (await who.client.get(f"{path}/edit")).status_code == 404
        assert (await edit(who, path, "x", htmx=False))[0] == 404
        assert (await delete(who, path, htmx=True))[0] == 404
    too_large = f"/c/{conversation}/m/{2**63}"
    assert (await alice.client.get(f"{too_large}/edit")).status_code == 404
    assert (await delete(alice, too_large, htmx=False))[0] == 404


async def test_the_edit_page_has_the_message_box_and_save(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "typo heer")
    page = await alice.page(f"/c/{conversation}/m/{message}/edit")
    form = page.select_one(f"form[method=post][action='/c/{conversation}/m/{message}/edit']")
    assert form is not None and form.select_one("input[name=csrf_token]") is not None
    label = form.find("label", string="Message")
    box = form.select_one(f"textarea#{label['for']}")
    assert box is not None and box["name"] == "body" and box.get_text() == "typo heer"
    assert box["maxlength"] == str(MAX_MESSAGE_CHARS)
    assert form.find("button", string="Save") is not None


async def test_a_plain_edit_goes_back_to_the_thread_marked_edited(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "typo heer")
    status, _ = await edit(alice, f"/c/{conversation}/m/{message}", "typo here", htmx=False)
    assert status == 303
    for who in (alice, bob):
        article = bubble(await who.page(f"/c/{conversation}"), message)
        assert article_text(article) == "typo here"
        assert article.select_one(".edited").get_text() == "edited"


async def test_a_bad_edit_is_refused_on_the_edit_page(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "keep me")
    path = f"/c/{conversation}/m/{message}"
    status, html = await edit(alice, path, "x" * (MAX_MESSAGE_CHARS + 1), htmx=False)
    assert status == 413
    assert parse(html).select_one("[aria-invalid=true]#edit-body") is not None
    assert (await edit(alice, path, "   ", htmx=True))[0] == 400
    assert (await Message.get(id=message)).body == "keep me"


async def test_editing_a_deleted_message_is_refused_clearly(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "gone soon")
    path = f"/c/{conversation}/m/{message}"
    assert (await delete(alice, path, htmx=False))[0] == 303
    assert (await delete(alice, path, htmx=False))[0] == 303, "deleting again changes nothing"
    for htmx in (True, False):
        status, html = await edit(alice, path, "back", htmx)
        assert status == 409
        assert "deleted" in (html if htmx else parse(html).select_one("[role=alert]").get_text())
    assert (await alice.client.get(f"{path}/edit")).status_code == 409


async def test_the_delete_page_asks_first(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "regrettable")
    page = await alice.page(f"/c/{conversation}/m/{message}/delete")
    form = page.select_one(f"form[method=post][action='/c/{conversation}/m/{message}/delete']")
    assert form is not None and form.select_one("input[name=csrf_token]") is not None
    assert form.find("button", string="Delete for everyone") is not None
    assert (await Message.get(id=message)).deleted_at is None, "the page itself deletes nothing"


async def test_a_deleted_message_shows_as_deleted_without_actions_for_both(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "regrettable")
    assert (await delete(alice, f"/c/{conversation}/m/{message}", htmx=False))[0] == 303
    for who in (alice, bob):
        page = await who.page(f"/c/{conversation}")
        article = bubble(page, message)
        assert article_text(article) == "This message was deleted"
        assert "regrettable" not in str(page)
        assert actions_of(article) == []
        preview = page.select_one(f"#conv-{conversation} [data-preview]").get_text()
        assert "This message was deleted" in preview


async def test_every_message_offers_react_and_reply_and_own_ones_edit_and_delete(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    mine = await alice.say(conversation, "mine")
    theirs = await bob.say(conversation, "theirs")
    page = await alice.page(f"/c/{conversation}")
    assert actions_of(bubble(page, mine)) == ["Reply", "Edit", "Delete"]
    assert actions_of(bubble(page, theirs)) == ["Reply"]
    links = bubble(page, mine).select("details.message-actions .menu > a")
    assert [a["href"] for a in links] == [
        f"/c/{conversation}?reply={mine}#message-body",
        f"/c/{conversation}/m/{mine}/edit",
        f"/c/{conversation}/m/{mine}/delete",
    ]
    for message in (mine, theirs):
        react = bubble(page, message).select_one("details.message-actions fieldset")
        assert react is not None and react.legend.get_text(strip=True) == "React"
        quick = [button.get_text(strip=True) for button in react.select("button")]
        assert quick == ["👍", "❤️", "😂", "😮", "😢", "🙏"]
        more = react.find_parent("form").find("a", string="More…")
        assert more["href"] == f"/c/{conversation}/m/{message}/react"


async def test_changes_without_a_csrf_token_are_refused(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "safe")
    path = f"/c/{conversation}/m/{message}"
    for action, form in (("edit", {"body": "forged"}), ("delete", {})):
        response = await alice.client.post(f"{path}/{action}", form=form)
        assert response.status_code == 403, action
    stored = await Message.get(id=message)
    assert (stored.body, stored.deleted_at) == ("safe", None)


async def test_changing_messages_too_fast_gets_429(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    message = await alice.say(conversation, "edit 0")
    path = f"/c/{conversation}/m/{message}"
    for n in range(1, CHANGES.limit + 1):
        assert (await edit(alice, path, f"edit {n}", htmx=True))[0] == 200
    response = await alice.client.post(
        f"{path}/edit", form={"body": "one too many", "csrf_token": alice.csrf}
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert (await Message.get(id=message)).body == f"edit {CHANGES.limit}"
