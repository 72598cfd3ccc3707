"""What a tab says up the socket is untrusted: a malformed hello closes the socket with a
4xxx code and one log line, and a failure while answering a good one leaves the tab able to
reconnect and catch up."""

from __future__ import annotations

import asyncio
import json
import logging

import asyncpg
import pytest
from quart.testing.connections import WebsocketDisconnectError

from chatin.live import socket as socket_module
from tests.chatting import WAIT, Person, articles_until, hello_of, open_tab, start_chat

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
        "fractional cursor": json.dumps({"conversation": conversation, "after": 1.5}),
        "cursor true": json.dumps({"conversation": conversation, "after": True}),
        "too big": json.dumps({"conversation": conversation, "padding": "x" * 5_000}),
        "huge conversation id": json.dumps({"conversation": HUGE, "after": "0"}),
        "huge cursor": json.dumps({"conversation": conversation, "after": HUGE}),
        # Python's json reads these as floats; int() of them raised OverflowError/ValueError.
        "Infinity": f'{{"conversation": {conversation}, "after": Infinity}}',
        "-Infinity": f'{{"conversation": {conversation}, "after": -Infinity}}',
        "NaN": f'{{"conversation": {conversation}, "after": NaN}}',
        "1e400": f'{{"conversation": {conversation}, "after": 1e400}}',
        "Infinity conversation": '{"conversation": Infinity, "after": "0"}',
    }


async def close_code_before_any_frame(tab: object) -> int:
    """The close code; the server must not have sent anything before it."""
    with pytest.raises(WebsocketDisconnectError) as closed:
        async with asyncio.timeout(WAIT):
            frame = await tab.receive()  # type: ignore[attr-defined]
            pytest.fail(f"a frame came before the close: {frame[:200]}")
    return closed.value.args[0]


async def test_a_malformed_hello_closes_the_socket_with_a_4xxx_code_and_one_log_line(
    alice: Person, bob: Person, subtests: pytest.Subtests, caplog: pytest.LogCaptureFixture
) -> None:
    conversation = await start_chat(alice, bob)
    caplog.set_level(logging.WARNING)
    for kind, bad in bad_hellos(conversation).items():
        with subtests.test(kind):
            caplog.clear()
            async with bob.socket() as tab:
                await tab.send(bad)
                code = await close_code_before_any_frame(tab)
            assert 4000 <= code < 5000, code
            lines = [r for r in caplog.records if r.name.startswith("chatin")]
            assert len(lines) == 1, [r.getMessage() for r in lines]
            assert lines[0].levelno == logging.WARNING and lines[0].exc_info is None
    async with bob.socket() as tab:  # and a good hello still works
        path = f"/c/{conversation}"
        await open_tab(bob, tab, path)
        message = await alice.say(conversation, "after the bad ones")
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
