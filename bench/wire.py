"""Lean clients for the generator's hot paths: a keep-alive HTTP/1.1 form poster, and an
idle tab's WebSocket.

httpx is used for everything else (sign-up, contacts, pages), but on this 2-core machine it
costs about 2.4 ms of CPU per POST against 0.13 ms for this (measured on the relay, see
RESULTS.md): with httpx the generator, not the server, would be the limit. The request is
what a browser's htmx post sends: the same path, cookies, headers and urlencoded form.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from urllib.parse import urlencode, urlsplit

TIMEOUT_SECONDS = 10.0


class FormPoster:
    """One user's connection: POST a form to one path, return the status."""

    def __init__(
        self, base_url: str, path: str, cookies: dict[str, str], headers: dict[str, str]
    ) -> None:
        address = urlsplit(base_url)
        self._host = address.hostname or "127.0.0.1"
        self._port = address.port or 80
        self._path = path
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {self._host}:{self._port}",
            "Content-Type: application/x-www-form-urlencoded",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        if cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
        self._head = ("\r\n".join(lines) + "\r\n").encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.local_port = 0  # of the connection last used: the server side maps it to a worker

    async def post(self, fields: dict[str, str], path: str | None = None) -> int:
        """The response status, or -1 if the server could not be reached. A connection the
        server closed while idle is retried once: sends are idempotent by client_id (and
        reactions by their target state). `path` posts elsewhere on the same connection."""
        body = urlencode(fields).encode()
        head = self._head
        if path is not None:
            head = head.replace(f"POST {self._path} ".encode(), f"POST {path} ".encode(), 1)
        request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        reused = self._writer is not None
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(TIMEOUT_SECONDS):
                    return await self._exchange(request)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
                await self.close()
                if not reused or attempt == 2:
                    return -1
        return -1

    async def _exchange(self, request: bytes) -> int:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
            self.local_port = self._writer.get_extra_info("sockname")[1]
        assert self._reader is not None
        self._writer.write(request)
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        await self._skip_body(headers)
        if headers.get("connection") == "close":
            await self.close()
        return int(status_line.split(" ", 2)[1])

    async def _skip_body(self, headers: dict[str, str]) -> None:
        assert self._reader is not None
        if headers.get("transfer-encoding") == "chunked":
            while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await self._reader.readexactly(size + 2)
            await self._reader.readuntil(b"\r\n")
        elif length := int(headers.get("content-length", "0")):
            await self._reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


class IdleTab:
    """One idle tab's WebSocket, opened by hand: the same handshake a browser sends (cookie,
    Origin, permessage-deflate offered), the page's hello, then the first frame read back.

    The `websockets` client costs about 2.4 ms of CPU per open here: with 10,000 sockets on
    a 2-core machine the generator would take a third of the CPU the server needs. A tab
    that only holds its socket needs none of that library's machinery.
    """

    def __init__(self, base_url: str, path: str, cookies: dict[str, str], origin: str) -> None:
        address = urlsplit(base_url)
        self._host = address.hostname or "127.0.0.1"
        self._port = address.port or 80
        key = base64.b64encode(os.urandom(16)).decode()
        self._accept = _accept_token(key)
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {self._host}:{self._port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            f"Origin: {origin}",
        ]
        if cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
        self._handshake = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self._writer: asyncio.StreamWriter | None = None

    async def open(self, hello: str | None) -> None:
        """Handshake, say hello, and wait for the first frame (the catch-up); ValueError if
        the server refuses."""
        reader, self._writer = await asyncio.open_connection(self._host, self._port)
        self._writer.write(self._handshake)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        if not head.startswith("HTTP/1.1 101") or self._accept not in head:
            raise ValueError(f"handshake refused: {head.splitlines()[0]!r}")
        if hello is None:
            return
        self._writer.write(_masked_text_frame(hello.encode()))
        first, size = await reader.readexactly(2)
        if size & 0x7F == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif size & 0x7F == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        else:
            length = size & 0x7F
        await reader.readexactly(length)
        if first & 0x0F == CLOSE_OPCODE:
            raise ValueError("the server closed the socket")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


CLOSE_OPCODE = 0x8
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _accept_token(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()


def _masked_text_frame(payload: bytes) -> bytes:
    """A client's text frame (RFC 6455 5.2): FIN + text opcode, masked; hellos are short."""
    if len(payload) < 126:
        head = bytes([0x81, 0x80 | len(payload)])
    else:
        head = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + masked
