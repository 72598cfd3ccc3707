"""The Hypercorn adjustments refuse a Hypercorn they were not written for; Quart's sockets
read their messages in the handler's task."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from quart import Quart, websocket

from chatin import transport
from chatin.config import ConfigError
from chatin.transport import DirectWebsocketConnection

WAIT_SECONDS = 2.0


def test_another_hypercorn_version_stops_the_start_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "version", lambda _name: "0.19.1")
    with pytest.raises(ConfigError, match=r"0\.18\.0.*0\.19\.1.*requirements\.txt"):
        transport.adjust_hypercorn()


def test_the_pinned_hypercorn_is_adjusted() -> None:
    transport.adjust_hypercorn()
    assert transport.hypercorn_run.TCPServer is transport.WriteBoundedTCPServer
    assert transport.ws_stream.Connection is transport.AnsweringConnection


def direct_app(handler: Callable[[], Awaitable[None]]) -> Quart:
    app = Quart(__name__)
    app.asgi_websocket_class = DirectWebsocketConnection
    app.websocket("/ws")(handler)
    return app


async def test_a_socket_handler_reads_its_messages_with_no_task_beside_it() -> None:
    """Quart's own connection adds a receiver task and a handler task to the connection's;
    ours runs the handler in the connection's task. If Quart stops reading messages the
    way this relies on, the echo below never comes (and the test fails on the timeout)."""
    before = asyncio.all_tasks()

    async def echo() -> None:
        while True:
            message = await websocket.receive()
            await websocket.send(f"{message} {len(asyncio.all_tasks() - before)}")

    async with direct_app(echo).test_client().websocket("/ws") as ws:
        async with asyncio.timeout(WAIT_SECONDS):
            await ws.send("hello")
            assert await ws.receive() == "hello 1"  # the connection's task, nothing else


async def test_a_disconnect_cancels_the_handler_and_the_connection_ends_normally() -> None:
    """The tab's socket reads in a task of its own and waits in the handler: the peer's
    disconnect reaches that reader, and must still end the handler (its `finally` runs,
    as the hub's detach does), without an error for the server to log."""
    ended = asyncio.Event()

    async def reader_beside_a_waiting_handler() -> None:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(websocket.receive())
                await websocket.send("ready")
                await asyncio.get_running_loop().create_future()  # until the tab goes
        finally:
            ended.set()

    async with asyncio.timeout(WAIT_SECONDS):
        client = direct_app(reader_beside_a_waiting_handler).test_client()
        async with client.websocket("/ws") as ws:  # leaving it disconnects, then awaits
            assert await ws.receive() == "ready"  # the connection (it raises if that failed)
        await ended.wait()
