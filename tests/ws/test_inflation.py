"""A compressed frame is refused while it is being inflated, not after: a small frame that
inflates to tens of MB must not cost the server tens of MB."""

from __future__ import annotations

import asyncio
import os
import struct
import tempfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from tests.chatting import WAIT
from tests.conftest import parse
from tests.server import Server
from tests.ws.test_workers import Browser, server_with_workers

INFLATED_BYTES = 60_000_000
MESSAGE_TOO_BIG = 1009
PEAK_GROWTH_LIMIT = 8 * 2**20  # "within a few MB": the allocator and one frame's buffers
FIN_RSV1_TEXT = 0xC1  # a whole text message, compressed (RFC 7692)


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[Server]:
    with tempfile.TemporaryDirectory(prefix="chatin-inflation-") as data_dir:
        async with server_with_workers(Path(data_dir), workers=1) as started:
            yield started


def deflate_bomb(size: int) -> bytes:
    """A permessage-deflate payload that inflates to `size` bytes of JSON-ish text."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b" " * 2**20
    parts = [squeeze.compress(b'{"after": "1"')]
    parts += [squeeze.compress(chunk) for _ in range(size // len(chunk))]
    parts.append(squeeze.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(parts).removesuffix(b"\x00\x00\xff\xff")


def masked_frame(first_byte: int, payload: bytes) -> bytes:
    """A client frame (masked, as RFC 6455 requires of clients) carrying payload."""
    mask = os.urandom(4)
    if len(payload) < 126:
        header = struct.pack("!BB", first_byte, 0x80 | len(payload))
    elif len(payload) < 2**16:
        header = struct.pack("!BBH", first_byte, 0x80 | 126, len(payload))
    else:
        header = struct.pack("!BBQ", first_byte, 0x80 | 127, len(payload))
    masked = bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload))
    return header + mask + masked


def worker_of(server: Server) -> psutil.Process:
    """The one Hypercorn worker process of `python -m chatin --workers 1`."""
    workers = [
        child
        for child in psutil.Process(server.process.pid).children(recursive=True)
        if any("spawn_main" in part for part in child.cmdline())
    ]
    assert len(workers) == 1, workers
    return workers[0]


def peak_rss(process: psutil.Process) -> int:
    """The most memory the process has ever held (Linux's VmHWM), in bytes."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


class RawTab:
    """A socket spoken by hand (wsproto), so a frame can be sent exactly as an attacker
    builds it; permessage-deflate is negotiated as a browser does."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ws = WSConnection(ConnectionType.CLIENT)

    @classmethod
    async def open(cls, server: Server, cookie: str) -> RawTab:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        tab = cls(reader, writer)
        request = Request(
            host=f"127.0.0.1:{server.port}",
            target="/ws",
            extensions=[PerMessageDeflate()],
            extra_headers=[(b"cookie", cookie.encode()), (b"origin", server.url.encode())],
        )
        writer.write(tab.ws.send(request))
        accepted = await tab.next_event()
        assert isinstance(accepted, AcceptConnection), accepted
        assert accepted.extensions, "the server did not negotiate compression"
        return tab

    async def next_event(self) -> object:
        async with asyncio.timeout(WAIT):
            while True:
                for event in self.ws.events():
                    if not isinstance(event, Ping):
                        return event
                    self.writer.write(self.ws.send(event.response()))
                data = await self.reader.read(2**16)
                self.ws.receive_data(data or None)

    async def next_message(self) -> str:
        event = await self.next_event()
        assert isinstance(event, TextMessage), event
        return event.data

    async def close_code(self) -> int:
        """The code of the server's close frame, past whatever frames came before it."""
        while True:
            event = await self.next_event()
            if isinstance(event, CloseConnection):
                return event.code


async def test_a_compressed_frame_that_inflates_to_60_mb_is_refused_without_the_memory(
    server: Server,
) -> None:
    browser = Browser(server)
    try:
        await browser.sign_up("Mallory")
        cookie = "; ".join(f"{name}={value}" for name, value in browser.http.cookies.items())
        tab = await RawTab.open(server, cookie)
        tab.writer.write(tab.ws.send(TextMessage(data='{"conversation": ""}')))
        assert parse(await tab.next_message()).select_one("#conversation-list") is not None

        worker = worker_of(server)
        before = peak_rss(worker)
        bomb = deflate_bomb(INFLATED_BYTES)
        assert len(bomb) < 64 * 1024
        tab.writer.write(masked_frame(FIN_RSV1_TEXT, bomb))
        assert await tab.close_code() == MESSAGE_TOO_BIG
        tab.writer.close()

        growth = peak_rss(worker) - before
        assert growth < PEAK_GROWTH_LIMIT, f"the worker's peak grew by {growth / 2**20:.0f} MB"
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as still_there:
            assert (await still_there.get("/healthz")).status_code == 200
    finally:
        await browser.close()
