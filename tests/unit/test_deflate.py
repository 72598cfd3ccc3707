"""Frames reach a client that negotiated permessage-deflate intact, compressed when large."""

from __future__ import annotations

import secrets

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from chatin.transport import COMPRESS_FROM_BYTES, LargeFramesDeflate

RSV1 = 0x40  # the first byte's "this message is compressed" bit (RFC 7692)


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
