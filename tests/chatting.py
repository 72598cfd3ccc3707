"""People chatting through the real routes and sockets, for the http/ and ws/ tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bs4 import BeautifulSoup, Tag
from quart import Quart
from quart.testing import QuartClient
from quart.wrappers import Response
from tortoise import connections

from chatin.models import Message, User
from tests.conftest import csrf_token, parse, sign_up

if TYPE_CHECKING:
    from quart.testing.connections import TestWebsocketConnection

# The test client's requests go to http://localhost, so that is the app's own origin.
ORIGIN = "http://localhost"
WAIT = 5  # seconds: the bound on every wait for a frame


@dataclass
class Person:
    """A signed-up person with a logged-in test client (one browser session)."""

    client: QuartClient
    name: str
    email: str
    id: int
    csrf: str

    async def page(self, path: str) -> BeautifulSoup:
        response = await self.client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return parse(await response.get_data(as_text=True))

    async def add_contact(self, email: str) -> Response:
        form = {"contact_email": email, "csrf_token": self.csrf}
        return await self.client.post("/contacts", form=form)

    async def send(
        self,
        conversation: int,
        body: str,
        client_id: str | None = None,
        htmx: bool = True,
    ) -> Response:
        """Submit the conversation's message form, as htmx does or as a plain form post."""
        form = {"body": body, "client_id": client_id or str(uuid.uuid4()), "csrf_token": self.csrf}
        headers = {"HX-Request": "true"} if htmx else {}
        return await self.client.post(f"/c/{conversation}/messages", form=form, headers=headers)

    async def say(self, conversation: int, body: str) -> int:
        """Send a message that must be stored; its id."""
        response = await self.send(conversation, body)
        assert response.status_code == 201, await response.get_data(as_text=True)
        article = parse(await response.get_data(as_text=True)).select_one("article[id^=message-]")
        assert article is not None
        return message_id(article)

    async def post(self, path: str, htmx: bool = False) -> Response:
        headers = {"HX-Request": "true"} if htmx else {}
        return await self.client.post(path, form={"csrf_token": self.csrf}, headers=headers)

    def socket(self, origin: str | None = ORIGIN) -> TestWebsocketConnection:
        headers = {} if origin is None else {"Origin": origin}
        return self.client.websocket("/ws", headers=headers)


async def person(app: Quart, name: str, client: QuartClient | None = None) -> Person:
    client = client or app.test_client()
    email = await sign_up(client, name)
    user = await User.get(email_key=email.lower())
    return Person(client, name, email, user.id, await csrf_token(client, "/"))


async def another_session(app: Quart, someone: Person) -> Person:
    """The same person logged in from a second browser."""
    client = app.test_client()
    form = {"email": someone.email, "password": "correct horse"}
    form["csrf_token"] = await csrf_token(client, "/login")
    response = await client.post("/login", form=form)
    assert response.status_code == 303
    return Person(client, someone.name, someone.email, someone.id, await csrf_token(client, "/"))


@dataclass
class OpenTab:
    """A tab open on a page: whose it is and the page as it was when the tab said hello."""

    who: Person
    page: BeautifulSoup


@contextlib.asynccontextmanager
async def two_tabs_each(
    alice: Person, bob: Person, path: str
) -> AsyncIterator[dict[TestWebsocketConnection, OpenTab]]:
    """Alice in two browsers and Bob with two tabs, all four open on `path` and past their
    catch-up: what a change must reach, each tab once."""
    alice_again = await another_session(alice.client.app, alice)  # type: ignore[arg-type]
    async with (
        alice.socket() as alice_tab,
        alice_again.socket() as alice_other_tab,
        bob.socket() as bob_tab,
        bob.socket() as bob_other_tab,
    ):
        people = {alice_tab: alice, alice_other_tab: alice_again, bob_tab: bob, bob_other_tab: bob}
        tabs = {tab: OpenTab(who, await who.page(path)) for tab, who in people.items()}
        for tab, opened in tabs.items():
            await open_tab(opened.who, tab, path)
        yield tabs


def conversation_of(response: Response) -> int:
    """The id in the /c/<id> a successful "Add contact" redirects to."""
    assert response.status_code == 303, response.status_code
    location = response.headers["Location"]
    prefix, _, number = location.rpartition("/")
    assert prefix == "/c" and number.isdigit(), location
    return int(number)


async def start_chat(starter: Person, other: Person, accept: bool = True) -> int:
    conversation = conversation_of(await starter.add_contact(other.email))
    if accept:
        assert (await other.post(f"/c/{conversation}/accept")).status_code == 303
    return conversation


def message_id(article: Tag) -> int:
    prefix, _, number = str(article["id"]).partition("-")
    assert prefix == "message" and number.isdigit(), article["id"]
    return int(number)


def article_text(article: Tag) -> str:
    """What the author wrote, as the article shows it (the text paragraph)."""
    paragraph = article.find("p")
    assert paragraph is not None, article
    return paragraph.get_text()


async def stored_count(conversation: int) -> int:
    return await Message.filter(conversation_id=conversation).count()


async def seed_messages(conversation: int, author: int, count: int, filler: str = "") -> list[int]:
    """A long history in one statement, bodies "message 0", "message 1", ... (each followed
    by `filler`): for paging tests, which must not wait out the send limit. Ids, oldest
    first."""
    rows = await connections.get("default").execute_query_dict(
        "INSERT INTO messages (conversation_id, author_id, body, client_id, created_at) "
        "SELECT $1, $2, 'message ' || n || $4, gen_random_uuid(), now() - interval '1 hour' "
        "FROM generate_series(0, $3 - 1) AS n ORDER BY n RETURNING id",
        [conversation, author, count, filler],
    )
    return sorted(row["id"] for row in rows)


# --- sockets ---------------------------------------------------------------------------------


async def frame(ws: TestWebsocketConnection) -> BeautifulSoup:
    async with asyncio.timeout(WAIT):
        return parse(await ws.receive())


def hello_of(page: BeautifulSoup, cursor: Tag | None = None, url: str = "/") -> str:
    """What the page's htmx `ws-send` element sends on open: its hx-include'd inputs and
    hx-vals as JSON, plus htmx's HEADERS. `cursor` stands in for a cursor a push replaced."""
    sender = page.select_one("[ws-send]")
    assert sender is not None, "the page has no ws-send element"
    assert sender.find_parent(attrs={"ws-connect": "/ws"}) is not None
    values: dict[str, object] = {}
    if sender.get("hx-include"):
        for field in page.select(str(sender["hx-include"])):
            chosen = cursor if cursor is not None and cursor["id"] == field["id"] else field
            values[str(chosen["name"])] = str(chosen["value"])
    values |= json.loads(str(sender.get("hx-vals", "{}")))
    values["HEADERS"] = {
        "HX-Request": "true",
        "HX-Trigger": sender.get("id"),
        "HX-Trigger-Name": None,
        "HX-Target": sender.get("id"),
        "HX-Current-URL": f"{ORIGIN}{url}",
    }
    return json.dumps(values)


async def frame_with(ws: TestWebsocketConnection, selector: str) -> BeautifulSoup:
    """The next frame holding `selector`, past frames of other news (presence, ticks), which
    must carry no message: messages are counted exactly."""
    async with asyncio.timeout(WAIT):
        while True:
            html = parse(await ws.receive())
            if html.select_one(selector) is not None:
                return html
            assert articles(html) == [], f"a message came before {selector}: {html}"


async def open_tab(who: Person, ws: TestWebsocketConnection, path: str) -> BeautifulSoup:
    """Say hello as the page at `path` does; returns the list frame the server answers with."""
    await ws.send(hello_of(await who.page(path), url=path))
    return await frame_with(ws, "#conversation-list")


def articles(html: BeautifulSoup) -> list[int]:
    return [message_id(article) for article in html.select("article[id^=message-]")]


async def articles_until(ws: TestWebsocketConnection, last: int) -> list[int]:
    """Message ids in every frame up to the one carrying message `last` (bounded in time)."""
    seen: list[int] = []
    async with asyncio.timeout(WAIT):
        while last not in seen:
            seen += articles(parse(await ws.receive()))
    return seen
