"""NUL and other control characters in a field get the form's clear 4xx, never a 500."""

from __future__ import annotations

import pytest
from quart import Quart

from chatin.models import User
from tests.chatting import Person, article_text, start_chat, stored_count
from tests.conftest import csrf_token, parse, sign_up, unique_email

# NUL (which PostgreSQL can't store in text), a bell, an escape, DEL and a C1 control.
CONTROL_CHARACTERS = ["\x00", "\x07", "\x1b", "\x7f", "\x85"]


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
@pytest.mark.parametrize("htmx", [True, False])
async def test_message_with_a_control_character_is_refused_and_not_stored(
    alice: Person, bob: Person, control: str, htmx: bool
) -> None:
    conversation = await start_chat(alice, bob)
    response = await alice.send(conversation, f"before{control}after", htmx=htmx)
    assert response.status_code == 400
    text = await response.get_data(as_text=True)
    assert "control character" in (text if htmx else parse(text).get_text())
    assert await stored_count(conversation) == 0


async def test_message_keeps_its_tabs_and_line_breaks(alice: Person, bob: Person) -> None:
    conversation = await start_chat(alice, bob)
    await alice.say(conversation, "a\tb\r\nc")
    page = await bob.page(f"/c/{conversation}")
    assert article_text(page.select("[role=log] article")[-1]) == "a\tb\nc"


async def test_display_name_with_a_nul_is_refused_on_the_sign_up_form(app: Quart) -> None:
    client = app.test_client()
    form = {"display_name": "Ada\x00", "email": unique_email(), "password": "password1"}
    form["csrf_token"] = await csrf_token(client, "/signup")
    response = await client.post("/signup", form=form)
    assert response.status_code == 422
    assert parse(await response.get_data(as_text=True)).select_one("#display_name-error")
    assert await User.all().count() == 0


async def test_display_name_with_a_nul_is_refused_on_the_profile(app: Quart) -> None:
    client = app.test_client()
    await sign_up(client, "Ada")
    form = {"display_name": "Ada\x00", "csrf_token": await csrf_token(client, "/profile")}
    response = await client.post("/profile/name", form=form)
    assert response.status_code == 422
    assert parse(await response.get_data(as_text=True)).select_one("#display_name-error")
    assert await User.filter(display_name="Ada").exists()
