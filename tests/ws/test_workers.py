"""Two worker processes of the real server share one delivery path: a message posted to one
reaches every open socket of both people, on either worker, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chatin import db
from tests.chatting import WAIT, articles, hello_of
from tests.conftest import parse, unique_email
from tests.server import Server, reachable_folder, running_server

SOCKETS_EACH = 4
MAX_SOCKETS_EACH = 24
LOGGED_OUT = 4401
SEND_LIMIT = 20
REPLAYS = 8  # new connections, which the two workers share between them


@contextlib.asynccontextmanager
async def server_with_workers(
    data_dir: Path, workers: int, env: dict[str, str] | None = None
) -> AsyncIterator[Server]:
    """`python -m chatin --workers N`, started and stopped off the event loop."""
    running = running_server(data_dir, workers=workers, env=env)
    server = await asyncio.to_thread(running.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(running.__exit__, None, None, None)


class Browser:
    """One person's browser session against the real server, over real HTTP."""

    def __init__(self, server: Server, cookies: httpx.Cookies | None = None) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.url, timeout=WAIT, cookies=cookies)
        self.email = ""
        self.sockets: list[ClientConnection] = []

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        await self.http.aclose()

    async def form_token(self, path: str) -> str:
        page = parse((await self.http.get(path)).text)
        return str(page.select_one("input[name=csrf_token]")["value"])

    async def sign_up(self, name: str) -> str:
        email = self.email = unique_email(name.lower())
        form = {"display_name": name, "email": email, "password": "correct horse"}
        form["csrf_token"] = await self.form_token("/signup")
        assert (await self.http.post("/signup", data=form)).status_code == 303
        return email

    async def post(self, path: str, **form: str) -> httpx.Response:
        form["csrf_token"] = await self.form_token("/")
        return await self.http.post(path, data=form, headers={"HX-Request": "true"})

    async def say(self, conversation: int, body: str) -> int:
        response = await self.post(
            f"/c/{conversation}/messages", body=body, client_id=str(uuid.uuid4())
        )
        assert response.status_code == 201, response.text
        return int(str(parse(response.text).article["id"]).removeprefix("message-"))

    async def open_socket(self, conversation: int) -> ClientConnection:
        """A tab on the conversation: the cookie and this origin, then the page's hello."""
        path = f"/c/{conversation}"
        page = parse((await self.http.get(path)).text)
        cookie = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())
        ws_url = self.server.url.replace("http://", "ws://") + "/ws"
        headers = {"Cookie": cookie, "Origin": self.server.url}
        ws = await connect(ws_url, additional_headers=headers, open_timeout=WAIT)
        self.sockets.append(ws)
        await ws.send(hello_of(page, url=path))
        async with asyncio.timeout(WAIT):
            while parse(await ws.recv()).select_one("#conversation-list") is None:
                pass
        return ws


async def workers_with_tabs(server: Server) -> dict[str, set[str]]:
    """Which worker processes hold each person's tabs (by email), as presence claims say."""
    conn = await db.connect(f"postgresql://postgres:@/postgres?host={server.data_dir}/postgres")
    try:
        rows = await conn.fetch(
            "SELECT u.email_key, p.worker FROM presence p JOIN users u ON u.id = p.user_id"
        )
    finally:
        await conn.close()
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["email_key"], set()).add(row["worker"])
    return found


async def articles_until(ws: ClientConnection, last: int) -> list[int]:
    seen: list[int] = []
    async with asyncio.timeout(WAIT):
        while last not in seen:
            seen += articles(parse(await ws.recv()))
    return seen


async def close_code(ws: ClientConnection) -> int | None:
    """The code the server closed with, after whatever frames were on their way."""
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(WAIT):
            while True:
                await ws.recv()
    return ws.close_code


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[Server]:
    # Not under pytest's tmp folder: a pytest run starting meanwhile makes that private
    # again, and the embedded PostgreSQL (its own system user) could no longer reach it.
    with reachable_folder("chatin-workers-") as data_dir:
        async with server_with_workers(data_dir, workers=2) as started:
            yield started


@pytest.fixture
async def browsers(server: Server) -> AsyncIterator[list[Browser]]:
    opened: list[Browser] = []
    yield opened
    for browser in opened:
        await browser.close()


async def pair(server: Server, browsers: list[Browser], one: str, two: str) -> int:
    """Two new people in an accepted conversation; its id."""
    first, second = Browser(server), Browser(server)
    browsers += [first, second]
    await first.sign_up(one)
    email = await second.sign_up(two)
    added = await first.post("/contacts", contact_email=email)
    conversation = int(added.headers["HX-Redirect"].removeprefix("/c/"))
    assert (await second.post(f"/c/{conversation}/accept")).status_code in (200, 204)
    return conversation


async def spread_tabs(
    server: Server, people: tuple[Browser, ...], conversation: int
) -> dict[Browser, list[ClientConnection]]:
    """Open tabs until each person has tabs on both workers (as their presence claims show)."""
    tabs: dict[Browser, list[ClientConnection]] = {person: [] for person in people}
    spread: dict[str, set[str]] = {}
    while len(tabs[people[0]]) < MAX_SOCKETS_EACH:
        # Several handshakes at once keep both workers busy, so both take some.
        for person in people:
            opened = [person.open_socket(conversation) for _ in range(SOCKETS_EACH)]
            tabs[person] += await asyncio.gather(*opened)
        if len(tabs[people[0]]) >= SOCKETS_EACH:
            spread = await workers_with_tabs(server)
            if all(len(spread.get(p.email, ())) == 2 for p in people):
                return tabs
    raise AssertionError(f"tabs did not spread over both workers: {spread}")


async def frame_with(ws: ClientConnection, selector: str) -> BeautifulSoup:
    async with asyncio.timeout(WAIT):
        while True:
            frame = parse(await ws.recv())
            if frame.select_one(selector) is not None:
                return frame


async def test_message_reaches_every_socket_on_every_worker_once(
    server: Server, browsers: list[Browser]
) -> None:
    conversation = await pair(server, browsers, "Alice", "Bob")
    alice, bob = browsers
    # With tabs of each person on both workers, some socket of Alice's and some of Bob's are
    # on different workers, whichever worker takes the post.
    tabs = await spread_tabs(server, (alice, bob), conversation)

    message = await alice.say(conversation, "to every tab on every worker")
    fence = await bob.say(conversation, "fence")
    for browser, sockets in tabs.items():
        for ws in sockets:
            assert await articles_until(ws, fence) == [message, fence], browser.email

    # Logging out reaches Bob's sockets on both workers; Alice's stay open. Both workers
    # had his session in hand (his tabs opened there); neither takes the old cookie again.
    old_cookies = dict(bob.http.cookies)
    assert (await bob.post("/logout")).status_code in (200, 204, 303)
    for ws in tabs[bob]:
        assert await close_code(ws) == LOGGED_OUT
    for _ in range(REPLAYS):
        async with httpx.AsyncClient(base_url=server.url, cookies=old_cookies) as replay:
            assert (await replay.get("/")).status_code == 302
    last = await alice.say(conversation, "still here")
    for ws in tabs[alice]:
        assert await articles_until(ws, last) == [last]


async def test_receipts_and_typing_cross_workers(server: Server, browsers: list[Browser]) -> None:
    conversation = await pair(server, browsers, "Erin", "Frank")
    erin, frank = browsers
    tabs = await spread_tabs(server, (erin, frank), conversation)

    message = await erin.say(conversation, "did it reach you?")
    for ws in tabs[erin]:
        delivered = await frame_with(ws, f"#status-{message}[aria-label=Delivered]")
        assert delivered is not None
    assert (await frank.post(f"/c/{conversation}/read", upto=str(message))).status_code == 204
    for ws in tabs[erin]:
        await frame_with(ws, f"#status-{message}[aria-label=Read]")
    for ws in tabs[frank]:
        await frame_with(ws, f"#message-{message}")
        read = await frame_with(ws, f"#conv-{conversation}")  # the next entry: after reading
        assert read.select_one(f"#conv-{conversation} [aria-label$=unread]") is None

    assert (await frank.post(f"/c/{conversation}/typing")).status_code == 204
    for ws in tabs[erin]:
        typing = await frame_with(ws, f"#typing-{conversation}[data-typing]")
        assert typing.select_one(f"#typing-{conversation}").get_text() == "Frank is typing…"


async def test_send_limit_is_per_person_across_workers(
    server: Server, browsers: list[Browser]
) -> None:
    conversation = await pair(server, browsers, "Carol", "Dave")
    carol = browsers[0]
    token = await carol.form_token("/")
    statuses = []
    started = time.monotonic()
    for n in range(2 * SEND_LIMIT + 5):  # per-worker counts would let ~40 through
        # A new connection each time, so the sends land on both workers.
        async with httpx.AsyncClient(base_url=server.url, cookies=carol.http.cookies) as fresh:
            form = {"body": f"n{n}", "client_id": str(uuid.uuid4()), "csrf_token": token}
            response = await fresh.post(
                f"/c/{conversation}/messages", data=form, headers={"HX-Request": "true"}
            )
        statuses.append(response.status_code)
    elapsed = time.monotonic() - started
    assert set(statuses) == {201, 429}
    # 20 per 10 s; allow for a limiter that also lets one more through per half second.
    assert statuses.count(201) <= SEND_LIMIT + int(elapsed / 0.5) + 1, (
        f"{statuses.count(201)} sent in {elapsed:.1f} s"
    )


async def test_real_server_refuses_sockets_without_cookie_or_own_origin(
    server: Server, browsers: list[Browser], subtests: pytest.Subtests
) -> None:
    """Through Hypercorn: the Origin the browser sends must be http://127.0.0.1:<port>."""
    browser = Browser(server)
    browsers.append(browser)
    await browser.sign_up("Erin")
    cookie = "; ".join(f"{name}={value}" for name, value in browser.http.cookies.items())
    ws_url = server.url.replace("http://", "ws://") + "/ws"
    other_port = server.url.rsplit(":", 1)[0] + f":{server.port + 1}"
    for headers in (
        {"Origin": server.url},  # no cookie
        {"Cookie": cookie, "Origin": "http://localhost:" + str(server.port)},
        {"Cookie": cookie, "Origin": other_port},
        {"Cookie": cookie, "Origin": "null"},
        {"Cookie": cookie},
    ):
        with subtests.test(origin=headers.get("Origin"), cookie="Cookie" in headers):
            with pytest.raises(InvalidStatus) as refused:
                await connect(ws_url, additional_headers=headers, open_timeout=WAIT)
            assert 400 <= refused.value.response.status_code < 500
    async with connect(
        ws_url, additional_headers={"Cookie": cookie, "Origin": server.url}, open_timeout=WAIT
    ) as ws:
        await ws.send('{"conversation": ""}')
        async with asyncio.timeout(WAIT):
            assert parse(await ws.recv()).select_one("#conversation-list") is not None
