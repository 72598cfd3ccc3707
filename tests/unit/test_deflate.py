"""Frames reach a client that negotiated permessage-deflate intact, compressed when large;
a client's compressed message is inflated only up to the message limit."""

from __future__ import annotations

import secrets
import zlib
from pathlib import Path

from hypercorn.config import Config
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason

from chatin.transport import COMPRESS_FROM_BYTES, MAX_INFLATED_BYTES, LargeFramesDeflate

ROOT = Path(__file__).resolve().parents[2]

RSV1 = 0x40  # the first byte's "this message is compressed" bit (RFC 7692)
FIN, TEXT, CONTINUATION = 0x80, 0x1, 0x0


def connected_pair() -> tuple[WSConnection, WSConnection]:
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(
        client.send(Request(host="x", target="/ws", extensions=[PerMessageDeflate()]))
    )
    list(server.events())
    offered = LargeFramesDeflate(client_no_context_takeover=True, server_no_context_takeover=True)
    client.receive_data(server.send(AcceptConnection(extensions=[offered])))
    list(client.events())
    return client, server


def test_small_and_large_frames_arrive_intact_and_large_ones_compressed() -> None:
    client, server = connected_pair()
    small = "<div id='typing-7'></div>"
    large = "<article>" + "hello there " * COMPRESS_FROM_BYTES + "</article>"
    noise = secrets.token_hex(COMPRESS_FROM_BYTES)
    for text, compressed in ((small, False), (large, True), (noise, True), (small, False)):
        wire = server.send(TextMessage(data=text))
        assert bool(wire[0] & RSV1) is compressed
        client.receive_data(wire)
        received = [event.data for event in client.events()]
        assert received == [text]
    assert len(server.send(TextMessage(data=large))) < len(large) // 10


def compressed_frames(text: str, pieces: int = 1) -> bytes:
    """A client's text message, compressed and masked as a browser sends it, its payload
    cut into `pieces` frames (only the first says it is compressed, RFC 7692)."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = squeeze.compress(text.encode()) + squeeze.flush(zlib.Z_SYNC_FLUSH)
    payload = payload.removesuffix(b"\x00\x00\xff\xff")
    size = -(-len(payload) // pieces)
    chunks = [payload[n : n + size] for n in range(0, len(payload), size)]
    frames = b""
    for n, chunk in enumerate(chunks):
        fin = FIN if n == len(chunks) - 1 else 0
        opcode = RSV1 | TEXT if n == 0 else CONTINUATION
        frames += masked(fin | opcode, chunk)
    return frames


def masked(first_byte: int, payload: bytes) -> bytes:
    """One small client frame."""
    assert len(payload) < 126
    mask = b"\x01\x02\x03\x04"
    body = bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload))
    return bytes([first_byte, 0x80 | len(payload)]) + mask + body


def received(server: WSConnection, wire: bytes) -> list[object]:
    server.receive_data(wire)
    return list(server.events())


def test_a_message_inflating_to_the_limit_arrives_and_one_byte_more_is_refused() -> None:
    _, server = connected_pair()
    exactly = "x" * MAX_INFLATED_BYTES
    assert [event.data for event in received(server, compressed_frames(exactly))] == [exactly]
    refused = received(server, compressed_frames(exactly + "x"))
    assert [type(event) for event in refused] == [CloseConnection]
    assert refused[0].code == CloseReason.MESSAGE_TOO_BIG


def test_the_limit_counts_every_frame_of_a_fragmented_message() -> None:
    _, server = connected_pair()
    refused = received(server, compressed_frames("y" * (MAX_INFLATED_BYTES + 1), pieces=3))
    assert isinstance(refused[-1], CloseConnection)
    assert refused[-1].code == CloseReason.MESSAGE_TOO_BIG
    assert sum(len(event.data) for event in refused[:-1]) <= MAX_INFLATED_BYTES


def test_the_inflation_limit_is_hypercorns_message_limit() -> None:
    config = Config.from_toml(str(ROOT / "hypercorn.toml"))
    assert config.websocket_max_message_size == MAX_INFLATED_BYTES
