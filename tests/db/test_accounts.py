"""Account rules, enforced by the model whatever route calls it."""

from __future__ import annotations

import asyncio
import unicodedata

import asyncpg
import pytest
from quart import Quart

from chatin import db
from chatin.models import AuthSession, InvalidInput, User
from tests.db.conftest import ROUNDS


async def test_sign_up_trims_name_and_keeps_email_as_typed(app: Quart) -> None:
    user = await User.sign_up("  Ada Lovelace  ", "Ada@Example.COM", "password1", ROUNDS)
    stored = await User.get(id=user.id)
    assert stored.display_name == "Ada Lovelace"
    assert stored.email == "Ada@Example.COM"
    assert stored.password_hash.startswith("$2b$04$")
    assert "password1" not in stored.password_hash


async def test_email_is_unique_whatever_its_case(app: Quart) -> None:
    await User.sign_up("Ada", "ada@example.com", "password1", ROUNDS)
    with pytest.raises(InvalidInput) as taken:
        await User.sign_up("Other Ada", "ADA@example.com", "password2", ROUNDS)
    assert "email" in taken.value.errors
    assert await User.all().count() == 1


@pytest.mark.parametrize(
    ("name", "email", "password", "bad_fields"),
    [
        ("   ", "a@example.com", "password1", {"display_name"}),
        ("x" * 81, "a@example.com", "password1", {"display_name"}),
        ("Ada", "not-an-email", "password1", {"email"}),
        ("Ada", "a@example.com", "short", {"password"}),
        ("Ada", "a@example.com", "é" * 40, {"password"}),
        ("", "", "", {"display_name", "email", "password"}),
    ],
)
async def test_broken_rules_are_reported_per_field_and_nothing_stored(
    app: Quart, name: str, email: str, password: str, bad_fields: set[str]
) -> None:
    with pytest.raises(InvalidInput) as invalid:
        await User.sign_up(name, email, password, ROUNDS)
    assert set(invalid.value.errors) == bad_fields
    assert await User.all().count() == 0


async def test_eighty_character_name_is_allowed(app: Quart) -> None:
    user = await User.sign_up("x" * 80, "long@example.com", "password1", ROUNDS)
    assert len(user.display_name) == 80


async def test_authenticate_accepts_only_the_right_password(app: Quart) -> None:
    user = await User.sign_up("Ada", "ada@example.com", "password1", ROUNDS)
    found = await User.authenticate("ADA@example.com", "password1", ROUNDS)
    assert found is not None and found.id == user.id
    assert await User.authenticate("ada@example.com", "password2", ROUNDS) is None
    assert await User.authenticate("nobody@example.com", "password1", ROUNDS) is None
    assert await User.authenticate("ada@example.com", "x" * 100, ROUNDS) is None


async def test_ended_session_no_longer_finds_its_user(app: Quart) -> None:
    user = await User.sign_up("Ada", "ada@example.com", "password1", ROUNDS)
    token = await AuthSession.begin(user)
    found = await AuthSession.viewer(token)
    assert found is not None and found[0].id == user.id
    await AuthSession.end(token)
    assert await AuthSession.viewer(token) is None


async def test_log_in_checked_before_a_password_change_opens_no_session(app: Quart) -> None:
    user = await User.sign_up("Ada", "ada@example.com", "password1", ROUNDS)
    checked = await User.authenticate("ada@example.com", "password1", ROUNDS)
    assert checked is not None
    await user.change_password("password1", "password2", ROUNDS, keep_session=None)
    assert await AuthSession.begin(checked) is None
    assert await AuthSession.filter(user_id=user.id).count() == 0


WAITING_FOR_A_LOCK = "SELECT EXISTS (SELECT FROM pg_locks WHERE NOT granted)"


async def until_blocked_or_done(task: asyncio.Future[object], conn: asyncpg.Connection) -> None:
    """Until task's query waits for a lock (PostgreSQL announces no lock wait, so its lock
    table is read until one shows), or task finished without waiting."""
    while not task.done() and not await conn.fetchval(WAITING_FOR_A_LOCK):  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_log_in_during_an_uncommitted_password_change_opens_no_session(
    app: Quart, database_url: str
) -> None:
    """The change is in flight when the session would open: the log-in waits, then sees it."""
    user = await User.sign_up("Ada", "ada@example.com", "password1", ROUNDS)
    checked = await User.authenticate("ada@example.com", "password1", ROUNDS)
    assert checked is not None
    change = await db.connect(database_url)
    try:
        async with asyncio.timeout(10):
            transaction = change.transaction()
            await transaction.start()
            await change.execute(
                "UPDATE users SET password_hash = 'changed' WHERE id = $1", user.id
            )
            opening = asyncio.ensure_future(AuthSession.begin(checked))
            await until_blocked_or_done(opening, change)
            await transaction.commit()
            assert await opening is None
    finally:
        await change.close()
    assert await AuthSession.filter(user_id=user.id).count() == 0


async def test_email_key_is_the_normalised_address(app: Quart) -> None:
    nfd = unicodedata.normalize("NFD", "Jürgen@XN--BCHER-KVA.example")
    assert User.email_key_of(f"  {nfd} ") == unicodedata.normalize("NFC", "jürgen@bücher.example")
    assert User.email_key_of("ada\x00@example.com") is None
    assert User.email_key_of("not an email") is None
