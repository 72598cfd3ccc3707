"""The profile in Chromium: the connect link from copy to a started conversation, and a
profile picture reaching a contact's phone live."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from PIL import Image
from playwright.async_api import Page, expect

from tests.browser.conftest import PASSWORD, OpenPage, origin, sign_up, unique_email
from tests.browser.test_layout import serious
from tests.browser.test_screenshots import SIZES, shoot

pytestmark = pytest.mark.browser


def picture_file(folder: Path) -> Path:
    """A photo-like PNG: a colour gradient, so the square crop is visibly a picture."""
    ramp = Image.linear_gradient("L")
    image = Image.merge("RGB", (ramp, ramp.rotate(90), ramp.rotate(180))).resize((600, 400))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    out = folder / "me.png"
    out.write_bytes(buffer.getvalue())
    return out


async def arrives(page: Page, selector: str) -> None:
    """Wait until the image at selector has really loaded (not a broken-image box)."""
    await page.wait_for_function(
        "s => { const img = document.querySelector(s); return img?.naturalWidth > 0 }",
        arg=selector,
    )


async def test_connect_link_copied_then_opened_logged_out_through_sign_up(
    open_page: OpenPage,
) -> None:
    alice = await sign_up(await open_page(), "Alice")
    await alice.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await alice.page.goto("/profile")
    await expect(alice.page.get_by_role("img", name="QR code of your link")).to_be_visible()
    await alice.page.get_by_role("button", name="Copy link").click()
    await expect(alice.page.get_by_role("status").filter(has_text="copied")).to_be_visible()
    link = await alice.page.evaluate("navigator.clipboard.readText()")
    assert link == await alice.page.get_by_label("Your link").input_value()
    assert re.fullmatch(re.escape(origin(alice.page)) + r"/link/[\w-]{22}", link)

    visitor = await open_page()
    await visitor.goto(link)
    await expect(visitor).to_have_url(re.compile(r"/login\?next="))
    await visitor.get_by_role("link", name="Create an account").click()
    await visitor.get_by_label("Display name").fill("Bob")
    await visitor.get_by_label("Email").fill(unique_email("Bob"))
    await visitor.get_by_label("Password").fill(PASSWORD)
    await visitor.get_by_role("button", name="Sign up").click()
    await expect(visitor).to_have_url(link)
    question = visitor.get_by_role("heading", name="Start a conversation with Alice?")
    await expect(question).to_be_visible()
    await visitor.get_by_role("button", name="Start a conversation").click()
    await expect(visitor).to_have_url(re.compile(r"/c/\d+$"))

    conversations = alice.page.get_by_role("navigation", name="Conversations")
    await alice.page.goto("/")
    await expect(conversations.get_by_role("link", name=re.compile("Bob"))).to_be_visible()
    await expect(conversations.get_by_role("button", name="Accept")).to_be_visible()


async def test_picture_reaches_a_contact_on_a_phone_live(
    open_page: OpenPage, tmp_path: Path
) -> None:
    alice = await sign_up(await open_page(), "Alice")
    bob = await sign_up(await open_page(**SIZES["phone"]), "Bob")
    conversation = await alice.add_contact(bob)
    await alice.send("Hi Bob")
    await bob.page.goto(conversation)
    await bob.page.get_by_role("button", name="Accept").click()
    chat_id = conversation.rsplit("/", 1)[1]
    header = f"#chat-avatar-{chat_id}"
    await expect(bob.page.locator(f"span{header}")).to_have_text("A")

    await alice.page.goto("/profile")
    await alice.page.get_by_label("Profile picture").set_input_files(picture_file(tmp_path))
    await alice.page.get_by_role("button", name="Upload picture").click()
    await expect(alice.page.get_by_role("status").filter(has_text="Picture saved")).to_be_visible()
    await expect(alice.page.get_by_role("img", name="Your profile picture")).to_be_visible()
    await arrives(alice.page, "img.avatar.large")

    await expect(bob.page.locator(f"img{header}")).to_be_visible()
    await arrives(bob.page, f"img{header}")
    await bob.page.get_by_role("link", name="Back to conversations").click()
    entry = bob.page.locator(f"#conv-{chat_id} img.avatar")
    await expect(entry).to_be_visible()
    await arrives(bob.page, f"#conv-{chat_id} img.avatar")

    phone = await open_page(**SIZES["phone"])
    await phone.goto("/login?next=/profile")
    await phone.get_by_label("Email").fill(alice.email)
    await phone.get_by_label("Password").fill(PASSWORD)
    await phone.get_by_role("button", name="Log in").click()
    await expect(phone).to_have_url(f"{origin(phone)}/profile")
    await expect(phone.get_by_role("img", name="Your profile picture")).to_be_visible()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the profile must not scroll sideways on a phone"
    results = await Axe().run(phone)
    assert serious(results.response, "profile") == []
    assert len(await shoot(phone, "profile-phone")) == 2

    await alice.page.get_by_role("button", name="Remove picture").click()
    await alice.page.get_by_role("button", name="Yes, remove it").click()
    await expect(
        alice.page.get_by_role("status").filter(has_text="Picture removed")
    ).to_be_visible()
    await bob.page.goto(conversation)
    await expect(bob.page.locator(f"span{header}")).to_have_text("A")
