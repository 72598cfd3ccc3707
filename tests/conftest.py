"""Shared fixtures: one embedded PostgreSQL per test session, a clean schema per test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from bs4 import BeautifulSoup
from quart import Quart
from quart.testing import QuartClient

from chatin import create_app, db, postgres
from chatin.config import Settings
from tests.server import reachable_folder

if TYPE_CHECKING:
    from tests.chatting import Person

_emails = itertools.count(1)


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    with reachable_folder("chatin-pg-") as folder:
        async with postgres.embedded_async(folder / "data") as url:
            await db.migrate(url)
            yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.for_tests(database_url, tmp_path)


@pytest.fixture
async def app(settings: Settings, database_url: str) -> AsyncIterator[Quart]:
    await db.truncate_all(database_url)
    quart_app = create_app(settings)
    async with quart_app.test_app():
        yield quart_app


@pytest.fixture
def client(app: Quart) -> QuartClient:
    return app.test_client()


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


async def csrf_token(client: QuartClient, path: str = "/login") -> str:
    """The token a real browser would find in the page's forms."""
    response = await client.get(path)
    field = parse(await response.get_data(as_text=True)).select_one("input[name=csrf_token]")
    assert field is not None, f"no CSRF field on {path}"
    return str(field["value"])


def unique_email(stem: str = "user") -> str:
    return f"{stem}{next(_emails)}@example.com"


async def sign_up(
    client: QuartClient,
    name: str = "Alice",
    email: str | None = None,
    password: str = "correct horse",
) -> str:
    """Sign up through the real form; returns the email used. The client stays logged in."""
    email = email or unique_email(name.lower())
    form = {"display_name": name, "email": email, "password": password}
    form["csrf_token"] = await csrf_token(client, "/signup")
    response = await client.post("/signup", form=form)
    assert response.status_code == 303, await response.get_data(as_text=True)
    return email


async def log_in(client: QuartClient, email: str, password: str = "correct horse") -> int:
    form = {"email": email, "password": password, "csrf_token": await csrf_token(client)}
    response = await client.post("/login", form=form)
    return response.status_code


@pytest.fixture
async def alice(app: Quart) -> Person:
    from tests.chatting import person  # tests.chatting builds on this module

    return await person(app, "Alice")


@pytest.fixture
async def bob(app: Quart) -> Person:
    from tests.chatting import person  # tests.chatting builds on this module

    return await person(app, "Bob")


@pytest.fixture
async def carol(app: Quart) -> Person:
    from tests.chatting import person  # tests.chatting builds on this module

    return await person(app, "Carol")
