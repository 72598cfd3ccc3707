"""A socket's Origin that isn't ASCII is refused like any foreign one: 403, not a crash."""

from __future__ import annotations

import asyncio

import pytest
from quart.testing import WebsocketResponseError

from tests.chatting import WAIT, Person


@pytest.mark.parametrize("origin", ["http://localhöst", "http://localhost\xa0", "http://ló"])
async def test_socket_with_a_non_ascii_origin_is_refused(alice: Person, origin: str) -> None:
    async with alice.socket(origin=origin) as ws:
        with pytest.raises(WebsocketResponseError) as refused:
            async with asyncio.timeout(WAIT):
                await ws.receive()
        assert refused.value.response.status_code == 403
        assert not ws.accepted
