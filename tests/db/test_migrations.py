"""The migrations in migrations/ describe exactly the models: no change left unmigrated."""

from __future__ import annotations

from quart import Quart
from tortoise import Tortoise
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
