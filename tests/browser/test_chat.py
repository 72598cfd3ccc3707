"""Two people chatting live in Chromium: requests, Enter to send, tabs, a dropped network,
and the same conversation with JavaScript off."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs

import pytest
from playwright.async_api import Locator, Page, Route, expect

from tests.browser.conftest import (
    CuttableLink,
    OpenPage,
    Person,
    log_in,
    origin,
    sign_up_together,
)

pytestmark = pytest.mark.browser

# The author's status only moves forward (Sent → Delivered → Read) and the other person's tab
# is open, so by the time we look it may already be past "Sent"; any of them means "stored".
STORED = re.compile(r"^(Sent|Delivered|Read)$")
ANY_STATUS = re.compile(r"^(Sending|Sent|Delivered|Read)$")


def thread(page: Page) -> Locator:
    return page.get_by_role("log")


def messages(page: Page) -> Locator:
    return thread(page).get_by_role("article")


def message(page: Page, text: str) -> Locator:
    return messages(page).filter(has_text=text)


def texts(*bodies: str) -> list[re.Pattern[str]]:
    """What `to_have_text` expects of a list of articles: these bodies, in this order, no more."""
    return [re.compile(re.escape(body)) for body in bodies]


async def test_two_people_chat_live_and_see_text_exactly_as_written(
    open_page: OpenPage,
) -> None:
    alice, bob = await sign_up_together((await open_page(), "Alice"), (await open_page(), "Bob"))
    await bob.page.evaluate("window.neverReloaded = true")

    conversation = await alice.add_contact(bob)

    # Bob, sitting on the chat page, sees the request arrive without reloading.
    conversations = bob.page.get_by_role("navigation", name="Conversations")
    request = conversations.get_by_role("link", name=re.compile(r"\bAlice\b"))
    await expect(request).to_be_visible()
    await expect(conversations.get_by_role("button", name="Accept")).to_be_visible()
    await expect(conversations.get_by_role("button", name="Block")).to_be_visible()
    assert await bob.page.evaluate("window.neverReloaded") is True

    await request.click()
    await expect(bob.page).to_have_url(conversation)
    await expect(bob.page.get_by_role("button", name="Accept")).to_be_visible()
    await expect(bob.page.get_by_role("button", name="Block")).to_be_visible()
    await bob.page.evaluate("window.neverReloaded = true")

    # Alice presses Enter: the message is in both threads at once, marked as hers only.
    await alice.send("Hi Bob, are you there?")
    mine = message(alice.page, "Hi Bob, are you there?")
    await expect(mine).to_have_count(1)
    await expect(mine.get_by_role("img", name=STORED)).to_have_count(1)
    theirs = message(bob.page, "Hi Bob, are you there?")
    await expect(theirs).to_have_count(1)
    await expect(theirs.get_by_role("img", name=ANY_STATUS)).to_have_count(0)
    assert await bob.page.evaluate("window.neverReloaded") is True

    # Bob accepts, then writes two lines with Shift+Enter and sends with Enter.
    # Accepting reloads the conversation (htmx's HX-Redirect): wait for that page.
    async with bob.page.expect_navigation():
        await bob.page.get_by_role("button", name="Accept").click()
    await expect(bob.page.get_by_role("button", name="Accept")).to_have_count(0)
    await bob.page.evaluate("window.neverReloaded = true")
    box = bob.page.get_by_label("Message")
    await box.press_sequentially("Hi Alice")
    await box.press("Shift+Enter")
    await box.press_sequentially("second line 🎉")
    await expect(box).to_have_value("Hi Alice\nsecond line 🎉")
    await box.press("Enter")
    two_lines = re.compile(r"Hi Alice\nsecond line 🎉")
    for page in (alice.page, bob.page):
        reply = message(page, "second line")
        await expect(reply).to_have_count(1)
        await expect(reply).to_contain_text(two_lines, use_inner_text=True)

    # Markup is shown as typed, never run.
    markup = "<b>bold</b> <script>x</script>"
    await alice.send(markup)
    for page in (alice.page, bob.page):
        shown = message(page, markup)
        await expect(shown).to_have_count(1)
        await expect(shown.locator("b, script")).to_have_count(0)

    # A link is clickable and opens without handing the page over to the other site.
    url = "http://example.com/guide?x=1"
    await bob.page.context.route(
        "http://example.com/**",
        lambda route: route.fulfill(body="<title>Guide</title>", content_type="text/html"),
    )
    await alice.send(f"The guide: {url}.")
    link = message(bob.page, "The guide").get_by_role("link", name=url)
    await expect(link).to_have_attribute("href", url)
    await expect(link).to_have_attribute("rel", re.compile(r"(^|\s)noopener(\s|$)"))
    async with bob.page.context.expect_page() as opened:
        await link.click()
    guide = await opened.value
    await expect(guide).to_have_url(url)
    assert await guide.evaluate("window.opener") is None

    for page in (alice.page, bob.page):
        await expect(messages(page)).to_have_text(
            texts("Hi Bob, are you there?", "second line", markup, "The guide")
        )
    assert await bob.page.evaluate("window.neverReloaded") is True


async def test_messages_typed_quickly_on_a_slow_network_all_arrive_in_order(
    open_page: OpenPage,
) -> None:
    """Three short messages, each typed and sent with Enter, while the first is still on its
    way (the first POST is held, as a slow uplink would hold it, until all three are sent)."""
    alice, bob = await sign_up_together((await open_page(), "Alice"), (await open_page(), "Bob"))
    conversation = await alice.add_contact(bob)
    await bob.page.goto(conversation)

    uplink_free = asyncio.Event()
    posts: list[str] = []

    async def slow_uplink(route: Route) -> None:
        posts.append(route.request.url)
        if len(posts) == 1:
            await uplink_free.wait()
        await route.continue_()

    await alice.page.route("**/c/*/messages", slow_uplink)
    box = alice.page.get_by_label("Message")
    try:
        for text in ("one", "two", "three"):
            await box.press_sequentially(text)
            await box.press("Enter")
    finally:
        uplink_free.set()
    await expect(messages(bob.page)).to_have_text(texts("one", "two", "three"), timeout=3_000)
    await expect(messages(alice.page)).to_have_text(texts("one", "two", "three"))


async def test_a_message_sent_in_one_tab_shows_once_in_the_other(open_page: OpenPage) -> None:
    alice, bob = await sign_up_together((await open_page(), "Alice"), (await open_page(), "Bob"))
    conversation = await alice.add_contact(bob)
    first_tab = alice.page
    second_tab = await first_tab.context.new_page()
    await second_tab.goto(conversation)

    await Person("Alice", alice.email, first_tab).send("Written in the first tab")
    await expect(message(second_tab, "Written in the first tab")).to_have_count(1)
    # A fence: the second tab answers; once that is in the first tab, nothing else came.
    await Person("Alice", alice.email, second_tab).send("Written in the second tab")
    for tab in (first_tab, second_tab):
        await expect(messages(tab)).to_have_text(
            texts("Written in the first tab", "Written in the second tab")
        )


async def test_after_a_network_drop_missed_messages_arrive_once_in_order(
    open_page: OpenPage, cuttable_link: CuttableLink
) -> None:
    """Bob's whole session goes through a relay the test can cut.

    `context.set_offline(True)` alone does not drop a WebSocket that is already open in
    Chromium (checked on Chromium 156: no close, no "Reconnecting…" within 10 s); it only
    refuses new connections. A real drop kills the open socket too, so we also cut the relay
    (abort both TCP legs, refuse new ones until restored): the browser sees a 1006 close with
    no closing handshake, the server finds its connection reset as it would once its pings
    go unanswered, and neither is told anything else. Nothing in the page is scripted: the
    ws extension's own backoff reconnects to the real server, which sends the catch-up."""
    alice, bob = await sign_up_together(
        (await open_page(), "Alice"), (await open_page(base_url=cuttable_link.url), "Bob")
    )
    conversation = await alice.add_contact(bob)
    await bob.page.goto(conversation.replace(origin(alice.page), cuttable_link.url))
    await alice.send("Before the drop")
    await expect(messages(bob.page)).to_have_text(texts("Before the drop"))  # socket is live

    banner = bob.page.get_by_role("status").filter(has_text="Reconnecting…")
    cuttable_link.cut()  # first, so the socket's death reaches the page before offline mode
    await bob.page.context.set_offline(True)
    await expect(banner).to_be_visible()

    for n in (1, 2, 3):
        await alice.send(f"Missed {n}")
        await expect(
            message(alice.page, f"Missed {n}").get_by_role("img", name=STORED)
        ).to_have_count(1)
    await expect(messages(alice.page)).to_have_count(4)
    await expect(messages(bob.page)).to_have_count(1)

    cuttable_link.restore()
    await bob.page.context.set_offline(False)
    # The ws extension retries with a jittered backoff of up to a few seconds.
    await expect(banner).to_be_hidden(timeout=20_000)
    await expect(messages(bob.page)).to_have_text(
        texts("Before the drop", "Missed 1", "Missed 2", "Missed 3")
    )
    await alice.send("After the drop")
    await expect(messages(bob.page)).to_have_text(
        texts("Before the drop", "Missed 1", "Missed 2", "Missed 3", "After the drop")
    )


async def test_without_javascript_log_in_open_a_conversation_and_send(
    open_page: OpenPage,
) -> None:
    alice, bob = await sign_up_together(
        (await open_page(java_script_enabled=False), "Alice"),
        (await open_page(java_script_enabled=False), "Bob"),
    )
    conversation = await alice.add_contact(bob)
    await alice.page.get_by_role("button", name="Log out").click()
    await expect(alice.page.get_by_role("button", name="Log out")).to_have_count(0)

    await log_in(alice.page, alice.email)
    await expect(alice.page).to_have_url(f"{origin(alice.page)}/")
    conversations = alice.page.get_by_role("navigation", name="Conversations")
    await conversations.get_by_role("link", name=re.compile(r"\bBob\b")).click()
    await expect(alice.page).to_have_url(conversation)

    await alice.page.get_by_label("Message").fill("Sent with JavaScript off")
    await alice.page.get_by_role("button", name="Send").click()
    await expect(alice.page).to_have_url(conversation)
    await expect(messages(alice.page)).to_have_text(texts("Sent with JavaScript off"))
    await expect(
        message(alice.page, "JavaScript off").get_by_role("img", name=STORED)
    ).to_have_count(1)

    await bob.page.goto(conversation)
    await expect(messages(bob.page)).to_have_text(texts("Sent with JavaScript off"))


async def test_a_send_that_fails_shows_why_and_retry_stores_it_once(open_page: OpenPage) -> None:
    """The first try never reaches the server, the second is refused; each bubble says why.
    Retry sends the same message again (its client_id too) and it arrives once."""
    alice, bob = await sign_up_together((await open_page(), "Alice"), (await open_page(), "Bob"))
    conversation = await alice.add_contact(bob)
    await bob.page.goto(conversation)

    sent: list[str] = []
    retry_free = asyncio.Event()
    refusal = "You're sending messages too fast. Wait a few seconds."

    async def flaky_uplink(route: Route) -> None:
        sent.append(route.request.post_data or "")
        if len(sent) == 1:
            await route.abort("internetdisconnected")
        elif len(sent) == 2:
            await route.fulfill(status=429, body=refusal, content_type="text/plain")
        else:
            await retry_free.wait()
            await route.continue_()

    await alice.page.route("**/c/*/messages", flaky_uplink)
    await alice.send("Lost on the way")
    lost = message(alice.page, "Lost on the way")
    await expect(lost).to_contain_text("Not sent: no connection.")
    await alice.send("Refused")
    await expect(message(alice.page, "Refused")).to_contain_text(refusal)

    try:
        await lost.get_by_role("button", name="Retry").click()
        await expect(lost.get_by_role("img", name="Sending")).to_have_count(1)
    finally:
        retry_free.set()
    await expect(lost.get_by_role("img", name=STORED)).to_have_count(1)
    await expect(lost.get_by_role("button", name="Retry")).to_have_count(0)
    assert parse_qs(sent[2])["client_id"] == parse_qs(sent[0])["client_id"]
    await expect(messages(bob.page)).to_have_text(texts("Lost on the way"))
    await expect(messages(alice.page)).to_have_text(texts("Lost on the way", "Refused"))


async def test_reading_turns_the_ticks_to_read_and_typing_shows_then_fades(
    open_page: OpenPage,
) -> None:
    alice, bob = await sign_up_together((await open_page(), "Alice"), (await open_page(), "Bob"))
    conversation = await alice.add_contact(bob)
    await bob.page.goto(conversation)
    await bob.page.get_by_role("button", name="Accept").click()
    await expect(bob.page.get_by_role("button", name="Accept")).to_have_count(0)

    # Alice's open tab reports reading it; the tick reaching Bob's tab shows his socket is live.
    await bob.send("Hi Alice")
    await expect(message(alice.page, "Hi Alice")).to_have_count(1)
    await expect(message(bob.page, "Hi Alice").get_by_role("img", name="Read")).to_have_count(1)

    await alice.page.get_by_label("Message").press_sequentially("Hel")
    typing = bob.page.get_by_text("Alice is typing…")
    await expect(typing).to_be_visible()
    await expect(typing).to_be_hidden()  # about 5 s after her last notice
