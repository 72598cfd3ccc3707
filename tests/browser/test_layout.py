"""How the pages look and read: the phone layout, dark mode, and axe-core's serious findings."""

from __future__ import annotations

import re
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from tests.browser.conftest import OpenPage, Person, origin, sign_up_together

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}

# WCAG relative luminance of the body's computed background (0 black … 1 white).
BODY_LUMINANCE = """() => {
  const css = getComputedStyle(document.body).backgroundColor;
  const [r, g, b, a = 1] = css.match(/[\\d.]+/g).map(Number);
  const linear = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  return { css, alpha: a, luminance };
}"""


async def page_width(page: Page) -> int:
    return int(await page.evaluate("document.scrollingElement.scrollWidth"))


async def two_people_talking(
    open_page: OpenPage, *lines: str, **alice_options: Any
) -> tuple[Person, Person]:
    """Alice (with these context options) has added Bob and written these lines to him."""
    alice, bob = await sign_up_together(
        (await open_page(**alice_options), "Alice"), (await open_page(), "Bob")
    )
    await alice.add_contact(bob)
    for line in lines or ("Hi Bob! 👋",):
        await alice.send(line)
    await expect(alice.page.get_by_role("log").get_by_role("article")).to_have_count(
        len(lines) or 1
    )
    return alice, bob


UNBROKEN_URL = "https://example.com/" + "x" * 150
LONG_SENTENCE = "Are we still on for Saturday morning at the station?"


async def test_phone_shows_one_pane_at_a_time_and_the_back_link_returns_to_the_list(
    open_page: OpenPage,
) -> None:
    alice, _ = await two_people_talking(open_page, UNBROKEN_URL, LONG_SENTENCE, "Hi!", **PHONE)
    page = alice.page
    conversation = page.url
    conversations = page.get_by_role("navigation", name="Conversations", include_hidden=True)
    pane = page.get_by_role("main", include_hidden=True)

    await expect(page.get_by_role("log")).to_be_visible()
    await expect(page.get_by_label("Message")).to_be_visible()
    await expect(conversations).to_be_hidden()
    assert await page_width(page) <= 360

    await page.get_by_role("link", name="Back to conversations").click()
    await expect(page).to_have_url(f"{origin(page)}/")
    await expect(conversations).to_be_visible()
    await expect(pane).to_be_hidden()
    assert await page_width(page) <= 360

    await conversations.get_by_role("link", name=re.compile(r"\bBob\b")).click()
    await expect(page).to_have_url(conversation)
    await expect(conversations).to_be_hidden()

    visitor = await open_page(**PHONE)
    for path in ("/signup", "/login"):
        await visitor.goto(path)
        await expect(
            visitor.get_by_role("button", name=re.compile("Sign up|Log in"))
        ).to_be_visible()
        assert await page_width(visitor) <= 360, path


async def test_phone_chat_page_does_not_scroll_sideways_with_a_long_preview(
    open_page: OpenPage,
) -> None:
    alice, _ = await two_people_talking(open_page, LONG_SENTENCE, **PHONE)
    await alice.page.get_by_role("link", name="Back to conversations").click()
    await expect(alice.page.get_by_role("navigation", name="Conversations")).to_contain_text(
        LONG_SENTENCE[:20]
    )
    assert await page_width(alice.page) <= 360


async def test_dark_mode_has_a_dark_background(open_page: OpenPage) -> None:
    alice, _ = await two_people_talking(open_page, color_scheme="dark")
    visitor = await open_page(color_scheme="dark")
    await visitor.goto("/signup")
    body = await visitor.evaluate(BODY_LUMINANCE)
    assert body["alpha"] == 1 and body["luminance"] < 0.05, ("/signup", body)
    page = alice.page
    for path in ("/", page.url):
        await page.goto(path)
        body = await page.evaluate(BODY_LUMINANCE)
        assert body["alpha"] == 1 and body["luminance"] < 0.05, (path, body)

    await page.emulate_media(color_scheme="light")
    light = await page.evaluate(BODY_LUMINANCE)
    assert light["luminance"] > 0.8, light


def serious(results: dict[str, Any], where: str) -> list[str]:
    return [
        f"{where}: {violation['id']} ({violation['impact']}) at "
        + ", ".join(" ".join(node["target"]) for node in violation["nodes"])
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


async def test_axe_finds_nothing_serious_on_log_in_chat_and_conversation(
    open_page: OpenPage,
) -> None:
    axe = Axe()
    alice, bob = await two_people_talking(open_page)
    visitor = await open_page()
    await visitor.goto("/login")
    # Bob's list holds Alice's request; Alice's conversation holds her messages.
    request = bob.page.get_by_role("navigation", name="Conversations").get_by_role("link")
    await expect(request).to_contain_text("Alice")
    views = {"log-in": visitor, "chat page": bob.page, "conversation": alice.page}
    found: list[str] = []
    for name, page in views.items():
        results = await axe.run(page)
        found += serious(results.response, name)
    # Only the colours change in dark mode: check their contrast again.
    for name, page in views.items():
        await page.emulate_media(color_scheme="dark")
        results = await axe.run(page, options={"runOnly": ["color-contrast"]})
        found += serious(results.response, f"{name} (dark)")
    assert found == [], "\n".join(found)
