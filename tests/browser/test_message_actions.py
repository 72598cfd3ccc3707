"""Editing and deleting one's own message in Chromium, and the other person's open tab
following live: the message changes in place, nothing is added to the thread."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import SCREENSHOTS, OpenPage, sign_up_together

pytestmark = pytest.mark.browser


def messages(page: Page) -> Locator:
    return page.get_by_role("log").get_by_role("article")


async def choose(page: Page, text: str, action: str) -> None:
    """Open a message's "Message actions" menu and choose `action`."""
    bubble = messages(page).filter(has_text=text)
    await bubble.get_by_role("button", name="Message actions").click()
    await bubble.get_by_role("link", name=action).click()


async def test_an_edit_and_a_delete_change_the_message_in_place_for_both(
    open_page: OpenPage,
) -> None:
    alice, bob = await sign_up_together((await open_page(), "Alice"), (await open_page(), "Bob"))
    conversation = await alice.add_contact(bob)
    await bob.page.goto(conversation)
    await alice.send("first")
    await alice.send("typo heer")
    await expect(messages(bob.page)).to_have_count(2)
    theirs = messages(bob.page).filter(has_text="first")
    await expect(theirs.get_by_role("link", name="Edit", include_hidden=True)).to_have_count(0)

    menu = messages(alice.page).filter(has_text="typo heer")
    await menu.get_by_role("button", name="Message actions").click()
    await expect(menu.get_by_role("link", name="Delete")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await alice.page.screenshot(path=SCREENSHOTS / "message-actions.png")
    await menu.get_by_role("link", name="Edit").click()
    box = messages(alice.page).nth(1).get_by_role("textbox", name="Message")  # in place
    await expect(box).to_have_value("typo heer")
    await box.fill("typo here")
    await messages(alice.page).nth(1).get_by_role("button", name="Save").click()
    await expect(alice.page).to_have_url(re.compile(re.escape(conversation)))
    for page in (alice.page, bob.page):
        edited = messages(page).nth(1)
        await expect(edited).to_contain_text("typo here")
        await expect(edited).to_contain_text("edited")
        await expect(messages(page)).to_have_count(2)

    await choose(alice.page, "first", "Delete")
    await alice.page.get_by_role("button", name="Delete for everyone").click()
    await expect(alice.page).to_have_url(re.compile(re.escape(conversation)))
    for page in (alice.page, bob.page):
        await expect(messages(page).first).to_have_text(re.compile("This message was deleted"))
        await expect(messages(page)).to_have_count(2)
    await expect(messages(bob.page).first.get_by_role("button")).to_have_count(0)
