"""What a tab says up the socket is untrusted: a bad hello changes nothing, and a failure
while answering one leaves the tab able to reconnect and catch up."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from quart.testing.connections import WebsocketDisconnectError

from chatin.live import socket as socket_module
from tests.chatting import WAIT, Person, articles_until, frame_with, hello_of, start_chat

# Close codes after which htmx's ws extension 2.0.4 reconnects by itself (and says hello).
RECONNECTING_CODES = {1006, 1011, 1012, 1013}
HUGE = "9" * 20  # past PostgreSQL's bigint


def bad_hellos(conversation: int) -> dict[str, str]:
    return {
        "not JSON": "hello?",
        "a list": "[1, 2]",
        "a number": "7",
        "text ids": json.dumps({"conversation": "seven", "after": "forty-one"}),
        "negative cursor": json.dumps({"conversation": conversation, "after": "-5"}),
        "too big": json.dumps({"conversation": conversation, "padding": "x" * 5_000}),
        "huge conversation id": json.dumps({"conversation": HUGE, "after": "0"}),
        "huge cursor": json.dumps({"conversation": conversation, "after": HUGE}),
    }


async def test_a_bad_hello_is_ignored_and_the_tab_keeps_working(
    alice: Person, bob: Person, subtests: pytest.Subtests
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"
    for kind, bad in bad_hellos(conversation).items():
        with subtests.test(kind):
            async with bob.socket() as tab:
                await tab.send(bad)
                await tab.send(hello_of(await bob.page(path), url=path))
                await frame_with(tab, "#conversation-list")
                message = await alice.say(conversation, f"after {kind}")
                assert await articles_until(tab, message) == [message]


async def test_database_error_during_catch_up_lets_the_tab_reconnect(
    alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = await start_chat(alice, bob)
    path = f"/c/{conversation}"

    async def dropped(_user_id: int) -> list:
        raise asyncpg.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        )

    monkeypatch.setattr(socket_module, "entries_of_viewer", dropped)
    async with bob.socket() as tab:
        await tab.send(hello_of(await bob.page(path), url=path))
        with pytest.raises(WebsocketDisconnectError) as closed:
            async with asyncio.timeout(WAIT):
                while True:
                    await tab.receive()
        assert closed.value.args[0] in RECONNECTING_CODES
