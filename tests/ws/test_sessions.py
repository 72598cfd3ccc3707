"""A log-out reaches every socket of its session, also one that was opening at that moment,
and no worker serves an ended session from its cache, also while it cannot hear
announcements (its LISTEN connection is down)."""

from __future__ import annotations

import asyncio

import pytest
from quart import Quart
from quart.testing import WebsocketResponseError
from quart.testing.connections import WebsocketDisconnectError

from chatin import db
from chatin.auth import SESSION_CACHE
from chatin.events import Event, Kind
from chatin.live.hub import LOGGED_OUT_CODE
from chatin.live.listener import Listener
from chatin.models import AuthSession
from tests.chatting import WAIT, Person


async def test_a_socket_whose_session_lookup_overlaps_the_log_out_is_closed(
    app: Quart, alice: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.extensions[SESSION_CACHE].clear()  # the socket looks its session up in the database
    looked_up, go_on = asyncio.Event(), asyncio.Event()
    lookup = AuthSession.viewer

    async def slow_first_lookup(token: str) -> object:
        found = await lookup(token)
        if not looked_up.is_set():  # the socket's: it read the session before the log-out
            looked_up.set()
            await go_on.wait()
        return found

    monkeypatch.setattr(AuthSession, "viewer", slow_first_lookup)
    hub = app.extensions["hub"]
    logged_out, deliver = asyncio.Event(), hub.deliver

    def watched_deliver(event: Event) -> None:
        deliver(event)
        if event.kind is Kind.LOGOUT:
            logged_out.set()

    monkeypatch.setattr(hub, "deliver", watched_deliver)

    async with alice.socket() as tab:
        async with asyncio.timeout(WAIT):
            await looked_up.wait()
        assert (await alice.post("/logout")).status_code == 303
        async with asyncio.timeout(WAIT):
            await logged_out.wait()  # announced here before the socket was in the hub
        go_on.set()
        with pytest.raises((WebsocketResponseError, WebsocketDisconnectError)) as ended:
            async with asyncio.timeout(WAIT):
                await tab.receive()
    if isinstance(ended.value, WebsocketResponseError):
        assert 400 <= ended.value.response.status_code < 500
    else:
        assert ended.value.args[0] == LOGGED_OUT_CODE


async def test_while_the_listener_is_down_an_ended_session_is_not_served_from_the_cache(
    app: Quart, alice: Person, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await alice.client.get("/")).status_code == 200  # her session is in the cache
    reconnecting = asyncio.Event()

    async def database_unreachable(_listener: Listener) -> None:
        reconnecting.set()
        raise db.DatabaseUnavailable("the test keeps the listener down")

    monkeypatch.setattr(Listener, "_connect", database_unreachable)
    conn = await db.connect(database_url)
    try:
        # The LISTEN connection drops, as in a network failure or a database restart.
        cut = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE query = 'LISTEN \"chatin\"' AND pid <> pg_backend_pid()"
        )
        assert cut == 1
        async with asyncio.timeout(WAIT):
            await reconnecting.wait()
        # Log-out on another node: its announcement can't reach this worker now.
        await conn.execute("DELETE FROM auth_sessions WHERE user_id = $1", alice.id)
    finally:
        await conn.close()
    response = await alice.client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
