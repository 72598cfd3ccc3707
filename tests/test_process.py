"""The real `python -m chatin`: starts on its embedded PostgreSQL, stops it, survives a kill."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import psutil
import pytest
from bs4 import BeautifulSoup

from tests.server import Server, postgres_processes, running_server


def _csrf(client: httpx.Client, path: str) -> str:
    page = BeautifulSoup(client.get(path).text, "html.parser")
    return str(page.select_one("input[name=csrf_token]")["value"])


def _sign_up(client: httpx.Client) -> None:
    form = {"display_name": "Ada", "email": "ada@example.com", "password": "password1"}
    form["csrf_token"] = _csrf(client, "/signup")
    assert client.post("/signup", data=form).status_code == 303


def test_start_stop_restart_and_recover_from_kill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
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

    # SIGKILL leaves the postmaster and its pid file behind; the next start copes.
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
