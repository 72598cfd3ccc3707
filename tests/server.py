"""Run the real `python -m chatin` process for tests, on 127.0.0.1 and a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "ChatIn serving on http://"
START_TIMEOUT_SECONDS = 60


@contextmanager
def reachable_folder(prefix: str = "chatin-test-") -> Iterator[Path]:
    """A temporary folder for data folders, removed afterwards, that the embedded
    PostgreSQL's system user may pass through (search, not list).

    Run as root, PostgreSQL runs as that user, and ChatIn refuses a data folder it can't
    reach rather than open up the folders above it; pytest's temporary folders and
    `tempfile`'s are private to root (0700).
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        os.chmod(folder, 0o711)
        yield Path(folder)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One `python -m chatin` child; `url` is where it serves once `wait_ready` returns."""

    def __init__(self, data_dir: Path, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        child_env = os.environ | {
            "CHATIN_DATA_DIR": str(data_dir),
            "CHATIN_BCRYPT_ROUNDS": "4",
            "PYTHONUNBUFFERED": "1",
        }
        child_env.pop("DATABASE_URL", None)
        child_env |= env or {}
        command = [sys.executable, "-m", "chatin", "--bind", f"127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=ROOT,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []

    def wait_ready(self) -> None:
        """Read the child's output until the contract's ready line; fail with its log."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith(READY_LINE):
                return
            if time.monotonic() > deadline:
                break
        raise AssertionError("server did not start:\n" + "".join(self.output))

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        if self.process.stdout is not None:
            self.output.append(self.process.stdout.read())
        return code


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """Postmasters whose data folder lies inside data_dir."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and any(str(data_dir) in part for part in cmdline):
            found.append(proc)
    return found


@contextmanager
def running_server(
    data_dir: Path, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Server]:
    server = Server(data_dir, workers, env)
    try:
        server.wait_ready()
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()
