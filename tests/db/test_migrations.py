"""The migrations in migrations/ describe exactly the models: no change left unmigrated."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit, urlunsplit

from quart import Quart
from tortoise import Tortoise
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from chatin import db


async def test_models_and_migrations_agree(app: Quart, database_url: str) -> None:
    apps_config = db.tortoise_config(database_url)["apps"]
    changes = await MigrationAutodetector(Tortoise.apps, apps_config).changes()
    pending = [op for writer in changes for op in writer.operations]
    assert pending == [], "run `tortoise makemigrations` and commit the new migration"


async def test_start_after_start_migrates_nothing_new(database_url: str) -> None:
    conn = await db.connect(database_url)
    try:
        before = await conn.fetchval(f"SELECT count(*) FROM {db.MIGRATIONS_TABLE}")
        await db.migrate(database_url)
        after = await conn.fetchval(f"SELECT count(*) FROM {db.MIGRATIONS_TABLE}")
    finally:
        await conn.close()
    assert before == after > 0


UPGRADE_DATABASE = "chatin_upgrade"
BEFORE_EMAIL_KEYS = "chatin.0004_messages_by_author_time"


async def fresh_database(database_url: str, name: str) -> str:
    """An empty database beside the suite's, and its URL."""
    conn = await db.connect(database_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))


async def test_an_upgrade_normalises_existing_email_keys(database_url: str) -> None:
    """Keys stored before issue 14 were only lower-cased. Where two accounts turn out to
    share an address, the one already holding the key keeps it and the other its old key."""
    nfd = unicodedata.normalize("NFD", "Jürgen@Bücher.example")
    before = {
        nfd: nfd.lower(),
        "ada@xn--mnchen-3ya.de": "ada@xn--mnchen-3ya.de",
        "Ada@München.de": "ada@münchen.de",
        # A chain: the first account's key is free only once the second has moved on.
        "b@example.com": "a@example.com",
        "c@example.com": "b@example.com",
    }
    url = await fresh_database(database_url, UPGRADE_DATABASE)
    try:
        await tortoise_migrate(config=db.tortoise_config(url, 1), target=BEFORE_EMAIL_KEYS)
    finally:
        await Tortoise.close_connections()
    conn = await db.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO users (display_name, email, email_key, password_hash, created_at)"
            " VALUES ('x', $1, $2, 'x', now())",
            before.items(),
        )
        await db.migrate(url)
        after = dict(await conn.fetch("SELECT email, email_key FROM users"))
    finally:
        await conn.close()
    assert after == {
        nfd: unicodedata.normalize("NFC", "jürgen@bücher.example"),
        "ada@xn--mnchen-3ya.de": "ada@xn--mnchen-3ya.de",
        "Ada@München.de": "ada@münchen.de",
        "b@example.com": "b@example.com",
        "c@example.com": "c@example.com",
    }
