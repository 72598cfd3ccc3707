"""Users and conversations made through the app's real forms, as a browser makes them.

Everything ends in Endpoints: what the generator needs to send as one user and to listen
as them, with no knowledge of which server is behind it (ChatIn or the relay).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TypeVar

import httpx

from bench.generator import Endpoint, Pair

SETUP_CONCURRENCY = 16
PASSWORD = "bench-password-1"
T = TypeVar("T")


class Page(HTMLParser):
    """The start tags of one page, by id and by input name: enough to fill its forms."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = dict(attrs)
        if element.get("id"):
            self.by_id.setdefault(str(element["id"]), element)
        if tag == "input" and element.get("name"):
            self.inputs.setdefault(str(element["name"]), element)

    def value(self, name: str) -> str:
        found = self.inputs.get(name)
        if found is None:
            raise LookupError(f"the page has no input named {name!r}")
        return found.get("value") or ""

    def hello(self, page_url: str) -> str:
        """What htmx's ws-send sends from the page's #hello: included inputs, hx-vals and
        the HEADERS object htmx adds (see static/vendor/htmx-ext-ws)."""
        element = self.by_id["hello"]
        values: dict[str, object] = {}
        for selector in (element.get("hx-include") or "").split(","):
            if selector.strip():  # "#cursor-7, #seq-7": ids only, as the page writes them
                included = self.by_id[selector.strip().removeprefix("#")]
                values[str(included["name"])] = included.get("value") or ""
        values |= json.loads(element.get("hx-vals") or "{}")
        values["HEADERS"] = {
            "HX-Request": "true",
            "HX-Trigger": "hello",
            "HX-Trigger-Name": None,
            "HX-Target": "hello",
            "HX-Current-URL": page_url,
        }
        return json.dumps(values)


@dataclass
class Account:
    """One signed-up user with their own cookie jar, like one browser."""

    email: str
    client: httpx.AsyncClient
    csrf: str = ""

    def cookies(self) -> dict[str, str]:
        return {cookie.name: cookie.value for cookie in self.client.cookies.jar}


def _expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}, expected {statuses}: {response.text[:300]}"
        )
    return response


async def _bounded(jobs: list[Awaitable[T]]) -> list[T]:
    """Run setup requests a few at a time: bcrypt and the database are what they measure."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


def new_client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False)


async def sign_up(base_url: str, index: int) -> Account:
    """GET /signup for the token and session cookie, then POST the form."""
    account = Account(f"bench-{index}@example.com", new_client(base_url))
    form = Page(_expect(await account.client.get("/signup"), 200).text)
    account.csrf = form.value("csrf_token")
    fields = {
        "csrf_token": account.csrf,
        "display_name": f"Bench user {index}",
        "email": account.email,
        "password": PASSWORD,
    }
    _expect(await account.client.post("/signup", data=fields), 303)
    # The browser lands on /; take the token from there in case log-in renewed the session.
    account.csrf = Page(_expect(await account.client.get("/"), 200).text).value("csrf_token")
    return account


async def start_conversation(first: Account, second: Account) -> int:
    """Add a contact as first (following the 303), then accept as second."""
    added = await first.client.post(
        "/contacts", data={"contact_email": second.email, "csrf_token": first.csrf}
    )
    location = _expect(added, 303).headers["location"]
    conversation = int(location.rstrip("/").rsplit("/", 1)[1])
    _expect(await first.client.get(location), 200)
    accepted = await second.client.post(
        f"/c/{conversation}/accept", data={"csrf_token": second.csrf}
    )
    _expect(accepted, 303)
    return conversation


async def endpoint_on(account: Account, path: str, send_path: str | None) -> Endpoint:
    """Open the page as the user would, and take its CSRF token and hello from it."""
    response = _expect(await account.client.get(path), 200)
    page = Page(response.text)
    account.csrf = page.value("csrf_token")
    # The composer sends its page's token with each message (the hello carries it too), so
    # the server pushes that page no copy of what it sent, as for a browser.
    tab = {"tab": page.value("tab")} if "tab" in page.inputs else {}
    return Endpoint(
        cookies=account.cookies(),
        send_path=send_path or "",
        send_fields=tab,
        headers={"HX-Request": "true", "X-CSRF-Token": account.csrf},
        ws_path="/ws",
        hello=page.hello(str(response.url)),
    )


async def chatin_pairs(base_url: str, pairs: int) -> list[Pair]:
    """2 x pairs users; each pair an active conversation, each user on its page."""
    accounts = await _bounded([sign_up(base_url, i) for i in range(2 * pairs)])
    try:
        firsts, seconds = accounts[0::2], accounts[1::2]
        ids = await _bounded(
            [start_conversation(a, b) for a, b in zip(firsts, seconds, strict=True)]
        )
        ends = await _bounded(
            [
                endpoint_on(account, f"/c/{cid}", f"/c/{cid}/messages")
                for account, cid in zip(accounts, [c for c in ids for _ in (0, 1)], strict=True)
            ]
        )
    finally:
        await asyncio.gather(*(account.client.aclose() for account in accounts))
    return list(zip(ends[0::2], ends[1::2], strict=True))


async def idle_endpoints(base_url: str, users: int) -> list[Endpoint]:
    """Users with no conversations, each on the chat page, whose hello names none."""
    accounts = await _bounded([sign_up(base_url, i) for i in range(users)])
    try:
        return await _bounded([endpoint_on(account, "/", None) for account in accounts])
    finally:
        await asyncio.gather(*(account.client.aclose() for account in accounts))


def relay_pairs(pairs: int) -> list[Pair]:
    """The relay knows users by number only: socket /ws?user=N, send to=N."""

    def user(index: int, peer: int) -> Endpoint:
        return Endpoint(
            cookies={},
            send_path="/send",
            send_fields={"to": str(peer)},
            headers={},
            ws_path=f"/ws?user={index}",
            hello=None,
        )

    return [(user(2 * i, 2 * i + 1), user(2 * i + 1, 2 * i)) for i in range(pairs)]
