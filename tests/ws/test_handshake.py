"""Who may open /ws: a logged-in browser on the app's own origin; everyone else is refused
before anything is sent."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from quart import Quart
from quart.testing import WebsocketResponseError

from tests.chatting import ORIGIN, WAIT, Person, frame_with, open_tab, person, start_chat

if TYPE_CHECKING:
    from quart.typing import TestWebsocketConnectionProtocol


@pytest.fixture
async def alice(app: Quart) -> Person:
    return await person(app, "Alice")


async def assert_refused(ws: TestWebsocketConnectionProtocol) -> None:
    """The first thing the client hears is the refusal: no frame came before it."""
    with pytest.raises(WebsocketResponseError) as refused:
        async with asyncio.timeout(WAIT):
            await ws.receive()
    assert 400 <= refused.value.response.status_code < 500
    assert not ws.accepted


async def test_socket_without_a_session_cookie_is_refused(app: Quart) -> None:
    async with app.test_client().websocket("/ws", headers={"Origin": ORIGIN}) as ws:
        await assert_refused(ws)


async def test_socket_from_another_origin_is_refused(
    alice: Person, subtests: pytest.Subtests
) -> None:
    for origin in (
        "http://evil.example",
        "http://localhost.evil.example",
        "http://localhost:8000",
        "https://localhost",
        "null",
        "",
        None,
    ):
        with subtests.test(origin=origin):
            async with alice.socket(origin=origin) as ws:
                await assert_refused(ws)


async def test_socket_after_log_out_is_refused(app: Quart, alice: Person) -> None:
    replay = app.test_client()
    for cookie in alice.client.cookie_jar:
        replay.cookie_jar.set_cookie(cookie)
    assert (await alice.post("/logout")).status_code == 303
    async with replay.websocket("/ws", headers={"Origin": ORIGIN}) as ws:
        await assert_refused(ws)


async def test_socket_on_the_apps_own_origin_is_accepted(alice: Person) -> None:
    async with alice.socket() as ws:
        await open_tab(alice, ws, "/")
        assert ws.accepted


async def test_secure_socket_needs_the_https_origin(app: Quart, alice: Person) -> None:
    bob = await person(app, "Bob")
    conversation = await start_chat(alice, bob)
    secure = alice.client.websocket("/ws", headers={"Origin": "https://localhost"}, scheme="wss")
    async with secure as ws:
        await open_tab(alice, ws, f"/c/{conversation}")
        message = await bob.say(conversation, "over TLS")
        await frame_with(ws, f"#message-{message}")
    plain_origin = alice.client.websocket("/ws", headers={"Origin": ORIGIN}, scheme="wss")
    async with plain_origin as ws:
        await assert_refused(ws)
