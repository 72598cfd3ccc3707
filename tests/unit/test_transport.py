"""The Hypercorn adjustments refuse a Hypercorn they were not written for; Quart's sockets
read their messages in the handler's task; Hypercorn's keep-alive timeout, kept by a timer,
still closes idle connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
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


async def ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI app: 200 and "ok" for any request (and nothing for the lifespan)."""
    if scope["type"] != "http":
        return
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.asynccontextmanager
async def serving(keep_alive: float) -> AsyncIterator[tuple[int, asyncio.Event, asyncio.Task]]:
    """Hypercorn, as adjusted, on a free port: (port, stop, the serving task)."""
    transport.adjust_hypercorn()
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()  # connections queue in the kernel until Hypercorn accepts: no polling
    port = listening.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listening.detach()}"]
    config.keep_alive_timeout = keep_alive
    config.graceful_timeout = 10
    stop = asyncio.Event()
    served = asyncio.create_task(serve(ok, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        yield port, stop, served
    finally:
        stop.set()
        await asyncio.wait_for(served, 15)


async def one_request(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A kept-alive connection that has had one answer (the writer kept: dropped, it
    would close the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert await reader.readexactly(2) == b"ok"
    return reader, writer


async def test_an_idle_kept_alive_connection_is_closed_when_its_time_is_up() -> None:
    async with serving(keep_alive=0.5) as (port, _, _):
        reader, _writer = await one_request(port)
        began = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        assert 0.4 <= time.monotonic() - began < 3


async def test_a_stopping_worker_closes_idle_connections_at_once() -> None:
    async with serving(keep_alive=60) as (port, stop, served):
        reader, _writer = await one_request(port)
        began = time.monotonic()
        stop.set()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        await asyncio.wait_for(served, 5)
        assert time.monotonic() - began < 3  # not the 10 s graceful timeout
