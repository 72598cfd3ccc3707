"""The conversation list in the browser: searching as you type, and the unread total in the
tab's title."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenPage, sign_up_together

pytestmark = pytest.mark.browser


def names(*people: str) -> list[re.Pattern[str]]:
    """What `to_have_text` expects of the list's links: these people, in this order, no more."""
    return [re.compile(rf"\b{person}\b") for person in people]


async def test_search_shows_matches_as_you_type_and_the_title_counts_every_unread(
    open_page: OpenPage,
) -> None:
    alice, bob, carol = await sign_up_together(
        (await open_page(), "Alice"), (await open_page(), "Bob"), (await open_page(), "Carol")
    )
    await alice.add_contact(bob)
    await alice.send("Hi Bob")
    await carol.add_contact(bob)
    await carol.send("Hey Bob")
    entries = bob.page.get_by_role("navigation", name="Conversations").get_by_role("link")
    await expect(entries).to_have_text(names("Carol", "Alice"))
    await expect(bob.page).to_have_title("(2) ChatIn")

    search = bob.page.get_by_role("searchbox", name="Search conversations")
    await search.press_sequentially("car")
    await expect(entries).to_have_text(names("Carol"))

    # A message in a conversation the search hides: still hidden, yet counted in the title.
    await alice.send("Still there?")
    await expect(bob.page).to_have_title("(3) ChatIn")
    await expect(entries).to_have_text(names("Carol"))

    await search.fill("zed")
    await expect(bob.page.get_by_text("No conversation matches “zed”.")).to_be_visible()
    await search.fill("")
    await expect(entries).to_have_text(names("Alice", "Carol"))
    await expect(bob.page).to_have_title("(3) ChatIn")


async def test_the_conversation_one_writes_in_moves_up_saying_you_in_every_tab(
    open_page: OpenPage,
) -> None:
    """The page that sends gets no copy of its message pushed back (the POST's answer holds
    it); its own list still moves the conversation up with "You: …", like its other tabs."""
    alice, bob, carol = await sign_up_together(
        (await open_page(), "Alice"), (await open_page(), "Bob"), (await open_page(), "Carol")
    )
    with_bob = await alice.add_contact(bob)
    await alice.send("Hi Bob")
    await alice.add_contact(carol)
    await alice.send("Hi Carol")
    other_tab = await alice.page.context.new_page()  # Alice's second tab, on the list
    await other_tab.goto("/")
    await alice.page.goto(with_bob)
    for page in (alice.page, other_tab):
        entries = page.get_by_role("navigation", name="Conversations").get_by_role("link")
        await expect(entries).to_have_text(names("Carol", "Bob"))
    await alice.send("Lunch <b>today</b>?")
    for page in (alice.page, other_tab):
        entries = page.get_by_role("navigation", name="Conversations").get_by_role("link")
        await expect(entries).to_have_text(names("Bob", "Carol"))
        await expect(entries.first).to_contain_text("You: Lunch <b>today</b>?")
        await expect(entries.first.locator("time")).to_have_text(re.compile(r"^\d{1,2}:\d\d"))
