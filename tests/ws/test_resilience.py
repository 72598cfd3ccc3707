"""When the LISTEN connection drops, tabs are told to reconnect, and catch up on everything."""

from __future__ import annotations

import asyncio
import json

import pytest
from quart import Quart
from quart.testing.connections import WebsocketDisconnectError

from chatin import db
from chatin.live.hub import RESTART_CODE
from tests.chatting import articles_until
from tests.conftest import parse
from tests.ws.test_status import ORIGIN, WAIT, hello, send, start_chat


async def test_lost_listener_closes_tabs_with_1012_and_they_catch_up(
    app: Quart, database_url: str
) -> None:
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    first = await send(alice, conversation, "before the outage")
    listener = app.extensions["listener"]
    async with bob.websocket("/ws", headers=ORIGIN) as bob_tab:
        await hello(bob_tab, conversation, after=first)
        admin = await db.connect(database_url)
        try:
            backend = listener._conn.get_server_pid()
            await admin.execute("SELECT pg_terminate_backend($1)", backend)
        finally:
            await admin.close()
        with pytest.raises(WebsocketDisconnectError) as closed:
            async with asyncio.timeout(WAIT):
                while True:
                    await bob_tab.receive()
        assert closed.value.args[0] == RESTART_CODE

    missed = [await send(alice, conversation, f"missed {n}") for n in range(3)]
    async with bob.websocket("/ws", headers=ORIGIN) as bob_tab:
        await bob_tab.send(json.dumps({"conversation": conversation, "after": str(first)}))
        seen: list[int] = []
        async with asyncio.timeout(WAIT):
            while len(seen) < len(missed):
                frame = parse(await bob_tab.receive())
                seen += [int(a["data-id"]) for a in frame.select("article[data-id]")]
        assert seen == missed
        # The reconnected listener delivers live again.
        live = await send(alice, conversation, "after the outage")
        async with asyncio.timeout(WAIT):
            while True:
                frame = parse(await bob_tab.receive())
                if frame.select_one(f"#message-{live}"):
                    break


async def test_when_the_fan_out_connection_dies_tabs_catch_up_and_pushes_resume(
    app: Quart, database_url: str
) -> None:
    """The hub renders on a connection it holds; losing it costs a reconnect, no message."""
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    async with bob.websocket("/ws", headers=ORIGIN) as bob_tab:
        await hello(bob_tab, conversation)
        warm = await send(alice, conversation, "rendered on the held connection")
        assert await articles_until(bob_tab, warm) == [warm]
        admin = await db.connect(database_url)
        try:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE '%AS message_id%' AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert ended == 1
        lost = await send(alice, conversation, "its render fails")
        with pytest.raises(WebsocketDisconnectError) as closed:
            async with asyncio.timeout(WAIT):
                while True:
                    await bob_tab.receive()
        assert closed.value.args[0] == RESTART_CODE

    async with bob.websocket("/ws", headers=ORIGIN) as bob_tab:
        await hello(bob_tab, conversation, after=warm)
        assert await articles_until(bob_tab, lost) == [lost]
        live = await send(alice, conversation, "pushed live again")
        assert await articles_until(bob_tab, live) == [live]
