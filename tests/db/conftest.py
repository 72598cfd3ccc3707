"""The people of the db tests: accounts made through the models (no HTTP client), which
replace the logged-in `Person` fixtures of tests/conftest.py for this layer."""

from __future__ import annotations

import pytest
from quart import Quart

from chatin.models import User

ROUNDS = 4  # bcrypt's cheapest cost: these tests sign up many people


async def person(name: str) -> User:
    return await User.sign_up(name, f"{name.lower()}@example.com", "password1", ROUNDS)


@pytest.fixture
async def alice(app: Quart) -> User:
    return await person("Alice")


@pytest.fixture
async def bob(app: Quart) -> User:
    return await person("Bob")


@pytest.fixture
async def carol(app: Quart) -> User:
    return await person("Carol")


@pytest.fixture
async def dave(app: Quart) -> User:
    return await person("Dave")
