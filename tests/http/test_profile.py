"""The profile: a new display name reaches contacts live; a password change ends other sessions."""

from __future__ import annotations

import asyncio

import pytest
from quart import Quart
from quart.testing.connections import WebsocketDisconnectError

from chatin.live.hub import LOGGED_OUT_CODE
from chatin.models import User
from tests.conftest import csrf_token, log_in, parse, sign_up
from tests.ws.test_status import ORIGIN, WAIT, frame_where, hello, start_chat


async def test_new_display_name_reaches_contacts_live(app: Quart) -> None:
    alice, bob, conversation = await start_chat(app, "Alice", "Bob")
    name_in_header = f"#chat-name-{conversation}"
    async with bob.websocket("/ws", headers=ORIGIN) as bob_tab:
        await hello(bob_tab, conversation)
        token = await csrf_token(alice, "/profile")
        form = {"display_name": "  Alice <3  ", "csrf_token": token}
        response = await alice.post("/profile/name", form=form)
        assert response.status_code == 303
        # The accept's push may still be on its way: the rename's is the one with the name.
        pushed = await frame_where(bob_tab, lambda html: html.select_one(name_in_header))
    assert pushed.select_one(name_in_header).get_text() == "Alice <3"
    entry = pushed.select_one(f"#conv-{conversation} .conv-name")
    assert entry is not None and entry.get_text() == "Alice <3"
    page = parse(await (await bob.get("/")).get_data(as_text=True))
    assert "Alice <3" in page.select_one("nav[aria-label=Conversations]").get_text()


async def test_bad_display_name_is_refused_and_the_old_one_kept(app: Quart) -> None:
    client = app.test_client()
    await sign_up(client, "Alice")
    token = await csrf_token(client, "/profile")
    response = await client.post("/profile/name", form={"display_name": " ", "csrf_token": token})
    assert response.status_code == 422
    assert parse(await response.get_data(as_text=True)).select_one("#display_name-error")
    assert await User.filter(display_name="Alice").exists()


async def test_password_change_needs_the_current_one_and_ends_other_sessions(app: Quart) -> None:
    here, elsewhere = app.test_client(), app.test_client()
    email = await sign_up(here, "Alice")
    assert await log_in(elsewhere, email) == 303
    token = await csrf_token(here, "/profile")
    wrong = {"current_password": "nope", "new_password": "brand new pw", "csrf_token": token}
    assert (await here.post("/profile/password", form=wrong)).status_code == 422
    assert (await elsewhere.get("/")).status_code == 200

    async with elsewhere.websocket("/ws", headers=ORIGIN) as other_tab:
        await hello(other_tab)
        right = dict(wrong, current_password="correct horse")
        assert (await here.post("/profile/password", form=right)).status_code == 303
        with pytest.raises(WebsocketDisconnectError) as closed:
            async with asyncio.timeout(WAIT):
                await other_tab.receive()
        assert closed.value.args[0] == LOGGED_OUT_CODE
    assert (await elsewhere.get("/")).status_code == 302
    assert (await here.get("/")).status_code == 200
    fresh = app.test_client()
    assert await log_in(fresh, email, "correct horse") == 401
    assert await log_in(fresh, email, "brand new pw") == 303
