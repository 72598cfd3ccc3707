"""Reactions, replies, inline edits and toasts in Chromium, on the desktop and at phone width,
with the mouse and by keyboard alone, the other person's tab following live."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import OpenPage, Person, sign_up_together
from tests.browser.test_layout import serious
from tests.browser.test_screenshots import shoot

pytestmark = pytest.mark.browser

SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


def messages(page: Page) -> Locator:
    return page.get_by_role("log").get_by_role("article")


def bubble(page: Page, text: str) -> Locator:
    return messages(page).filter(has=page.locator(".body", has_text=text))


async def open_menu(page: Page, text: str) -> Locator:
    """Open the message's "Message actions"; the menu's own locator."""
    message = bubble(page, text)
    await message.get_by_role("button", name="Message actions").click()
    menu = message.locator(".menu")
    await expect(menu).to_be_visible()
    return menu


async def chatting(open_page: OpenPage, size: str) -> tuple[Person, Person, str]:
    """Alice and Bob (at `size`) in their accepted conversation, both looking at it."""
    alice, bob = await sign_up_together(
        (await open_page(**SIZES[size]), "Alice"), (await open_page(**SIZES[size]), "Bob")
    )
    conversation = await alice.add_contact(bob)
    await bob.page.goto(conversation)
    async with bob.page.expect_navigation():  # accepting reloads the conversation
        await bob.page.get_by_role("button", name="Accept").click()
    await expect(bob.page.get_by_role("button", name="Accept")).to_have_count(0)
    return alice, bob, conversation


async def post_many(page: Page, conversation: str, bodies: list[str], **extra: str) -> None:
    """Messages sent the way the page's form sends them (with its CSRF token), quickly."""
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    for body in bodies:
        form = {"body": body, "client_id": str(uuid.uuid4()), "csrf_token": token or "", **extra}
        response = await page.request.post(f"{conversation}/messages", form=form)
        assert response.ok


async def chip_names(page: Page, text: str) -> Locator:
    return bubble(page, text).locator(".reactions button")


@pytest.mark.parametrize("size", SIZES)
async def test_react_quickly_and_from_more_then_change_and_remove_it(
    open_page: OpenPage, size: str
) -> None:
    alice, bob, conversation = await chatting(open_page, size)
    await alice.send("Lunch at noon?")
    await expect(bubble(bob.page, "Lunch at noon?")).to_be_visible()

    menu = await open_menu(bob.page, "Lunch at noon?")
    await menu.get_by_role("group", name="React").get_by_role("button", name="👍").click()
    await expect(await chip_names(bob.page, "Lunch")).to_have_accessible_name("👍 1: you")
    await expect(await chip_names(alice.page, "Lunch")).to_have_accessible_name("👍 1: Bob")

    menu = await open_menu(bob.page, "Lunch at noon?")  # the page's menu, filled for this message
    await expect(menu.get_by_role("button", name="👍")).to_have_attribute("aria-pressed", "true")
    await expect(menu.get_by_role("link", name="Edit")).to_have_count(0)
    await menu.get_by_role("link", name="More…").click()
    await bob.page.get_by_label("Search emoji").fill("rocket")
    await expect(bob.page.locator("#emoji-results button")).to_have_count(1)
    await bob.page.get_by_role("button", name="🚀").click()
    await expect(bob.page).to_have_url(re.compile(re.escape(conversation)))
    await expect(await chip_names(bob.page, "Lunch")).to_have_accessible_name("🚀 1: you")
    await expect(await chip_names(alice.page, "Lunch")).to_have_accessible_name("🚀 1: Bob")

    await alice.page.get_by_role("button", name="🚀 1: Bob").click()  # Alice joins in
    await expect(await chip_names(bob.page, "Lunch")).to_have_accessible_name("🚀 2: you, Alice")
    await bob.page.get_by_role("button", name=re.compile("^🚀 2")).click()  # Bob takes his back
    await expect(await chip_names(alice.page, "Lunch")).to_have_accessible_name("🚀 1: you")
    await expect(await chip_names(bob.page, "Lunch")).to_have_accessible_name("🚀 1: Alice")
    await expect(messages(alice.page)).to_have_count(1)


@pytest.mark.parametrize("size", SIZES)
async def test_reply_and_jump_to_an_original_that_is_not_loaded_yet(
    open_page: OpenPage, size: str
) -> None:
    alice, bob, conversation = await chatting(open_page, size)
    await alice.send("Which trail on Saturday?")
    # Bob's own: nothing unread up there, so his page opens at the bottom, the original unloaded.
    await post_many(bob.page, conversation, [f"filler {n}" for n in range(1, 56)])
    original = bubble(alice.page, "Which trail on Saturday?")
    original_id = (await original.get_attribute("id") or "").removeprefix("message-")
    await post_many(alice.page, conversation, ["Anyone?"], reply_to=original_id)

    await bob.page.reload()
    await expect(bubble(bob.page, "Anyone?")).to_be_visible()
    await expect(bubble(bob.page, "Which trail on Saturday?")).to_have_count(0)
    menu = await open_menu(bob.page, "Anyone?")
    await menu.get_by_role("link", name="Reply").click()
    bar = bob.page.locator("#replying")
    await expect(bar).to_contain_text("Replying to Alice Anyone?")
    await bar.get_by_role("link", name="Cancel reply").click()
    await expect(bar).to_be_hidden()
    menu = await open_menu(bob.page, "Anyone?")
    await menu.get_by_role("link", name="Reply").click()
    await expect(bar).to_be_visible()
    await expect(bob.page.get_by_label("Message")).to_be_focused()
    await bob.send("The lake loop")
    await expect(bar).to_be_hidden()
    for page, author in ((bob.page, "Alice"), (alice.page, "You")):
        answer = bubble(page, "The lake loop")
        await expect(answer.locator("a.quote")).to_have_text(re.compile(f"{author}\\s+Anyone\\?"))

    quote = bubble(bob.page, "Anyone?").first.locator("a.quote")
    await expect(quote).to_contain_text("Which trail on Saturday?")
    await quote.click()
    jumped = bubble(bob.page, "Which trail on Saturday?")
    await expect(jumped).to_be_focused()
    await expect(jumped).to_be_in_viewport()
    await expect(jumped).to_have_class(re.compile("highlight"))


@pytest.mark.parametrize("size", SIZES)
async def test_edit_in_place_with_enter_cancel_with_escape_and_delete(
    open_page: OpenPage, size: str
) -> None:
    alice, bob, _ = await chatting(open_page, size)
    await alice.send("typo heer")
    await expect(bubble(bob.page, "typo heer")).to_be_visible()

    menu = await open_menu(alice.page, "typo heer")
    await menu.get_by_role("link", name="Edit").click()
    mine = messages(alice.page).first
    box = mine.get_by_role("textbox", name="Message")
    await expect(box).to_be_focused()
    await expect(box).to_have_value("typo heer")
    await box.fill("never saved")
    await box.press("Escape")
    await expect(box).to_have_count(0)
    await expect(mine.locator(".body")).to_have_text("typo heer")

    menu = await open_menu(alice.page, "typo heer")
    await menu.get_by_role("link", name="Edit").click()
    await box.fill("typo here")
    await box.press("Shift+Enter")
    await box.press_sequentially("second line")
    await box.press("Enter")
    for page in (alice.page, bob.page):
        edited = messages(page).first
        await expect(edited.locator(".body")).to_have_text("typo here\nsecond line")
        await expect(edited.locator(".edited")).to_have_text("edited")
    await expect(alice.page.get_by_role("button", name="Message actions")).to_be_focused()

    menu = await open_menu(alice.page, "typo here")
    await menu.get_by_role("link", name="Delete").click()
    await alice.page.get_by_role("button", name="Delete for everyone").click()
    for page in (alice.page, bob.page):
        await expect(messages(page).first).to_contain_text("This message was deleted")
        await expect(messages(page).first.get_by_role("button")).to_have_count(0)


async def press_until_focused(page: Page, name: str, key: str = "Tab", most: int = 40) -> None:
    """Press `key` until the focused element's text is `name`, as a keyboard user would."""
    for _ in range(most):
        await page.keyboard.press(key)
        focused = await page.evaluate("document.activeElement.textContent.trim()")
        if focused == name:
            return
    raise AssertionError(f"{name!r} never got focus")


async def test_everything_by_keyboard_alone(open_page: OpenPage) -> None:
    alice, bob, _ = await chatting(open_page, "desktop")
    await bob.send("Saturday then")
    await expect(bubble(alice.page, "Saturday then")).to_be_visible()
    keys = alice.page.keyboard

    await alice.page.get_by_label("Message").focus()
    await press_until_focused(alice.page, "⋯Message actions", "Shift+Tab")
    await keys.press("Enter")
    await press_until_focused(alice.page, "❤️")
    await keys.press("Enter")
    await expect(await chip_names(bob.page, "Saturday")).to_have_accessible_name("❤️ 1: Alice")
    await expect(alice.page.get_by_role("button", name="Message actions")).to_be_focused()

    await keys.press("Enter")
    await keys.press("Escape")  # closes the menu, focus stays on its button
    await expect(alice.page.locator("details[open]")).to_have_count(0)
    await expect(alice.page.get_by_role("button", name="Message actions")).to_be_focused()
    await keys.press("Enter")
    await press_until_focused(alice.page, "Reply")
    await keys.press("Enter")
    await expect(alice.page.get_by_label("Message")).to_be_focused()
    await keys.type("Deal")
    await keys.press("Enter")
    await expect(bubble(bob.page, "Deal").locator("a.quote")).to_contain_text("Saturday then")

    await press_until_focused(alice.page, "⋯Message actions", "Shift+Tab")
    await keys.press("Enter")
    await press_until_focused(alice.page, "Edit")
    await keys.press("Enter")
    await keys.press("End")
    await keys.type("!")
    await keys.press("Enter")
    await expect(bubble(bob.page, "Deal!").locator(".edited")).to_be_visible()

    await keys.press("Enter")  # the menu button has focus back
    await press_until_focused(alice.page, "Delete")
    await keys.press("Enter")
    await expect(alice.page).to_have_url(re.compile(r"/delete$"))
    await press_until_focused(alice.page, "Delete for everyone")
    await keys.press("Enter")
    await expect(messages(bob.page).last).to_contain_text("This message was deleted")


async def test_a_reaction_or_message_elsewhere_shows_a_toast_that_opens_it(
    open_page: OpenPage,
) -> None:
    alice, bob, conversation = await chatting(open_page, "desktop")
    await alice.send("Did you see the game?")
    await expect(bubble(bob.page, "Did you see the game?")).to_be_visible()
    await alice.page.goto("/")
    toasts = alice.page.get_by_role("status").filter(has=alice.page.locator(".toast"))
    menu = await open_menu(bob.page, "Did you see the game?")
    await menu.get_by_role("button", name="😮").click()
    toast = alice.page.locator(".toast").filter(has_text="reacted 😮")
    await expect(toast).to_have_text("Bob reacted 😮")
    await expect(toasts).to_have_count(1)
    await bob.send("Unbelievable ending")
    message_toast = alice.page.locator(".toast").filter(has_text="Unbelievable")
    await expect(message_toast).to_contain_text("Bob")
    await expect(alice.page.get_by_label("Contact email")).not_to_be_focused()
    await message_toast.click()
    await expect(alice.page).to_have_url(conversation)
    await bob.send("and one more")  # Alice is looking at it now: no toast
    await expect(bubble(alice.page, "and one more")).to_be_visible()
    await expect(alice.page.locator(".toast")).to_have_count(0)


async def test_axe_finds_nothing_serious_with_reactions_replies_and_the_menu(
    open_page: OpenPage,
) -> None:
    alice, bob, conversation = await chatting(open_page, "desktop")
    await alice.send("Pancakes or waffles?")
    menu = await open_menu(bob.page, "Pancakes or waffles?")
    await menu.get_by_role("button", name="😂").click()
    await expect(await chip_names(alice.page, "Pancakes")).to_have_count(1)
    await (await open_menu(alice.page, "Pancakes")).get_by_role("link", name="Reply").click()
    await expect(alice.page.locator("#replying")).to_contain_text("Pancakes")
    await alice.send("Waffles, obviously")
    await expect(bubble(bob.page, "Waffles, obviously").locator("a.quote")).to_be_visible()
    await open_menu(bob.page, "Waffles, obviously")
    axe = Axe()
    found = serious((await axe.run(bob.page)).response, "conversation with a menu open")
    pancakes = await bubble(bob.page, "Pancakes").get_attribute("id") or ""
    await bob.page.goto(f"{conversation}/m/{pancakes.removeprefix('message-')}/react")
    found += serious((await axe.run(bob.page)).response, "reaction page")
    for page in (alice.page, bob.page):
        await page.emulate_media(color_scheme="dark")
    found += serious(
        (await axe.run(alice.page, options={"runOnly": ["color-contrast"]})).response, "dark"
    )
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("size", SIZES)
async def test_screenshots_of_reactions_and_a_reply(open_page: OpenPage, size: str) -> None:
    alice, bob = await sign_up_together(
        (await open_page(**SIZES[size]), "Alice Martin"),
        (await open_page(**SIZES[size]), "Bob Okafor"),
    )
    conversation = await alice.add_contact(bob)
    await bob.page.goto(conversation)
    async with bob.page.expect_navigation():
        await bob.page.get_by_role("button", name="Accept").click()
    await alice.send("Lake loop on Saturday? 🚲")
    await bob.send("Yes! Start at 9 at the boathouse?")
    await alice.send("Perfect. I'll bring coffee ☕")
    for text, emoji in (("Lake loop", "👍"), ("I'll bring coffee", "❤️")):
        menu = await open_menu(bob.page, text)
        await menu.get_by_role("button", name=emoji).click()
        await expect(await chip_names(alice.page, text)).to_have_count(1)
    await alice.page.get_by_role("button", name="❤️ 1: Bob Okafor").click()
    await (await open_menu(alice.page, "boathouse")).get_by_role("link", name="Reply").click()
    await expect(alice.page.locator("#replying")).to_contain_text("Start at 9")
    await alice.send("9 works, see you there")
    answer = bubble(bob.page, "see you there")
    await expect(answer.locator("a.quote")).to_contain_text("Start at 9")
    await expect(await chip_names(bob.page, "coffee")).to_have_accessible_name(
        "❤️ 2: you, Alice Martin"
    )
    await bob.page.mouse.move(0, 0)
    await shoot(bob.page, f"reactions-and-reply-{size}")
