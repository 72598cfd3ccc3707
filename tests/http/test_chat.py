"""Contacts, conversations and messages through the real routes, as a browser sees them."""

from __future__ import annotations

import uuid

import pytest
from bs4 import BeautifulSoup, Tag
from quart import Quart

from chatin.models import MAX_MESSAGE_CHARS, PAGE_SIZE, Conversation
from tests.chatting import (
    Person,
    article_text,
    conversation_of,
    message_id,
    seed_messages,
    start_chat,
    stored_count,
)
from tests.conftest import parse

# --- adding a contact ------------------------------------------------------------------------


async def test_add_contact_form_has_the_contract_label_and_button(alice: Person) -> None:
    page = await alice.page("/")
    form = page.select_one("form[method=post][action='/contacts']")
    assert form is not None
    label = form.find("label", string="Contact email")
    assert label is not None
    field = form.select_one(f"input#{label['for']}")
    assert field is not None and field["name"] == "contact_email"
    assert form.find("button", string="Add contact") is not None
    assert form.select_one("input[name=csrf_token]") is not None


async def test_adding_a_contact_opens_the_conversation(alice: Person, bob: Person) -> None:
    conversation = conversation_of(await alice.add_contact(bob.email))
    page = await alice.page(f"/c/{conversation}")
    assert page.select_one("[role=log]") is not None
    composer = page.select_one(f"form[method=post][action='/c/{conversation}/messages']")
    assert composer is not None and composer.find("button", string="Send") is not None


async def test_adding_again_or_adding_back_finds_the_same_conversation(
    alice: Person, bob: Person
) -> None:
    conversation = conversation_of(await alice.add_contact(bob.email))
    assert conversation_of(await alice.add_contact(bob.email.upper())) == conversation
    assert conversation_of(await bob.add_contact(alice.email)) == conversation
    assert await Conversation.all().count() == 1


async def test_unknown_or_own_email_is_refused_on_the_form(
    alice: Person, subtests: pytest.Subtests
) -> None:
    for email in ("nobody@example.com", alice.email):
        with subtests.test(email=email):
            response = await alice.add_contact(email)
            assert response.status_code == 422
            page = parse(await response.get_data(as_text=True))
            field = page.select_one("form[action='/contacts'] input[name=contact_email]")
            assert field is not None and field["value"] == email
            error = page.select_one(f"#{field['aria-describedby']}")
            assert error is not None and error.get_text(strip=True)
            assert await Conversation.all().count() == 0


async def test_the_other_side_sees_a_request_with_accept_and_block(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob, accept=False)
    entry = (await bob.page("/")).select_one(
        f"nav[aria-label=Conversations] a[href='/c/{conversation}']"
    )
    assert entry is not None and "Alice" in entry.get_text()
    page = await bob.page(f"/c/{conversation}")
    for button in ("Accept", "Block"):
        assert page.find("button", string=button) is not None, button
    assert (await bob.post(f"/c/{conversation}/accept")).headers["Location"] == f"/c/{conversation}"
    page = await bob.page(f"/c/{conversation}")
    assert page.find("button", string="Accept") is None


async def test_blocker_loses_the_conversation_and_the_other_cannot_write(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob, accept=False)
    assert (await bob.post(f"/c/{conversation}/block")).status_code == 303
    assert (await bob.client.get(f"/c/{conversation}")).status_code == 404
    nav = (await bob.page("/")).select_one("nav[aria-label=Conversations]")
    assert nav.select_one(f"a[href='/c/{conversation}']") is None
    response = await alice.send(conversation, "anyone there?")
    assert 400 <= response.status_code < 500
    assert await stored_count(conversation) == 0


# --- strangers -------------------------------------------------------------------------------


async def stranger_answers(
    stranger: Person, conversation: int, method: str, suffix: str, fields: dict[str, str]
) -> list[tuple[int, str]]:
    """What the stranger gets for this conversation and for one that doesn't exist."""
    form = {"client_id": str(uuid.uuid4()), "csrf_token": stranger.csrf, **fields}
    answers = []
    for target in (conversation, conversation + 1000):
        if method == "GET":
            response = await stranger.client.get(f"/c/{target}{suffix}")
        else:
            response = await stranger.client.post(f"/c/{target}{suffix}", form=form)
        answers.append((response.status_code, await response.get_data(as_text=True)))
    return answers


async def assert_untouched(alice: Person, bob: Person, conversation: int) -> None:
    assert await stored_count(conversation) == 0
    assert (await alice.page(f"/c/{conversation}")).find("button", string="Accept") is None
    page = await bob.page(f"/c/{conversation}")
    assert page.find("button", string="Accept") is not None, "the stranger changed Bob's request"


async def test_stranger_gets_the_same_404_as_for_a_missing_conversation(
    alice: Person, bob: Person, carol: Person, subtests: pytest.Subtests
) -> None:
    conversation = await start_chat(alice, bob, accept=False)
    for method, suffix, fields in [
        ("GET", "", {}),
        ("GET", "/messages", {}),
        ("GET", "/messages?before=999", {}),
        ("POST", "/messages", {"body": "let me in"}),
        ("POST", "/messages", {"body": ""}),
        ("POST", "/messages", {"body": "x" * (MAX_MESSAGE_CHARS + 1)}),
        ("POST", "/messages", {"body": "hi", "client_id": "not-a-uuid"}),
        ("POST", "/accept", {}),
        ("POST", "/block", {}),
    ]:
        label = {name: value[:10] for name, value in fields.items()}
        with subtests.test(f"{method} /c/<id>{suffix}", **label):
            mine, missing = await stranger_answers(carol, conversation, method, suffix, fields)
            assert mine[0] == 404
            assert mine == missing
            await assert_untouched(alice, bob, conversation)


async def test_logged_out_visitor_is_sent_to_login_from_a_conversation(
    app: Quart, alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    response = await app.test_client().get(f"/c/{conversation}")
    assert response.status_code in (302, 303)
    assert response.headers["Location"] == "/login"


# --- sending ---------------------------------------------------------------------------------


async def test_htmx_send_answers_with_the_message(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    response = await alice.send(conversation, "hello Bob")
    assert 200 <= response.status_code < 300
    article = parse(await response.get_data(as_text=True)).select_one("article")
    assert article is not None and article_text(article) == "hello Bob"
    assert article.select_one("[aria-label=Sent]") is not None


async def test_plain_form_send_redirects_back_to_the_conversation(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    response = await alice.send(conversation, "no JavaScript here", htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/c/{conversation}"
    thread = (await bob.page(f"/c/{conversation}")).select_one("[role=log]")
    assert [article_text(a) for a in thread.select("article")] == ["no JavaScript here"]


async def test_the_page_gives_every_send_a_fresh_client_id(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    ids = set()
    for _ in range(2):
        page = await alice.page(f"/c/{conversation}")
        field = page.select_one(f"form[action='/c/{conversation}/messages'] [name=client_id]")
        ids.add(str(uuid.UUID(field["value"])))
    assert len(ids) == 2


async def test_same_client_id_twice_is_stored_once(
    alice: Person, bob: Person, subtests: pytest.Subtests
) -> None:
    conversation = await start_chat(alice, bob)
    for htmx in (True, False):
        with subtests.test(htmx=htmx):
            client_id = str(uuid.uuid4())
            first = await alice.send(conversation, f"once {htmx}", client_id, htmx=htmx)
            retry = await alice.send(conversation, f"once {htmx}", client_id, htmx=htmx)
            assert first.status_code == retry.status_code == (201 if htmx else 303)
            if htmx:
                first_html = parse(await first.get_data(as_text=True))
                retry_html = parse(await retry.get_data(as_text=True))
                assert message_id(first_html.article) == message_id(retry_html.article)
            thread = (await bob.page(f"/c/{conversation}")).select_one("[role=log]")
            texts = [article_text(a) for a in thread.select("article")]
            assert texts.count(f"once {htmx}") == 1
    assert await stored_count(conversation) == 2


async def test_too_long_message_is_refused_with_413_and_not_stored(
    alice: Person, bob: Person, subtests: pytest.Subtests
) -> None:
    conversation = await start_chat(alice, bob)
    for htmx in (True, False):
        with subtests.test(htmx=htmx):
            response = await alice.send(conversation, "x" * (MAX_MESSAGE_CHARS + 1), htmx=htmx)
            assert response.status_code == 413
            assert "4,000" in parse(await response.get_data(as_text=True)).get_text()
            assert await stored_count(conversation) == 0
    assert (await alice.send(conversation, "x" * MAX_MESSAGE_CHARS)).status_code == 201


async def test_huge_post_is_refused_and_not_stored(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    response = await alice.send(conversation, "x" * 200_000)
    assert response.status_code in (400, 413)
    assert await stored_count(conversation) == 0


async def test_line_breaks_sent_as_crlf_count_once_toward_the_limit(
    alice: Person, bob: Person
) -> None:
    """Browsers submit a textarea's line breaks as CRLF; its maxlength counted them as one."""
    conversation = await start_chat(alice, bob)
    typed = "x\n" * (MAX_MESSAGE_CHARS // 2 - 1) + "xx"
    assert len(typed) == MAX_MESSAGE_CHARS
    assert (await alice.send(conversation, typed.replace("\n", "\r\n"))).status_code == 201
    article = (await bob.page(f"/c/{conversation}")).select_one("[role=log] article")
    assert article_text(article) == typed


async def test_the_message_box_allows_exactly_the_limit(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    page = await alice.page(f"/c/{conversation}")
    label = page.find("label", string="Message")
    box = page.select_one(f"textarea#{label['for']}")
    assert box is not None and box["maxlength"] == str(MAX_MESSAGE_CHARS)


async def test_empty_message_is_refused_with_400(
    alice: Person, bob: Person, subtests: pytest.Subtests
) -> None:
    conversation = await start_chat(alice, bob)
    for body in ("", "   \n  "):
        with subtests.test(body=body):
            assert (await alice.send(conversation, body)).status_code == 400
            assert await stored_count(conversation) == 0


async def test_send_without_a_valid_csrf_token_is_refused(
    alice: Person, bob: Person, subtests: pytest.Subtests
) -> None:
    conversation = await start_chat(alice, bob)
    for token in (None, "forged", bob.csrf):
        with subtests.test(token=token):
            form = {"body": "forged", "client_id": str(uuid.uuid4())}
            if token is not None:
                form["csrf_token"] = token
            response = await alice.client.post(f"/c/{conversation}/messages", form=form)
            assert response.status_code == 403
            assert await stored_count(conversation) == 0


async def test_sending_too_fast_gets_429(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    statuses = [(await alice.send(conversation, f"n{n}")).status_code for n in range(25)]
    assert statuses[:20] == [201] * 20
    assert 429 in statuses[20:]
    assert await stored_count(conversation) == statuses.count(201)
    # The limit is per person: Bob can still write.
    assert (await bob.send(conversation, "my turn")).status_code == 201


# --- what the thread shows -------------------------------------------------------------------


async def test_the_pending_bubble_template_is_the_message_partial_without_an_id(
    alice: Person, bob: Person
) -> None:
    """The page's script shows a message at once by copying this; only the text is filled in."""
    conversation = await start_chat(alice, bob)
    await alice.say(conversation, "stored")
    page = await alice.page(f"/c/{conversation}")
    stored = page.select_one("[role=log] article")
    pending = page.select_one("template#pending-message").find("article")  # select skips <template>
    assert pending is not None and pending["class"] == ["bubble", "mine", "pending"]
    assert not pending.has_attr("id") and not pending.has_attr("data-id")
    assert pending.find("p")["class"] == stored.select_one("p")["class"]
    assert article_text(pending) == ""
    status = pending.find("footer").find_all(role="img")
    assert [span["aria-label"] for span in status] == ["Sending"]


XSS = '<script>alert("x")</script><img src=x onerror="alert(1)"> & </article><b>bold</b>'


async def test_markup_in_a_message_is_shown_as_text(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    answered = await alice.send(conversation, XSS)
    pushed_back = parse(await answered.get_data(as_text=True)).select_one("article")
    shown = (await bob.page(f"/c/{conversation}")).select_one("[role=log] article")
    for article in (pushed_back, shown):
        assert article_text(article) == XSS
        assert article.select("script, img, b, [onerror]") == []


async def test_line_breaks_are_kept(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    await alice.say(conversation, "first line\r\nsecond line\n\n  indented")
    article = (await bob.page(f"/c/{conversation}")).select_one("[role=log] article")
    assert article_text(article) == "first line\nsecond line\n\n  indented"


async def test_web_links_become_safe_links_and_nothing_else_does(
    alice: Person, bob: Person
) -> None:
    conversation = await start_chat(alice, bob)
    body = (
        "see https://example.com/a?b=1&c=2, or http://example.org/x.\n"
        'javascript:alert(1) JAVASCRIPT:alert(2) data:text/html,hi https://e.com/"onclick=x'
    )
    await alice.say(conversation, body)
    article = (await bob.page(f"/c/{conversation}")).select_one("[role=log] article")
    assert article_text(article) == body
    links = article.select(".body a")
    assert [a["href"] for a in links] == [
        "https://example.com/a?b=1&c=2",
        "http://example.org/x",
        "https://e.com/",
    ]
    for link in links:
        assert {"noopener", "noreferrer", "nofollow"} <= set(link["rel"])
        assert link.attrs.keys() <= {"href", "rel", "target"}


async def test_the_page_shows_the_latest_50_and_loads_older_ones_in_order(
    alice: Person, bob: Person
) -> None:
    conversation_id = await start_chat(alice, bob)
    ids = await seed_messages(conversation_id, alice.id, 2 * PAGE_SIZE + 5)
    page = await bob.page(f"/c/{conversation_id}")
    thread = page.select_one("[role=log]")
    assert [message_id(a) for a in thread.select("article")] == ids[-PAGE_SIZE:]
    assert article_text(thread.select("article")[-1]) == f"message {2 * PAGE_SIZE + 4}"

    older = thread.find("a", string="Load older messages")
    assert older is not None
    fragment = parse(await (await bob.client.get(older["hx-get"])).get_data(as_text=True))
    assert [message_id(a) for a in fragment.select("article")] == ids[5:-PAGE_SIZE]
    # Without JavaScript the link's own href shows the same page.
    plain = (await bob.page(older["href"])).select_one("[role=log]")
    assert [message_id(a) for a in plain.select("article")] == ids[5:-PAGE_SIZE]

    oldest_link = fragment.find("a", string="Load older messages")
    assert oldest_link is not None
    oldest = parse(await (await bob.client.get(oldest_link["hx-get"])).get_data(as_text=True))
    assert [message_id(a) for a in oldest.select("article")] == ids[:5]
    assert oldest.find("a", string="Load older messages") is None


# --- the conversation list -------------------------------------------------------------------


def entry_link(page: BeautifulSoup, conversation: int) -> Tag | None:
    nav = page.select_one("nav[aria-label=Conversations]")
    assert nav is not None
    return nav.select_one(f"a[href='/c/{conversation}']")


async def test_list_entries_show_the_other_person_the_preview_and_unread(
    alice: Person, bob: Person, carol: Person
) -> None:
    with_bob = await start_chat(alice, bob)
    with_carol = await start_chat(alice, carol)
    await alice.say(with_bob, "first")
    await alice.say(with_bob, "are you there?")

    for_bob = entry_link(await bob.page("/"), with_bob)
    assert for_bob is not None
    assert "Alice" in for_bob.get_text() and "are you there?" in for_bob.get_text()
    assert for_bob.select_one("[aria-label='2 unread']") is not None

    alice_home = await alice.page("/")
    for_alice = entry_link(alice_home, with_bob)
    assert "Bob" in for_alice.get_text() and "are you there?" in for_alice.get_text()
    assert for_alice.select_one("[aria-label$=unread]") is None
    to_carol = entry_link(alice_home, with_carol)
    assert to_carol is not None and "Carol" in to_carol.get_text()
    assert entry_link(await carol.page("/"), with_bob) is None

    await bob.say(with_bob, "yes")
    for_alice = entry_link(await alice.page("/"), with_bob)
    assert "yes" in for_alice.get_text()
    assert for_alice.select_one("[aria-label='1 unread']") is not None


async def test_list_preview_shows_markup_as_text(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    await alice.say(conversation, XSS)
    entry = entry_link(await bob.page("/"), conversation)
    assert XSS in entry.get_text()
    assert entry.select("script, img, b, [onerror]") == []


async def test_search_lists_only_conversations_with_a_matching_name(
    alice: Person, bob: Person, carol: Person
) -> None:
    with_bob = await start_chat(alice, bob)
    with_carol = await start_chat(alice, carol)
    found = await alice.page("/?q=CAR")
    assert entry_link(found, with_carol) is not None
    assert entry_link(found, with_bob) is None
    nothing = (await alice.page("/?q=zed")).select_one("nav[aria-label=Conversations]")
    assert nothing.get_text(strip=True) == "No conversation matches “zed”."
