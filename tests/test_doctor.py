"""`python -m chatin doctor`: all OK on a healthy two-worker app; a failing line (and exit 1)
for a missing migration, a worker that does not answer, a PostgreSQL left without its app,
and a stopped database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest

from chatin import db
from chatin.ops.postgres import postmaster_pid
from tests.operating import Finished, command, connected, serving
from tests.server import Server, postgres_processes, reachable_folder

CHECKS = ["database", "migrations", "workers", "secret key", "free space", "leftover postgres"]


def lines(finished: Finished) -> dict[str, str]:
    """Each check's line by its name, as `OK`, `FAIL` or `--` and the detail."""
    found = {}
    for line in finished.stdout.splitlines():
        mark, _, rest = line.partition(" ")
        name, _, detail = rest.strip().partition(": ")
        found[name] = f"{mark} {detail}"
    assert list(found) == CHECKS, finished.stdout + finished.stderr
    return found


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # Not under pytest's tmp folder: a pytest run starting meanwhile makes that private
    # again, and the embedded PostgreSQL (its own system user) could no longer reach it.
    with reachable_folder("chatin-doctor-") as folder:
        yield folder


@pytest.fixture(scope="module")
async def server(scratch: Path) -> AsyncIterator[Server]:
    """A two-worker app; the module's last test kills it (a start costs seconds)."""
    async with serving(scratch / "app", workers=2) as started:
        yield started


async def test_doctor_finds_all_ok_on_a_healthy_two_worker_app(server: Server) -> None:
    finished = await command(server.data_dir, "doctor")
    assert finished.code == 0, finished.stdout
    found = lines(finished)
    assert all(line.startswith("OK ") for line in found.values()), finished.stdout
    assert "2 of 2 answered a NOTIFY round trip" in found["workers"]
    assert "PostgreSQL 18" in found["database"]


async def test_doctor_reports_a_missing_migration(server: Server) -> None:
    async with connected(server.data_dir) as conn:
        last = await conn.fetchrow(
            f"DELETE FROM {db.MIGRATIONS_TABLE} WHERE id = (SELECT max(id) FROM "
            f"{db.MIGRATIONS_TABLE}) RETURNING *"
        )
        try:
            finished = await command(server.data_dir, "doctor")
        finally:
            await conn.execute(
                f"INSERT INTO {db.MIGRATIONS_TABLE} (id, app, name, applied_at) "
                "VALUES ($1, $2, $3, $4)",
                *last.values(),
            )
    assert finished.code == 1
    found = lines(finished)
    assert found["migrations"] == (
        f"FAIL not applied: {last['name']}: start ChatIn, which migrates on start"
    )
    assert found["database"].startswith("OK ")


async def test_doctor_reports_a_worker_that_does_not_answer(server: Server) -> None:
    workers = [
        child
        for child in psutil.Process(server.process.pid).children()
        if "spawn_main" in " ".join(child.cmdline())  # not multiprocessing's resource tracker
    ]
    assert len(workers) == 2
    workers[0].suspend()
    try:
        finished = await command(server.data_dir, "doctor")
    finally:
        workers[0].resume()
    assert finished.code == 1
    found = lines(finished)
    assert found["workers"].startswith("FAIL 1 of 2 answered a NOTIFY round trip"), found
    assert f":{workers[0].pid}" in found["workers"]
    assert f":{workers[1].pid}" not in found["workers"]


async def test_doctor_reports_a_postgres_left_without_its_app_then_a_stopped_database(
    server: Server,
) -> None:
    folder = server.data_dir
    # Launcher, workers and the watchdog killed at once, so nothing stops the postmaster.
    launcher = psutil.Process(server.process.pid)
    tree = [launcher, *launcher.children(recursive=True)]
    for process in tree:
        process.suspend()
    for process in tree:
        process.kill()
    server.process.wait(10)
    psutil.wait_procs(tree, timeout=10)
    leftover = postmaster_pid(folder)
    assert leftover is not None

    finished = await command(folder, "doctor")
    assert finished.code == 1
    found = lines(finished)
    assert found["leftover postgres"].startswith(f"FAIL PostgreSQL {leftover} runs for {folder}")
    assert found["database"].startswith("OK ")
    assert found["workers"].startswith("FAIL no worker listens")

    psutil.Process(leftover).terminate()
    psutil.wait_procs(postgres_processes(folder), timeout=10)
    finished = await command(folder, "doctor")
    assert finished.code == 1
    found = lines(finished)
    assert found["database"].startswith("FAIL the embedded PostgreSQL of"), found
    assert found["migrations"] == "-- not checked: no database"
    assert found["leftover postgres"] == "OK none"
