"""Scaling out: two separate `python -m chatin` nodes on one PostgreSQL behave as one app.

A message posted through either node reaches every tab on both, once; a node that dies
loses nothing stored, and its tabs catch up on the other; a tab that stops reading is
dropped without slowing the person's other tabs or growing the server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from bs4 import BeautifulSoup, Tag
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chatin import db
from tests.chatting import WAIT, articles, hello_of
from tests.conftest import parse
from tests.server import Server, running_server
from tests.ws.test_workers import Browser, articles_until, close_code, frame_with, pair

# Both nodes sign cookies with this key, so a session begun on one is valid on the other.
SHARED_SECRET_KEY = "nodes-test-secret-" + "k" * 32
ABNORMAL_CLOSURE = 1006  # the TCP connection just ended: htmx's ws extension reconnects
TOO_SLOW = 1013
SERVER_QUEUE = 256  # pushes a tab may have waiting on the server (chatin.live.socket)
BASELINE_MESSAGES = 25
PUMPED_MESSAGES = 1_500
BODY_BYTES = 2_850  # token_urlsafe makes 3,800 random characters of these, under 4,000
SMALL_RECEIVE_BUFFER = 4_096  # bytes; Linux doubles it, still about one frame
PUMP_TIMEOUT_SECONDS = 90


@contextlib.asynccontextmanager
async def node(data_dir: Path, database_url: str) -> AsyncIterator[Server]:
    """One `python -m chatin` on the shared database (no embedded server of its own)."""
    env = {
        "DATABASE_URL": database_url,
        "CHATIN_SECRET_KEY": SHARED_SECRET_KEY,
        "CHATIN_RATE_LIMITS": "off",  # the slow-tab test sends 1,500 messages in seconds
    }
    running = running_server(data_dir, env=env)
    server = await asyncio.to_thread(running.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(running.__exit__, None, None, None)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    # Not under pytest's tmp folder: a pytest run starting meanwhile makes that private
    # again, and the embedded PostgreSQL (its own system user) could no longer reach it.
    with tempfile.TemporaryDirectory(prefix="chatin-nodes-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
async def shared_database(workspace: Path) -> AsyncIterator[str]:
    async with db.embedded_async(workspace / "database") as url:
        yield url


@pytest.fixture(scope="module")
async def node_a(workspace: Path, shared_database: str) -> AsyncIterator[Server]:
    async with node(workspace / "node-a", shared_database) as server:
        yield server


@pytest.fixture
async def node_b(workspace: Path, shared_database: str) -> AsyncIterator[Server]:
    """A fresh second node per test: one of the tests kills it."""
    async with node(Path(tempfile.mkdtemp(dir=workspace)), shared_database) as server:
        yield server


@pytest.fixture
async def browsers() -> AsyncIterator[list[Browser]]:
    opened: list[Browser] = []
    yield opened
    for browser in opened:
        with contextlib.suppress(ConnectionClosed, OSError):
            await browser.close()


def on_node(browser: Browser, server: Server, browsers: list[Browser]) -> Browser:
    """The same browser talking to another node: cookies are per host, not per port, so a
    real browser sends the session it got from one node to the other as well."""
    twin = Browser(server)
    twin.http.cookies = browser.http.cookies
    twin.email = browser.email
    browsers.append(twin)
    return twin


async def reconnect(browser: Browser, hello: str, **options: object) -> ClientConnection:
    """A tab's socket to `browser`'s node saying `hello` (the page's, with its own cursor)."""
    cookie = "; ".join(f"{name}={value}" for name, value in browser.http.cookies.items())
    ws_url = browser.server.url.replace("http://", "ws://") + "/ws"
    headers = {"Cookie": cookie, "Origin": browser.server.url}
    ws = await connect(ws_url, additional_headers=headers, open_timeout=WAIT, **options)
    browser.sockets.append(ws)
    await ws.send(hello)
    return ws


async def page(browser: Browser, path: str) -> BeautifulSoup:
    response = await browser.http.get(path)
    assert response.status_code == 200, (browser.server.url, path, response.status_code)
    return parse(response.text)


def thread_ids(html: BeautifulSoup, conversation: int) -> list[int]:
    thread = html.select_one(f"#thread-{conversation}[role=log]")
    assert thread is not None
    return articles(thread)


async def test_a_message_through_either_node_reaches_every_tab_on_both_once(
    node_a: Server, node_b: Server, browsers: list[Browser]
) -> None:
    conversation = await pair(node_a, browsers, "Alice", "Bob")
    alice_a, bob_a = browsers
    alice_b, bob_b = on_node(alice_a, node_b, browsers), on_node(bob_a, node_b, browsers)
    # The session begun on node A opens the conversation on node B.
    assert thread_ids(await page(bob_b, f"/c/{conversation}"), conversation) == []
    opening = [b.open_socket(conversation) for b in (alice_a, bob_a, alice_b, bob_b) for _ in "12"]
    tabs = await asyncio.gather(*opening)

    sent = [
        await alice_a.say(conversation, "Alice through A"),
        await bob_b.say(conversation, "Bob through B"),
        await bob_a.say(conversation, "Bob through A"),
        await alice_b.say(conversation, "Alice through B"),
    ]
    fence = await alice_a.say(conversation, "fence")
    for n, ws in enumerate(tabs):
        assert await articles_until(ws, fence) == [*sent, fence], f"tab {n}"


async def test_a_killed_node_loses_nothing_and_its_tabs_catch_up_on_the_other(
    node_a: Server, node_b: Server, browsers: list[Browser]
) -> None:
    conversation = await pair(node_a, browsers, "Carol", "Dave")
    carol, dave_a = browsers
    dave_b = on_node(dave_a, node_b, browsers)
    path = f"/c/{conversation}"
    shown = await page(dave_b, path)  # the page Dave's tab keeps; pushes move its cursor
    tab = await dave_b.open_socket(conversation)
    first = await carol.say(conversation, "before the crash")
    pushed = await frame_with(tab, f"#message-{first}")
    assert articles(pushed) == [first]
    cursor = pushed.select_one(f"#cursor-{conversation}")
    assert isinstance(cursor, Tag)

    launcher = psutil.Process(node_b.process.pid)
    workers = launcher.children(recursive=True)
    assert workers
    node_b.process.send_signal(signal.SIGKILL)
    _, alive = await asyncio.to_thread(psutil.wait_procs, [launcher, *workers], WAIT)
    assert alive == [], "node B's workers outlived their killed launcher"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", node_b.port), timeout=WAIT).close()
    assert await close_code(tab) == ABNORMAL_CLOSURE

    missed = [await carol.say(conversation, f"while B is down {n}") for n in range(5)]
    assert thread_ids(await page(carol, path), conversation) == [first, *missed]

    # Dave's tab reconnects (say, a balancer sends it to A) and says the page's hello.
    back = await reconnect(dave_a, hello_of(shown, cursor=cursor, url=path))
    assert await articles_until(back, missed[-1]) == missed
    fence = await carol.say(conversation, "after the catch-up")
    assert await articles_until(back, fence) == [fence]
