"""Bad input to the account forms gets the form's own 4xx answer, never a 500."""

from __future__ import annotations

import pytest
from quart import Quart

from chatin.models import Conversation, User
from tests.chatting import Person
from tests.conftest import csrf_token, parse, sign_up

CONTROL_CHARACTERS = ["\x00", "\x01", "\x1b", "\x7f"]


@pytest.mark.parametrize("token", ["é" * 64, "\u2603", "token\xff"])
async def test_non_ascii_csrf_token_is_refused_and_changes_nothing(app: Quart, token: str) -> None:
    client = app.test_client()
    await sign_up(client)
    by_header = await client.post("/logout", headers={"X-CSRF-Token": token})
    by_field = await client.post("/logout", form={"csrf_token": token})
    assert (by_header.status_code, by_field.status_code) == (403, 403)
    assert (await client.get("/")).status_code == 200  # still logged in


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
async def test_control_character_in_the_log_in_email_is_a_bad_log_in(
    app: Quart, control: str
) -> None:
    client = app.test_client()
    email = await sign_up(client)
    await client.post("/logout", form={"csrf_token": await csrf_token(client, "/")})
    form = {"email": email + control, "password": "correct horse"}
    form["csrf_token"] = await csrf_token(client)
    response = await client.post("/login", form=form)
    assert response.status_code == 401
    alert = parse(await response.get_data(as_text=True)).select_one("[role=alert]")
    assert alert is not None and alert.get_text(strip=True) == "Invalid email or password"


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
async def test_control_character_in_the_sign_up_email_is_a_form_error(
    app: Quart, control: str
) -> None:
    client = app.test_client()
    form = {"display_name": "Ada", "email": f"ada{control}@example.com", "password": "password1"}
    form["csrf_token"] = await csrf_token(client, "/signup")
    response = await client.post("/signup", form=form)
    assert response.status_code == 422
    assert parse(await response.get_data(as_text=True)).select_one("#email-error") is not None
    assert await User.all().count() == 0


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
async def test_control_character_in_the_contact_email_is_a_form_error(
    alice: Person, bob: Person, control: str
) -> None:
    response = await alice.add_contact(bob.email.replace("@", f"{control}@"))
    assert response.status_code == 422
    error = parse(await response.get_data(as_text=True)).select_one("#contact_email-error")
    assert error is not None and "No one with that email" in error.get_text()
    assert await Conversation.all().count() == 0
