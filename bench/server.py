"""Start and stop the process under test (ChatIn or the relay) and find its processes.

The benchmark owns every process it starts: each runs in its own session, is stopped with
SIGTERM and waited for, and the embedded PostgreSQL is checked to be gone afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class Served:
    """One started server: where it answers and the process tree behind it."""

    kind: str  # "chatin" or "relay"
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    workers: int
    extra_pids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def origin(self) -> str:
        return self.url

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    def app_processes(self) -> list[psutil.Process]:
        """The launcher and its workers: every descendant that is not PostgreSQL."""
        try:
            root = psutil.Process(self.process.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        return [proc for proc in tree if not _is_postgres(proc)]

    def db_processes(self) -> list[psutil.Process]:
        """The postmaster named in postmaster.pid and its backends; none for the relay."""
        pid = postmaster_pid(self.pgdata)
        if pid is None:
            return []
        try:
            postmaster = psutil.Process(pid)
            return [postmaster, *postmaster.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _is_postgres(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return proc.name().startswith("postgres") or proc.name() == "pg_ctl"
    return False


def postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    try:
        return int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def database_address(pgdata: Path) -> tuple[str, int]:
    """(unix socket directory, port) of the embedded server, as its get_uri() builds them
    from postmaster.pid (lines: pid, pgdata, start time, port, socket dir, ...)."""
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    return lines[4].strip(), int(lines[3])


def _command(kind: str, port: int, workers: int) -> list[str]:
    bind = f"{HOST}:{port}"
    if kind == "chatin":
        return [sys.executable, "-m", "chatin", "--bind", bind, "--workers", str(workers)]
    return [sys.executable, "-m", "bench.relay", "--bind", bind]


def _environment(data_dir: Path) -> dict[str, str]:
    env = os.environ | {
        "CHATIN_DATA_DIR": str(data_dir),
        "CHATIN_RATE_LIMITS": "off",
        "CHATIN_BCRYPT_ROUNDS": "4",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)
    return env


def _wait_healthy(served: Served) -> None:
    """Poll /healthz (the relay has one too) until it answers 200 or the server dies."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{served.url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"{served.kind} did not become ready:\n{served.log_tail()}")


@contextlib.contextmanager
def serving(kind: str, workers: int, root: Path = ROOT) -> Iterator[Served]:
    """Run ChatIn (own data folder, embedded PostgreSQL) or the relay for the block; `root`
    is the source tree it runs from (another checkout, to compare two versions)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{kind}-bench-"))
    port = free_port()
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _command(kind, port, workers),
            cwd=root,
            env=_environment(data_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(kind, process, port, data_dir, log_path, workers)
    try:
        _wait_healthy(served)
        yield served
    finally:
        stop(served)
        shutil.rmtree(data_dir, ignore_errors=True)


def stop(served: Served) -> None:
    """SIGTERM and wait; only if that fails, kill this server's own process group and
    postmaster, so that no process outlives the benchmark."""
    postmaster = postmaster_pid(served.pgdata)
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            print(f"{served.kind} ignored SIGTERM; killing its process group", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(served.process.pid, signal.SIGKILL)
            served.process.wait()
    if postmaster is not None:
        _stop_leftover(postmaster)


def _stop_leftover(pid: int) -> None:
    """The app stops its PostgreSQL itself; give a postmaster that is still exiting a few
    seconds (zombies waiting for init don't count), then stop it."""
    try:
        proc = psutil.Process(pid)
        if not proc.name().startswith("postgres"):
            return
        _, alive = psutil.wait_procs([proc], timeout=5)
        if alive and proc.status() != psutil.STATUS_ZOMBIE:
            print("PostgreSQL outlived the app; stopping it", file=sys.stderr)
            proc.terminate()
            proc.wait(STOP_TIMEOUT_SECONDS)
    except psutil.Error:
        return
