"""Browser notifications: only after the person asked, only for others' messages, never for
the conversation they are reading; clicking one opens that conversation."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import OpenPage, sign_up_together

pytestmark = pytest.mark.browser

# Headless Chromium shows no notifications, so the page's Notification is a recorder that
# behaves like the real API (permission "default" until requested, then "granted").
NOTIFICATION_RECORDER = """
window.shownNotes = [];
class RecordedNotification {
  constructor(title, options) {
    this.title = title;
    this.body = options && options.body;
    this.onclick = null;
    window.shownNotes.push(this);
    // For expect(): Playwright's wait_for_function evals in the page, which our CSP forbids.
    document.documentElement.dataset.shownNotes = String(window.shownNotes.length);
  }
}
// Like the real permission, a grant outlives page loads.
RecordedNotification.permission = sessionStorage.getItem("notifications") || "default";
RecordedNotification.requestPermission = async () => {
  sessionStorage.setItem("notifications", "granted");
  RecordedNotification.permission = "granted";
  return "granted";
};
window.Notification = RecordedNotification;
"""


async def shown(page: Page) -> list[dict[str, str]]:
    return await page.evaluate("window.shownNotes.map((n) => ({title: n.title, body: n.body}))")


async def test_notifications_only_after_opt_in_and_not_while_reading(open_page: OpenPage) -> None:
    alice_page, bob_page = await open_page(), await open_page()
    await bob_page.context.add_init_script(NOTIFICATION_RECORDER)
    alice, bob = await sign_up_together((alice_page, "Alice"), (bob_page, "Bob"))

    conversation_url = await alice.add_contact(bob)
    await alice.send("Before Bob opted in")
    await expect(bob_page.get_by_role("navigation", name="Conversations")).to_contain_text(
        "Before Bob opted in"
    )
    assert await shown(bob_page) == []

    enable = bob_page.get_by_role("button", name="Enable notifications")
    await enable.click()
    await expect(enable).to_be_hidden()
    await alice.send("Ping from Alice")
    await expect(bob_page.locator("html")).to_have_attribute("data-shown-notes", "1")
    assert await shown(bob_page) == [{"title": "Alice", "body": "Ping from Alice"}]

    await bob_page.evaluate("window.shownNotes[0].onclick()")
    await expect(bob_page).to_have_url(conversation_url)
    await expect(bob_page.get_by_role("log")).to_contain_text("Ping from Alice")

    # Reading that very conversation: neither Alice's next message nor Bob's own notifies.
    await alice.send("While Bob reads")
    await expect(bob_page.get_by_role("log")).to_contain_text("While Bob reads")
    await bob.send("Bob's own reply")
    await expect(alice_page.get_by_role("log")).to_contain_text("Bob's own reply")
    # Notifications are still granted on this page (the button stays hidden), yet none came.
    await expect(bob_page.get_by_role("button", name="Enable notifications")).to_be_hidden()
    assert await shown(bob_page) == []
