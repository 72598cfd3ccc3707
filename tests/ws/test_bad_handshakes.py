"""Handshakes with bad input are refused before accepting with a 4xx, never a crash (500)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from quart.testing import WebsocketResponseError

from tests.chatting import ORIGIN, WAIT, Person

if TYPE_CHECKING:
    from quart.testing.connections import TestWebsocketConnection


async def refusal(ws: TestWebsocketConnection) -> int:
    """The status the handshake was refused with; nothing was accepted before it."""
    with pytest.raises(WebsocketResponseError) as refused:
        async with asyncio.timeout(WAIT):
            await ws.receive()
    assert not ws.accepted
    return refused.value.response.status_code


@pytest.mark.parametrize("origin", ["http://localhöst", "http://localhost\xa0", "http://ló"])
async def test_socket_with_a_non_ascii_origin_is_refused(alice: Person, origin: str) -> None:
    async with alice.socket(origin=origin) as ws:
        assert await refusal(ws) == 403


@pytest.mark.parametrize("path", ["/login", "/c/1/read", "/", "/nowhere"])
async def test_socket_to_a_page_is_refused_with_a_4xx(alice: Person, path: str) -> None:
    async with alice.client.websocket(path, headers={"Origin": ORIGIN}) as ws:
        assert 400 <= await refusal(ws) < 500
