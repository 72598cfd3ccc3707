"""Throttles count attempts, hold under parallel requests, and keep each other's history."""

from __future__ import annotations

import asyncio
import threading

import bcrypt
import pytest
from quart import Quart
from quart.testing import QuartClient

from chatin import db
from chatin.models import accounts
from tests.chatting import person
from tests.conftest import csrf_token, sign_up

TAKEN = "taken@example.com"


def from_address(address: str) -> dict[str, object]:
    """A request's client address (the test client otherwise sends all from one)."""
    return {"client": (address, 40000)}


async def logged_out(app: Quart) -> tuple[QuartClient, str]:
    """A client whose account exists but which is logged out, and that account's email."""
    client = app.test_client()
    email = await sign_up(client, "Ada")
    await client.post("/logout", form={"csrf_token": await csrf_token(client, "/")})
    return client, email


async def test_parallel_wrong_logins_hit_the_limit(app: Quart) -> None:
    client, email = await logged_out(app)
    form = {"email": email, "password": "wrong password", "csrf_token": await csrf_token(client)}

    async def guess(n: int) -> int:
        # A new client address for each: only the per-email limit can stop them.
        response = await client.post("/login", form=form, scope_base=from_address(f"10.1.0.{n}"))
        return response.status_code

    async with asyncio.timeout(30):
        statuses = await asyncio.gather(*(guess(n) for n in range(30)))
    assert sorted(statuses) == [401] * 10 + [429] * 20


async def test_right_passwords_leave_the_address_its_log_ins(app: Quart) -> None:
    """People behind one address (an office) log in all day; only wrong guesses count."""
    client, email = await logged_out(app)
    office = from_address("10.1.1.1")
    statuses = []
    for password in ["correct horse"] * 12 + ["wrong password"] * 9 + ["correct horse"]:
        form = {"email": email, "password": password, "csrf_token": await csrf_token(client)}
        statuses.append((await client.post("/login", form=form, scope_base=office)).status_code)
        if statuses[-1] == 303:
            await client.post("/logout", form={"csrf_token": await csrf_token(client, "/")})
    assert statuses == [303] * 12 + [401] * 9 + [303]


async def test_a_failed_log_in_keeps_the_sign_up_count(app: Quart) -> None:
    """The sign-up limit (20 an hour) still holds half an hour on, whatever log-ins fail."""
    address = "10.1.2.1"
    await db.execute(
        "INSERT INTO throttle_hits (key, at) SELECT $1, now() - interval '30 minutes'"
        " FROM generate_series(1, 20)",
        f"signup:addr:{address}",
    )
    client = app.test_client()
    form = {"email": "ghost@example.com", "password": "wrong password"}
    form["csrf_token"] = await csrf_token(client)
    assert (
        await client.post("/login", form=form, scope_base=from_address(address))
    ).status_code == 401

    form = {"display_name": "Eve", "email": "eve@example.com", "password": "password1"}
    form["csrf_token"] = await csrf_token(client, "/signup")
    response = await client.post("/signup", form=form, scope_base=from_address(address))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


async def test_sign_ups_with_a_taken_email_are_throttled(app: Quart) -> None:
    await sign_up(app.test_client(), "Ada", TAKEN)
    client = app.test_client()
    form = {"display_name": "Eve", "email": TAKEN, "password": "password1"}
    form["csrf_token"] = await csrf_token(client, "/signup")
    statuses = [
        (await client.post("/signup", form=form, scope_base=from_address("10.1.3.1"))).status_code
        for _ in range(21)
    ]
    assert statuses == [422] * 20 + [429]


async def test_current_password_guesses_on_the_profile_are_throttled(app: Quart) -> None:
    """A stolen session can't try passwords faster than the log-in form allows."""
    thief = await person(app, "Ada")
    guess = {"current_password": "guess", "new_password": "brand new pw", "csrf_token": thief.csrf}
    statuses = []
    for n in range(11):
        response = await thief.client.post(
            "/profile/password", form=guess, scope_base=from_address(f"10.1.4.{n}")
        )
        statuses.append(response.status_code)
    assert statuses == [422] * 10 + [429]
    assert int(response.headers["Retry-After"]) > 0
    # The account's log-in count is the same one: the owner's address elsewhere waits too.
    stranger = app.test_client()
    form = {"email": thief.email, "password": "correct horse"}
    form["csrf_token"] = await csrf_token(stranger)
    response = await stranger.post("/login", form=form, scope_base=from_address("10.1.5.1"))
    assert response.status_code == 429


async def test_at_most_four_password_hashes_run_at_once(app: Quart) -> None:
    """bcrypt holds a core for a quarter second: a burst of log-ins queues for a slot
    instead of taking every thread of the worker."""
    running, peak, count_lock = 0, 0, threading.Lock()

    def counted_hash() -> None:
        nonlocal running, peak
        with count_lock:
            running += 1
            peak = max(peak, running)
        try:
            bcrypt.hashpw(b"password", bcrypt.gensalt(8))
        finally:
            with count_lock:
                running -= 1

    async with asyncio.timeout(30):
        await asyncio.gather(*(accounts._bcrypt(counted_hash) for _ in range(12)))
    assert 1 < peak <= accounts.BCRYPT_SLOTS


async def test_log_ins_past_the_password_check_queue_get_503(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, email = await logged_out(app)
    monkeypatch.setattr(accounts, "BCRYPT_WAIT_SECONDS", 0.1)
    release = threading.Event()
    held = [asyncio.ensure_future(accounts._bcrypt(release.wait, 10)) for _ in range(4)]
    try:
        form = {"email": email, "password": "correct horse"}
        form["csrf_token"] = await csrf_token(client)
        response = await client.post("/login", form=form)
    finally:
        release.set()
        async with asyncio.timeout(10):
            await asyncio.gather(*held)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
