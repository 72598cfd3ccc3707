"""Browser fixtures: one real `python -m chatin` and one Debian Chromium for the whole session,
a fresh browser context per person, and helpers that act only through the contract's labels."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.server import ROOT, Server, reachable_folder

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
PASSWORD = "correct horse battery"

# Waits are `expect(...)` polls; a live push or a redirect on this machine takes well under 1 s.
expect.set_options(timeout=8_000)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The real process on a free 127.0.0.1 port, with its own embedded PostgreSQL.

    The suite signs up about twenty people from 127.0.0.1, as many as the sign-up throttle
    allows in an hour, so the throttles are lifted here (tests/http covers them)."""
    with reachable_folder("chatin-browser-") as folder:
        server = Server(folder / "data", env={"CHATIN_RATE_LIMITS": "off"})
        try:
            server.wait_ready()
        except BaseException:
            server.process.kill()
            raise
        # Keep reading its output so a chatty log never fills the pipe and stalls the server.
        drain = threading.Thread(target=_drain, args=(server,), daemon=True)
        drain.start()
        yield server
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(20)
        drain.join(5)
        assert code == 0, "server exited badly:\n" + "".join(server.output[-50:])


def _drain(server: Server) -> None:
    assert server.process.stdout is not None
    for line in server.process.stdout:
        server.output.append(line)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    # A missing Chromium is a failure, not a skip: the test script installs it.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    return str(CHROMIUM)


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


OpenPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_page(server: Server, browser: Browser) -> AsyncIterator[OpenPage]:
    """`await open_page(**context_options)`: a page in a new context (a new person).

    Any uncaught script error in a page fails the test."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def open_page(base_url: str | None = None, **options: Any) -> Page:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = await browser.new_context(base_url=base_url or server.url, **options)
        context.on("page", lambda page: watch(page, errors))
        contexts.append(context)
        return await context.new_page()

    yield open_page
    for context in contexts:
        await context.close()
    assert errors == [], "script errors in the page"


def watch(page: Page, errors: list[str]) -> None:
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))


def origin(page: Page) -> str:
    parts = urlsplit(page.url)
    return f"{parts.scheme}://{parts.netloc}"


def unique_email(name: str) -> str:
    return f"{re.sub(r'[^a-z]+', '.', name.lower())}-{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class Person:
    name: str
    email: str
    page: Page

    async def add_contact(self, other: Person) -> str:
        """Add `other` by email; returns the conversation's URL, where the page lands."""
        await self.page.get_by_label("Contact email").fill(other.email)
        await self.page.get_by_role("button", name="Add contact").click()
        conversation_url = re.compile(re.escape(origin(self.page)) + r"/c/\d+$")
        await expect(self.page).to_have_url(conversation_url)
        return self.page.url

    async def send(self, text: str) -> None:
        """Type into "Message" and press Enter (the keyboard path, as people do); like a
        person, wait until the box empties, i.e. the page took the message."""
        box = self.page.get_by_label("Message")
        await box.fill(text)
        await box.press("Enter")
        await expect(box).to_have_value("")


async def sign_up(page: Page, name: str) -> Person:
    """Sign up through the form; the browser lands on the chat page."""
    email = unique_email(name)
    await page.goto("/signup")
    await page.get_by_label("Display name").fill(name)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page).to_have_url(f"{origin(page)}/")
    return Person(name, email, page)


async def sign_up_together(*people: tuple[Page, str]) -> list[Person]:
    """Sign several people up at once, each in their own page: `(page, name), ...`."""
    return list(await asyncio.gather(*(sign_up(page, name) for page, name in people)))


async def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


class CuttableLink:
    """A TCP relay between one browser context and the server that a test can cut.

    Cutting aborts every relayed connection (the browser sees its socket die without a
    closing handshake, code 1006, exactly as when Wi-Fi drops) and refuses new ones until
    `restore()`. Nothing in the page or the server is touched; both see a lost network."""

    def __init__(self, target: Server) -> None:
        self._target_port = target.port
        self._up = True
        self._relay: asyncio.Server | None = None
        self._live: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def start(self) -> None:
        self._relay = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._relay.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def cut(self) -> None:
        self._up = False
        for writer in list(self._live):
            writer.transport.abort()
        self._live.clear()

    def restore(self) -> None:
        self._up = True

    async def close(self) -> None:
        self.cut()
        if self._relay is not None:
            self._relay.close()
            await self._relay.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.transport.abort()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(
                "127.0.0.1", self._target_port
            )
        except OSError:
            writer.transport.abort()
            return
        self._live |= {writer, server_writer}
        pipes = [
            asyncio.create_task(self._pipe(reader, server_writer)),
            asyncio.create_task(self._pipe(server_reader, writer)),
        ]
        self._tasks.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for side in (writer, server_writer):
            side.transport.abort()
            self._live.discard(side)
        for pipe in pipes:
            pipe.cancel()
            self._tasks.discard(pipe)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await source.read(65_536):
                sink.write(chunk)
                await sink.drain()


@pytest.fixture
async def cuttable_link(server: Server) -> AsyncIterator[CuttableLink]:
    link = CuttableLink(server)
    await link.start()
    yield link
    await link.close()
