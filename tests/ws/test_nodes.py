"""Scaling out: two separate `python -m chatin` nodes on one PostgreSQL behave as one app.

A message posted through either node reaches every tab on both, once; a node that dies
loses nothing stored, and its tabs catch up on the other; a tab that stops reading is
cut without slowing the person's other tabs or growing the server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from bs4 import BeautifulSoup, Tag
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chatin import postgres
from chatin.live.socket import CATCH_UP_LIMIT, QUEUE_SIZE
from chatin.models import PAGE_SIZE
from chatin.transport import WRITE_TIMEOUT_SECONDS
from tests.chatting import WAIT, articles, hello_of, message_id
from tests.conftest import parse
from tests.server import Server, reachable_folder
from tests.ws.test_workers import (
    Browser,
    articles_until,
    close_code,
    frame_with,
    pair,
    server_with_workers,
)

# Both nodes sign cookies with this key, so a session begun on one is valid on the other.
SHARED_SECRET_KEY = "nodes-test-secret-" + "k" * 32
ABNORMAL_CLOSURE = 1006  # the connection just ended: htmx's ws extension reconnects
TOO_SLOW = 1013
BODY_BYTES = 2_850  # token_urlsafe turns these into 3,800 random characters (limit 4,000)
WARM_UP_BURSTS = 3
TIMED_BEFORE_STALL = 20
STALL_ROUNDS = 80  # each: a burst, then one timed message
BURST = 9  # messages posted at once, as in a busy conversation
ALLOCATOR_SLACK_BYTES = 2**20
TABS_PER_NODE = 2
# A client socket that backs up fast: Linux sizes a connection's initial send buffer from
# the peer's segment size (about 20 segments), so a small MSS keeps the server's kernel
# buffer to tens of KiB, and a small receive buffer holds about one frame.
STALLED_RECEIVE_BUFFER = 4_096
STALLED_SEGMENT_SIZE = 1_024
POLL_SECONDS = 0.1


@contextlib.asynccontextmanager
async def node(data_dir: Path, database_url: str) -> AsyncIterator[Server]:
    """One `python -m chatin` on the shared database (no embedded server of its own)."""
    env = {
        "DATABASE_URL": database_url,
        "CHATIN_SECRET_KEY": SHARED_SECRET_KEY,
        "CHATIN_RATE_LIMITS": "off",  # the slow-tab test sends a thousand messages in seconds
    }
    async with server_with_workers(data_dir, 1, env) as server:
        yield server


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    with reachable_folder("chatin-nodes-") as folder:
        yield folder


@pytest.fixture(scope="module")
async def shared_database(workspace: Path) -> AsyncIterator[str]:
    async with postgres.embedded_async(workspace / "database") as url:
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
        await browser.close()


def on_node(browser: Browser, server: Server, browsers: list[Browser]) -> Browser:
    """The same browser talking to another node: cookies are per host, not per port, so a
    real browser sends the session it got from one node to the other as well."""
    twin = Browser(server)
    twin.http.cookies = browser.http.cookies
    twin.email = browser.email
    browsers.append(twin)
    return twin


async def open_tab(browser: Browser, hello: str, **options: object) -> ClientConnection:
    """A tab's socket to `browser`'s node that says `hello`: the page's, with whatever cursor
    the tab holds (Browser.open_socket always says the freshly loaded page's)."""
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
    # The sessions begun on node A open the conversation on node B too.
    for browser in (alice_b, bob_b):
        assert thread_ids(await page(browser, f"/c/{conversation}"), conversation) == []
    people = (alice_a, bob_a, alice_b, bob_b)
    opening = [b.open_socket(conversation) for b in people for _ in range(TABS_PER_NODE)]
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

    workers = psutil.Process(node_b.process.pid).children(recursive=True)
    assert workers
    node_b.process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(node_b.process.wait, WAIT)
    _, alive = await asyncio.to_thread(psutil.wait_procs, workers, WAIT)
    assert alive == [], "node B's workers outlived their killed launcher"
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", node_b.port)
    assert await close_code(tab) == ABNORMAL_CLOSURE

    missed = [await carol.say(conversation, f"while B is down {n}") for n in range(5)]
    assert thread_ids(await page(carol, path), conversation) == [first, *missed]

    # Dave's tab reconnects (say, a balancer sends it to A) and says the page's hello.
    back = await open_tab(dave_a, hello_of(shown, cursor=cursor, url=path))
    assert await articles_until(back, missed[-1]) == missed
    fence = await carol.say(conversation, "after the catch-up")
    assert await articles_until(back, fence) == [fence]


@dataclass(frozen=True)
class Arrival:
    message: int
    at: float  # time.monotonic() when its frame came in
    frame_bytes: int  # what the frame's str costs in memory, here as in the server


class Reader:
    """A tab that reads all along, noting when each message (by its client_id) arrives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.order: list[int] = []
        self._ws = ws
        self._arrivals: dict[str, asyncio.Future[Arrival]] = {}
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            raw = await self._ws.recv()
            now = time.monotonic()
            for article in parse(raw).select("article[id^=message-]"):
                arrival = Arrival(message_id(article), now, sys.getsizeof(raw))
                self.order.append(arrival.message)
                waiting = self._waiting(str(article["data-client-id"]))
                if not waiting.done():
                    waiting.set_result(arrival)

    def _waiting(self, client_id: str) -> asyncio.Future[Arrival]:
        return self._arrivals.setdefault(client_id, asyncio.get_running_loop().create_future())

    async def arrival(self, client_id: str) -> Arrival:
        async with asyncio.timeout(WAIT):
            return await asyncio.shield(self._waiting(client_id))

    async def stop(self) -> None:
        """End the reading; a failure of the reading itself is raised here."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def reading(ws: ClientConnection) -> AsyncIterator[Reader]:
    reader = Reader(ws)
    try:
        yield reader
    finally:
        await reader.stop()


async def send_long(
    author: Browser, token: str, conversation: int, reader: Reader
) -> tuple[Arrival, float]:
    """Post a long random message as htmx does; its arrival in `reader`'s tab, and the
    seconds from the post to that arrival (what the person at that tab waits)."""
    client_id = str(uuid.uuid4())
    body = secrets.token_urlsafe(BODY_BYTES)
    form = {"body": body, "client_id": client_id, "csrf_token": token}
    started = time.monotonic()
    response = await author.http.post(
        f"/c/{conversation}/messages", data=form, headers={"HX-Request": "true"}
    )
    assert response.status_code == 201, response.text
    arrival = await reader.arrival(client_id)
    return arrival, arrival.at - started


async def burst(author: Browser, token: str, conversation: int, reader: Reader) -> list[Arrival]:
    sent = [send_long(author, token, conversation, reader) for _ in range(BURST)]
    return [arrival for arrival, _ in await asyncio.gather(*sent)]


async def stalled_tab(
    browser: Browser, conversation: int
) -> tuple[ClientConnection, BeautifulSoup]:
    """A tab that says the page's hello, takes the list, then never reads again (its client
    library stops reading from the socket while one frame waits); and the page it shows."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_RECEIVE_BUFFER)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, STALLED_SEGMENT_SIZE)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", browser.server.port))
    path = f"/c/{conversation}"
    shown = await page(browser, path)
    # Uncompressed frames, no pings of its own, no limit on the catch-up it reads later.
    options = {"compression": None, "ping_interval": None, "max_queue": 1, "max_size": None}
    ws = await open_tab(browser, hello_of(shown, url=path), sock=sock, **options)
    await frame_with(ws, "#conversation-list")
    return ws, shown


def worker_serving(server: Server, ws: ClientConnection) -> psutil.Process:
    """The worker process at the other end of `ws`."""
    port = ws.local_address[1]
    for worker in psutil.Process(server.process.pid).children():
        if any(c.raddr and c.raddr.port == port for c in worker.net_connections("tcp")):
            return worker
    raise AssertionError(f"no worker of {server.url} holds the connection from port {port}")


async def gone(worker: psutil.Process, ws: ClientConnection) -> None:
    """Wait until `worker` holds no connection from `ws`. The kernel has no event for it,
    so its table is polled; the server cuts a peer that takes nothing in for
    WRITE_TIMEOUT_SECONDS."""
    port = ws.local_address[1]
    async with asyncio.timeout(WRITE_TIMEOUT_SECONDS + WAIT):
        while any(c.raddr and c.raddr.port == port for c in worker.net_connections("tcp")):  # noqa: ASYNC110
            await asyncio.sleep(POLL_SECONDS)


async def drain(ws: ClientConnection, conversation: int) -> tuple[list[int], Tag | None]:
    """Read a socket to its end: the messages it got and the last cursor pushed to it."""
    seen: list[int] = []
    cursor = None
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(WAIT):
            while True:
                frame = parse(await ws.recv())
                seen += articles(frame)
                cursor = frame.select_one(f"#cursor-{conversation}") or cursor
    return seen, cursor


async def test_a_tab_that_stops_reading_is_dropped_and_slows_nothing(
    node_a: Server, browsers: list[Browser]
) -> None:
    conversation = await pair(node_a, browsers, "Erin", "Frank")
    erin, frank = browsers
    token = await erin.form_token("/")
    async with reading(await frank.open_socket(conversation)) as reader:
        # Bursts first, so connections and buffers exist before memory is measured.
        sent = [
            a for _ in range(WARM_UP_BURSTS) for a in await burst(erin, token, conversation, reader)
        ]
        before: list[float] = []
        for _ in range(TIMED_BEFORE_STALL):
            arrival, latency = await send_long(erin, token, conversation, reader)
            sent.append(arrival)
            before.append(latency)

        stalled, shown = await stalled_tab(frank, conversation)
        worker = worker_serving(node_a, stalled)
        memory_before = worker.memory_info().rss
        pumped: list[Arrival] = []
        during: list[float] = []
        for _ in range(STALL_ROUNDS):
            pumped += await burst(erin, token, conversation, reader)
            arrival, latency = await send_long(erin, token, conversation, reader)
            pumped.append(arrival)
            during.append(latency)
        growth = worker.memory_info().rss - memory_before

    # The reading tab got every message once, in order, and about as fast as before.
    assert reader.order == sorted(a.message for a in [*sent, *pumped])
    usual, stalled_median = statistics.median(before), statistics.median(during)
    assert stalled_median <= max(3 * usual, usual + 0.1), (
        f"median {stalled_median * 1000:.1f} ms with a stalled tab, {usual * 1000:.1f} ms before"
    )

    # The worker's memory stays bounded: for the stalled tab it queues at most QUEUE_SIZE
    # pushes (one frame each), then stops; allow some allocator noise on top. Keeping every
    # frame would grow it by `kept_all` or more, which the pump makes clearly larger than
    # the bound, so the two can't be confused.
    kept_all = sum(a.frame_bytes for a in pumped)
    bound = QUEUE_SIZE * max(a.frame_bytes for a in pumped) + ALLOCATOR_SLACK_BYTES
    assert kept_all > 1.5 * bound, "pump more: this test can't tell bounded from unbounded"
    assert growth < bound, f"the worker grew {growth} bytes; keeping every frame: {kept_all}"

    # The server lets go of the stalled tab by itself, though its client never reads again.
    await gone(worker, stalled)

    # Reading again, the tab finds what got through, then the end (the server's 1013 if
    # that frame got out before the connection was cut)...
    order = sorted(a.message for a in pumped)
    seen, cursor = await drain(stalled, conversation)
    assert stalled.close_code in (TOO_SLOW, ABNORMAL_CLOSURE)
    assert seen == order[: len(seen)] and len(seen) < len(order)
    # ...so it reconnects with its cursor. It missed more than a catch-up sends, so it
    # shows the newest page, once each (older ones are a "Load older messages" away).
    assert len(order) - len(seen) > CATCH_UP_LIMIT
    path = f"/c/{conversation}"
    back = await open_tab(frank, hello_of(shown, cursor=cursor, url=path), max_size=None)
    assert await articles_until(back, order[-1]) == order[-PAGE_SIZE:]
