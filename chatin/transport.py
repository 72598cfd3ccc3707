"""How Hypercorn and Quart move our bytes: which frames are compressed, how far a compressed
frame is inflated, how a refused frame is answered, how long a peer that stops reading may
hold a connection (and how its keep-alive is timed), and how a socket's messages reach its
handler. Hypercorn 0.18 (pinned) has settings for none of the first four, so each replaces a
name in one of its modules.
`adjust_hypercorn()` runs once per process, when `chatin:app` is imported: that is what
every worker of `python -m chatin` and of `hypercorn chatin:app` loads before it serves. It
refuses to start on another Hypercorn, whose modules may no longer hold what it replaces.
The last is Quart's own hook (`app.asgi_websocket_class`): `DirectWebsocketConnection`.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
import zlib
from collections.abc import Generator
from importlib.metadata import version
from typing import Any

from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio.task_group import TaskGroup
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.protocol import ws_stream
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart.asgi import ASGIWebsocketConnection
from wsproto.connection import Connection, ConnectionState
from wsproto.events import CloseConnection, Event
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

from chatin.config import ConfigError

HYPERCORN_VERSION = "0.18.0"
COMPRESS_FROM_BYTES = 4_096
MAX_INFLATED_BYTES = 16_384  # hypercorn.toml's websocket_max_message_size (a test checks)
WRITE_TIMEOUT_SECONDS = 10.0


def adjust_hypercorn() -> None:
    """Apply the changes, once; ConfigError if Hypercorn is not the version they fit."""
    installed = version("hypercorn")
    if installed != HYPERCORN_VERSION:
        raise ConfigError(
            f"ChatIn adjusts Hypercorn {HYPERCORN_VERSION} (frame compression and size, "
            f"stalled peers) but Hypercorn {installed} is installed: "
            "install the versions in requirements.txt"
        )
    compress_without_context_takeover()
    ws_stream.Connection = AnsweringConnection
    hypercorn_run.TCPServer = WriteBoundedTCPServer


def compress_without_context_takeover() -> None:
    """Make Hypercorn negotiate permessage-deflate without context takeover, compressing
    only frames worth it.

    Hypercorn 0.18 offers wsproto's PerMessageDeflate with its defaults, which keep a zlib
    compressor and decompressor alive per socket: about 104 of the 139 KiB an idle tab
    cost (bench/RESULTS.md). Without context takeover both exist only while a frame is
    being (de)compressed. Hypercorn has no setting for this, so its module's factory is
    replaced (pinned 0.18.0).
    """
    ws_stream.PerMessageDeflate = functools.partial(
        LargeFramesDeflate, client_no_context_takeover=True, server_no_context_takeover=True
    )


class LargeFramesDeflate(PerMessageDeflate):
    """Compress a frame only from COMPRESS_FROM_BYTES up (the list, catch-up batches), and
    inflate a message only up to MAX_INFLATED_BYTES.

    Without context takeover every compressed frame builds a new zlib compressor, which
    costs more CPU (about 40 us here) than a push of a message or a tick saves on the
    wire. RFC 7692 lets each message say whether it is compressed (RSV1).

    wsproto inflates a whole frame before Hypercorn checks the message's size: a 58 KB
    frame became 60 MB in memory (the worker went from 59 to 235 MB) before it was
    refused. Here inflation stops one byte past the limit and the socket closes with 1009.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._inflated = 0  # bytes of the current message so far

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not (self._inbound_compressed and self._inbound_is_compressible):
            return data
        assert self._decompressor is not None
        room = MAX_INFLATED_BYTES - self._inflated
        try:
            inflated = self._decompressor.decompress(data, room + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        return self._counted(inflated)

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        """The end of a frame: the message's last bytes (a few, from zlib's flush) count
        too; a new message starts from nothing."""
        tail = super().frame_inbound_complete(proto, fin)
        if isinstance(tail, bytes):
            tail = self._counted(tail)
        if fin:
            self._inflated = 0
        return tail

    def _counted(self, inflated: bytes) -> bytes | CloseReason:
        self._inflated += len(inflated)
        if self._inflated > MAX_INFLATED_BYTES:
            return CloseReason.MESSAGE_TOO_BIG
        return inflated

    def frame_outbound(
        self, proto: Any, opcode: Opcode, rsv: RsvBits, data: bytes, fin: bool
    ) -> tuple[RsvBits, bytes]:
        whole_message = fin and opcode is not Opcode.CONTINUATION
        if whole_message and len(data) < COMPRESS_FROM_BYTES:
            return rsv, data
        return super().frame_outbound(proto, opcode, rsv, data, fin)


class AnsweringConnection(Connection):
    """wsproto's connection, whose refusal of a frame reaches the peer as a close frame.

    wsproto reports a frame it refuses (too large once inflated, bad UTF-8, a protocol
    error) as a close with the reason's code but stays open, and Hypercorn answers only
    a close the peer began: the peer saw the connection drop (1006). Treated as the
    peer's close, it is answered with a close frame carrying the code (1009, 1007, 1002).
    """

    def events(self) -> Generator[Event, None, None]:
        for event in super().events():
            if isinstance(event, CloseConnection) and self.state is ConnectionState.OPEN:
                self._state = ConnectionState.REMOTE_CLOSING
            yield event


class WriteBoundedTCPServer(TCPServer):
    """Hypercorn's connection, cut when its peer takes in nothing for WRITE_TIMEOUT_SECONDS,
    and timing its keep-alive with a timer (KeepAliveTimer).

    Hypercorn waits for a full send buffer to drain with no limit, and its close frame and
    pings wait behind the data. A tab that stops reading would keep its socket, its place
    in the hub and its queue of pushes for as long as it lived; this ends it, as a dead
    network would, and its tab (if it ever comes back) reconnects and catches up.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writer.drain = functools.partial(_bounded_drain, self.writer, self.writer.drain)
        self.idle_task = KeepAliveTimer(self)


async def _bounded_drain(writer: asyncio.StreamWriter, drain: Any) -> None:
    """Wait for the peer to take in what was written, at most WRITE_TIMEOUT_SECONDS.

    A small write (every answer to a POST, nearly every push) leaves nothing buffered, and
    then there is nothing to wait for: the timer, set and cancelled for each of an answer's
    writes, cost about 3 % of a message POST's CPU (bench/RESULTS.md).
    """
    transport = writer.transport
    if not transport.get_write_buffer_size() and not transport.is_closing():
        return
    try:
        async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
            await drain()
    except TimeoutError:
        writer.transport.abort()
        raise ConnectionResetError("the peer stopped reading") from None


class DirectWebsocketConnection(ASGIWebsocketConnection):
    """Quart's websocket connection, whose handler reads the server's messages itself.

    Quart runs each socket's handler beside a receiver task that moves every message from
    the server's queue into a second, unbounded asyncio.Queue, and waits on both tasks:
    per idle socket that task, that queue (four deques) and the wait cost about 6.5 KiB
    of the 45 an idle tab held (bench/RESULTS.md). Here `websocket.receive()` awaits the
    server's queue directly, in the handler's own task. A disconnect ends the handler as
    in Quart, by cancelling it, and the connection then returns normally. What is not read
    stays in the server's bounded queue (Hypercorn's `max_app_queue_size`), so a peer that
    floods a handler that isn't reading is held back by TCP instead of filling memory.
    Quart's `websocket_received` signal is not sent (nothing here listens to it).
    """

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        task = asyncio.current_task()
        assert task is not None
        inbox = Inbox(receive, task)
        self.queue = inbox  # type: ignore[assignment]  # what Quart's websocket.receive awaits
        websocket = self._create_websocket_from_scope(send)
        try:
            await self.handle_websocket(websocket, send)
        except asyncio.CancelledError:
            if not inbox.disconnected or task.uncancel() > 0:
                raise  # cancelled for another reason too (the server is stopping)


class Inbox:
    """The messages of one socket, as `get()` (the name Quart's websocket reads them by)."""

    __slots__ = ("_receive", "_task", "disconnected")

    def __init__(self, receive: ASGIReceiveCallable, task: asyncio.Task[Any]) -> None:
        self._receive = receive
        self._task = task
        self.disconnected = False

    async def get(self) -> str | bytes:
        """The next message; on a disconnect the handler's task is cancelled (as Quart
        does) and CancelledError raised here, wherever this is awaited."""
        while not self.disconnected:
            event = await self._receive()
            if event["type"] == "websocket.receive":
                return event.get("bytes") or event["text"]  # type: ignore[return-value]
            if event["type"] == "websocket.disconnect":
                self.disconnected = True
                if asyncio.current_task() is not self._task:
                    self._task.cancel()
        raise asyncio.CancelledError


class KeepAliveTimer:
    """Hypercorn's keep-alive timeout of one connection, as a timer instead of tasks.

    Between requests Hypercorn 0.18 runs a task that waits, in `asyncio.wait_for` (a second
    task), for `keep_alive_timeout` or the server's stop, and cancels and awaits both when
    the next request arrives: two tasks made, cancelled and awaited per request on a kept-alive
    connection (about 4 % of a message POST's CPU, bench/RESULTS.md). This arms one timer
    instead, with the same outcome: an idle connection is closed when it expires, and at
    once when the worker stops (`_closing_all_on_stop`). It stands in for Hypercorn's
    `AsyncioSingleTask` as the server's `idle_task`, whose two methods it has.
    """

    def __init__(self, server: TCPServer) -> None:
        self._server = server
        self._timer: asyncio.TimerHandle | None = None
        self._task_group: TaskGroup | None = None
        _idle_on_stop(server).add(self)

    async def restart(self, task_group: TaskGroup, action: Any) -> None:
        """Idle from now on (`action` is Hypercorn's own wait for the timeout)."""
        self._disarm()
        self._task_group = task_group
        timeout = self._server.config.keep_alive_timeout
        self._timer = self._server.loop.call_later(timeout, self.expire)
        if self._server.context.terminated.is_set():
            self.expire()

    async def stop(self) -> None:
        """Busy (a request came) or closed."""
        self._disarm()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def expire(self) -> None:
        """Time is up, or the worker stops: close the connection if it is idle."""
        if self._timer is None or self._task_group is None:
            return  # busy with a request, or closed
        self._disarm()
        self._task_group.spawn(self._server._initiate_server_close)


_IDLE_BY_WORKER: weakref.WeakKeyDictionary[Any, weakref.WeakSet[KeepAliveTimer]] = (
    weakref.WeakKeyDictionary()
)
_STOP_WATCHERS: set[asyncio.Task[None]] = set()


def _idle_on_stop(server: TCPServer) -> weakref.WeakSet[KeepAliveTimer]:
    """The worker's keep-alive timers, all fired when it stops; the first asks for that."""
    context = server.context
    timers = _IDLE_BY_WORKER.get(context)
    if timers is None:
        timers = _IDLE_BY_WORKER[context] = weakref.WeakSet()
        watcher = server.loop.create_task(_closing_all_on_stop(context, timers))
        _STOP_WATCHERS.add(watcher)
        watcher.add_done_callback(_STOP_WATCHERS.discard)
    return timers


async def _closing_all_on_stop(context: Any, timers: weakref.WeakSet[KeepAliveTimer]) -> None:
    """When the worker stops, close every idle connection at once, as Hypercorn does."""
    await context.terminated.wait()
    for timer in list(timers):
        timer.expire()
