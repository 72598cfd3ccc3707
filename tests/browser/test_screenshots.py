"""Screenshots of the main screens for people to look at, in test-output/screenshots/.

Desktop 1280x800 and phone 390x844, light and dark: the sign-up page, Bob's chat page with
a request waiting, and his conversation with Alice."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, OpenPage, log_in, origin, sign_up_together

pytestmark = pytest.mark.browser

SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
SCHEMES = ("light", "dark")


async def shoot(page: Page, name: str) -> list[str]:
    """One PNG per color scheme of what the page shows now; returns the file names."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    written = []
    for scheme in SCHEMES:
        await page.emulate_media(color_scheme=scheme)
        path = SCREENSHOTS / f"{name}-{scheme}.png"
        await page.screenshot(path=path, animations="disabled", caret="hide")
        written.append(path.name)
    return written


async def test_screenshots_of_sign_up_chat_page_and_conversation(open_page: OpenPage) -> None:
    alice, bob, carol = await sign_up_together(
        (await open_page(), "Alice Martin"),
        (await open_page(), "Bob Okafor"),
        (await open_page(), "Carol Diaz"),
    )

    conversation = await alice.add_contact(bob)
    await alice.send("Hey Bob! Are we still on for the lake loop on Saturday? 🚲")
    await bob.page.goto(conversation)
    await bob.page.get_by_role("button", name="Accept").click()
    await expect(bob.page.get_by_role("button", name="Accept")).to_have_count(0)
    box = bob.page.get_by_label("Message")
    await box.press_sequentially("Yes! Meet at the station at 9?")
    await box.press("Shift+Enter")
    await box.press_sequentially("I'll bring the map and coffee ☕")
    await box.press("Enter")
    await expect(alice.page.get_by_role("log")).to_contain_text("bring the map")
    await alice.send("Perfect. Here's the route: https://example.com/routes/lake-loop")
    await bob.send("👍 See you there")
    thread = alice.page.get_by_role("log").get_by_role("article")
    await expect(thread).to_have_count(4)

    await carol.add_contact(bob)
    await carol.send("Hi Bob, it's Carol 👋")

    written: list[str] = []
    for size, options in SIZES.items():
        visitor = await open_page(**options)
        await visitor.goto("/signup")
        await expect(visitor.get_by_role("button", name="Sign up")).to_be_visible()
        written += await shoot(visitor, f"sign-up-{size}")

        page = bob.page if size == "desktop" else await open_page(**options)
        if page is not bob.page:
            await log_in(page, bob.email)
            await expect(page).to_have_url(f"{origin(page)}/")
        await page.goto("/")
        conversations = page.get_by_role("navigation", name="Conversations")
        await expect(conversations.get_by_role("link", name=re.compile("Carol"))).to_be_visible()
        await expect(conversations.get_by_role("button", name="Accept")).to_be_visible()
        written += await shoot(page, f"chat-page-{size}")

        await page.goto(conversation)
        await expect(page.get_by_role("log").get_by_role("article")).to_have_count(4)
        written += await shoot(page, f"conversation-{size}")

    assert len(written) == 12
    for name in written:
        assert (SCREENSHOTS / name).stat().st_size > 5_000, name
