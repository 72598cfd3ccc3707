"""How Hypercorn moves our bytes: which frames are compressed, and how long a peer that
stops reading may hold a connection. Hypercorn 0.18 (pinned) has settings for neither, so
both replace a name in one of its modules. `adjust_hypercorn()` runs once per process, when
`chatin:app` is imported: that is what every worker of `python -m chatin` and of
`hypercorn chatin:app` loads before it serves. It refuses to start on another Hypercorn,
whose modules may no longer hold what it replaces.
"""

from __future__ import annotations

import asyncio
import functools
from importlib.metadata import version
from typing import Any

from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.protocol import ws_stream
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import Opcode, RsvBits

from chatin.config import ConfigError

HYPERCORN_VERSION = "0.18.0"
COMPRESS_FROM_BYTES = 4_096
WRITE_TIMEOUT_SECONDS = 10.0


def adjust_hypercorn() -> None:
    """Apply both changes, once; ConfigError if Hypercorn is not the version they fit."""
    installed = version("hypercorn")
    if installed != HYPERCORN_VERSION:
        raise ConfigError(
            f"ChatIn adjusts Hypercorn {HYPERCORN_VERSION} (frame compression, stalled "
            f"peers) but Hypercorn {installed} is installed: "
            "install the versions in requirements.txt"
        )
    compress_without_context_takeover()
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
    """Compress a frame only from COMPRESS_FROM_BYTES up (the list, catch-up batches).

    Without context takeover every compressed frame builds a new zlib compressor, which
    costs more CPU (about 40 us here) than a push of a message or a tick saves on the
    wire. RFC 7692 lets each message say whether it is compressed (RSV1).
    """

    def frame_outbound(
        self, proto: Any, opcode: Opcode, rsv: RsvBits, data: bytes, fin: bool
    ) -> tuple[RsvBits, bytes]:
        whole_message = fin and opcode is not Opcode.CONTINUATION
        if whole_message and len(data) < COMPRESS_FROM_BYTES:
            return rsv, data
        return super().frame_outbound(proto, opcode, rsv, data, fin)


class WriteBoundedTCPServer(TCPServer):
    """Hypercorn's connection, cut when its peer takes in nothing for WRITE_TIMEOUT_SECONDS.

    Hypercorn waits for a full send buffer to drain with no limit, and its close frame and
    pings wait behind the data. A tab that stops reading would keep its socket, its place
    in the hub and its queue of pushes for as long as it lived; this ends it, as a dead
    network would, and its tab (if it ever comes back) reconnects and catches up.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writer.drain = functools.partial(_bounded_drain, self.writer, self.writer.drain)


async def _bounded_drain(writer: asyncio.StreamWriter, drain: Any) -> None:
    try:
        async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
            await drain()
    except TimeoutError:
        writer.transport.abort()
        raise ConnectionResetError("the peer stopped reading") from None
