"""What a tab says when the server ends its live connection for good (a 4xxx close)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from playwright.async_api import expect
from websockets.asyncio.client import connect

from chatin.live.hub import MAX_TABS_PER_USER
from tests.browser.conftest import OpenPage, origin, sign_up_together

pytestmark = pytest.mark.browser

ATTACH_SECONDS = 30  # Playwright's own default wait


async def test_the_oldest_tab_says_so_when_too_many_are_open(open_page: OpenPage) -> None:
    (alice,) = await sign_up_together((await open_page(), "Alice"))
    page = alice.page
    # The list comes back after the tab's hello: then it is attached. Listened for from
    # before the reload, since it can arrive before a listener added to the socket later.
    attached = asyncio.Event()
    page.on("websocket", lambda socket: socket.on("framereceived", lambda _: attached.set()))
    await page.reload()
    async with asyncio.timeout(ATTACH_SECONDS):
        await attached.wait()
    banner = page.get_by_role("status").filter(has_text="too many tabs")
    await expect(banner).to_be_hidden()

    cookie = "; ".join(f"{c['name']}={c['value']}" for c in await page.context.cookies())
    url = origin(page).replace("http", "ws", 1) + "/ws"
    headers = {"Cookie": cookie, "Origin": origin(page)}
    async with contextlib.AsyncExitStack() as others:
        for _ in range(MAX_TABS_PER_USER):
            await others.enter_async_context(connect(url, additional_headers=headers))
        await expect(banner).to_be_visible()
    await expect(page.get_by_text("Reconnecting…")).to_have_count(0)
