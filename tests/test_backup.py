"""`python -m chatin backup` and `restore`: one file that brings back every message, account
and session, made while people chat; refusals that change nothing."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from chatin import db, postgres
from tests.conftest import parse
from tests.operating import (
    Browser,
    chat,
    command,
    connected,
    finish,
    pg_dump_held,
    seed,
    serving,
    start_command,
    stored,
)
from tests.server import postgres_processes, reachable_folder

SEEDED = 2_000
SENT_BEFORE = 5
SENT_DURING = 10
LAST_MIGRATION = "0004_messages_by_author_time"


@dataclass
class Made:
    """A data folder where Alice and Bob chatted, stopped, and a backup made while they did."""

    folder: Path
    backup: Path
    output: str
    before: dict[str, list[dict[str, Any]]]  # what the backup started from
    during: list[int]  # messages stored while pg_dump ran
    cookies: httpx.Cookies
    conversation: int


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # Not under pytest's tmp folder: a pytest run starting meanwhile makes that private
    # again, and the embedded PostgreSQL (its own system user) could no longer reach it.
    with reachable_folder("chatin-ops-") as folder:
        yield folder


@pytest.fixture(scope="module")
async def made(scratch: Path) -> Made:
    folder, backup = scratch / "source", scratch / "backups" / "chat.backup"
    backup.parent.mkdir()
    async with serving(folder) as server:
        alice, bob, conversation = await chat(server)
        try:
            async with connected(folder) as conn:
                author = await conn.fetchval("SELECT id FROM users WHERE email = $1", alice.email)
                await seed(conn, conversation, author, SEEDED)
            for number in range(SENT_BEFORE):
                await (alice if number % 2 else bob).say(conversation, f"before backup {number}")
            async with connected(folder) as conn:
                before = {name: await _rows(conn, name) for name in ("users", "messages")}
            making = await start_command(folder, "backup", str(backup))
            async with connected(folder) as holder, pg_dump_held(holder):
                during = [await alice.say(conversation, f"during {n}") for n in range(SENT_DURING)]
            finished = await finish(making)
        finally:
            await alice.close()
            await bob.close()
    assert finished.code == 0, finished.stderr
    return Made(folder, backup, finished.stdout, before, during, alice.http.cookies, conversation)


async def _rows(conn: Any, name: str) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(f"SELECT * FROM {name} ORDER BY id")]


def _manifest(backup: Path) -> dict[str, Any]:
    with tarfile.open(backup) as tar:
        extracted = tar.extractfile("manifest.json")
        assert extracted is not None
        return json.loads(extracted.read())


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under a folder with its size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def _copy(source: Path, target: Path) -> Path:
    """A stopped data folder copied as it is, owners included (PostgreSQL checks them)."""
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return target


async def test_backup_made_while_people_chat_restores_every_message_account_and_session(
    made: Made, scratch: Path
) -> None:
    assert stat.S_IMODE(made.backup.stat().st_mode) == 0o600
    assert sorted(path.name for path in made.backup.parent.iterdir()) == [made.backup.name]
    messages = len(made.before["messages"])
    assert f"{messages:,} messages" in made.output and "2 accounts" in made.output
    assert "\r" not in made.output  # no progress when not on a terminal
    assert _manifest(made.backup)["counts"]["messages"] == messages

    restored = scratch / "restored"
    finished = await command(restored, "restore", str(made.backup))
    assert finished.code == 0, finished.stderr
    assert f"{messages:,} messages" in finished.stdout
    assert stat.S_IMODE((restored / "secret_key").stat().st_mode) == 0o600

    source = await stored(made.folder)
    again = await stored(restored)
    # Exactly what the backup started from; messages stored while pg_dump ran came too late.
    assert again["messages"] == source["messages"][:messages] == made.before["messages"]
    assert {row["id"] for row in source["messages"][messages:]} == set(made.during)
    assert again["users"] == source["users"] == made.before["users"]
    assert again["auth_sessions"] == source["auth_sessions"]
    conversation = next(row for row in again["conversations"] if row["id"] == made.conversation)
    assert conversation["last_message_id"] == again["messages"][-1]["id"]

    async with serving(restored) as server:
        alice = Browser(server, cookies=made.cookies)
        try:
            page = await alice.http.get(f"/c/{made.conversation}")
        finally:
            await alice.close()
    assert page.status_code == 200  # Alice's old session cookie still logs her in
    shown = [article["id"] for article in parse(page.text).select("article[id^=message-]")]
    assert shown[-1] == f"message-{again['messages'][-1]['id']}"


async def test_restore_refuses_a_folder_that_holds_data(made: Made) -> None:
    before = await stored(made.folder)
    finished = await command(made.folder, "restore", str(made.backup))
    assert finished.code == 1
    assert "already holds data" in finished.stderr and "--force" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert await stored(made.folder) == before


async def test_forced_restore_keeps_the_old_data_until_it_has_succeeded(
    made: Made, scratch: Path
) -> None:
    target = _copy(made.folder, scratch / "forced")
    before = await stored(target)
    wrong = _with_manifest(made.backup, scratch / "wrong.backup", messages=1)
    failed = await command(target, "restore", "--force", str(wrong))
    assert failed.code == 1 and "but the backup" in failed.stderr, failed.stderr
    assert await stored(target) == before

    finished = await command(target, "restore", "--force", str(made.backup))
    assert finished.code == 0, finished.stderr
    assert "replaced" in finished.stdout
    after = await stored(target)
    assert after["messages"] == made.before["messages"] != before["messages"]


def _with_manifest(backup: Path, copy: Path, messages: int) -> Path:
    """The same backup whose manifest claims another message count."""
    manifest = _manifest(backup)
    manifest["counts"]["messages"] = messages
    with tarfile.open(backup) as source, tarfile.open(copy, "w", format=tarfile.GNU_FORMAT) as out:
        for member in source.getmembers():
            data = source.extractfile(member)
            if member.name == "manifest.json":
                text = json.dumps(manifest).encode()
                member.size = len(text)
                out.addfile(member, io.BytesIO(text))
            else:
                out.addfile(member, data)
    return copy


async def test_truncated_damaged_or_foreign_file_is_refused_and_changes_nothing(
    made: Made, scratch: Path
) -> None:
    data = made.backup.read_bytes()
    flip = data.index(b"PGDMP") + 2000  # a byte inside the dump
    bad = {
        "truncated": (data[: len(data) // 2], "is not a ChatIn backup, or it is truncated"),
        "cut short": (data[:-2048], "is not a ChatIn backup, or it is truncated"),
        "damaged": (
            data[:flip] + bytes([data[flip] ^ 1]) + data[flip + 1 :],
            "is damaged: its database dump fails its checksum",
        ),
        "foreign": (b"just some text\n" * 100, "is not a ChatIn backup"),
    }
    before = _tree(made.folder)
    attempts = []
    for name, (content, _) in bad.items():
        path = scratch / f"{name}.backup"
        path.write_bytes(content)
        attempts.append(command(made.folder, "restore", "--force", str(path)))
    attempts.append(command(scratch / "never-made", "restore", str(scratch / "truncated.backup")))
    *refusals, into_nothing = await asyncio.gather(*attempts)
    for (name, (_, explanation)), finished in zip(bad.items(), refusals, strict=True):
        assert finished.code == 1, name
        assert f"{scratch / name}.backup {explanation}" in finished.stderr, finished.stderr
        assert "Traceback" not in finished.stderr
    assert into_nothing.code == 1
    assert _tree(made.folder) == before
    assert not (scratch / "never-made").exists()


async def test_ctrl_c_during_a_backup_leaves_no_file(made: Made, scratch: Path) -> None:
    folder = scratch / "interrupted"
    folder.mkdir()
    async with postgres.embedded_async(made.folder), connected(made.folder) as holder:
        making = await start_command(made.folder, "backup", str(folder / "chat.backup"))
        async with pg_dump_held(holder):
            dumping = [
                child
                for child in psutil.Process(making.pid).children(recursive=True)
                if child.name() == "pg_dump"
            ]
            assert list(folder.iterdir()) != []  # the partial file, being written
            making.send_signal(signal.SIGINT)
            finished = await finish(making)
    assert finished.code == 130 and "no backup file was written" in finished.stderr
    assert list(folder.iterdir()) == []
    assert dumping and not any(child.is_running() for child in dumping)


async def test_backup_of_a_stopped_app_is_migrated_when_restored(made: Made, scratch: Path) -> None:
    old = _copy(made.folder, scratch / "old")
    async with postgres.embedded_async(old), connected(old) as conn:
        await conn.execute(f"DROP INDEX {await _author_time_index(conn)}")
        await conn.execute(f"DELETE FROM {db.MIGRATIONS_TABLE} WHERE name = $1", LAST_MIGRATION)
    backup = scratch / "old.backup"
    made_old = await command(old, "backup", str(backup))
    assert made_old.code == 0, made_old.stderr
    assert postgres_processes(old) == []  # the backup started its server and stopped it
    assert LAST_MIGRATION not in _manifest(backup)["migrations"]

    restored = scratch / "restored-old"
    finished = await command(restored, "restore", str(backup))
    assert finished.code == 0, finished.stderr
    assert f"migrated: {LAST_MIGRATION}" in finished.stdout
    async with postgres.embedded_async(restored), connected(restored) as conn:
        applied = await conn.fetchval(
            f"SELECT array_agg(name ORDER BY id) FROM {db.MIGRATIONS_TABLE}"
        )
        index = await _author_time_index(conn)
    assert applied[-1] == LAST_MIGRATION
    assert index is not None


async def _author_time_index(conn: Any) -> str | None:
    """The index migration 0004 makes: messages by author and time."""
    return await conn.fetchval(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'messages' "
        "AND indexdef LIKE '%(author_id, created_at)%'"
    )
