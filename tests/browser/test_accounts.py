"""Signing up, out and in, as a person does it in Chromium."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenPage, log_in, origin, sign_up

pytestmark = pytest.mark.browser


async def test_sign_up_log_out_log_in_and_a_wrong_password_is_refused(
    open_page: OpenPage,
) -> None:
    page = await open_page()
    ada = await sign_up(page, "Ada")
    home = f"{origin(page)}/"
    await expect(page.get_by_text("Ada", exact=True)).to_be_visible()

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    await page.goto("/")
    await expect(page).to_have_url(f"{home}login")

    await log_in(page, ada.email)
    await expect(page).to_have_url(home)
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    await log_in(page, ada.email, "not the password")
    await expect(page.get_by_text("Invalid email or password")).to_be_visible()
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    await page.goto("/")
    await expect(page).to_have_url(f"{home}login")
