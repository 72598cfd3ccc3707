"""The Hypercorn adjustments refuse a Hypercorn they were not written for, and its
keep-alive timeout, kept by a timer, still closes idle connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from chatin import transport
from chatin.config import ConfigError


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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.keep_alive_timeout = keep_alive
    config.graceful_timeout = 10
    stop = asyncio.Event()
    served = asyncio.create_task(serve(ok, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.01)
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
