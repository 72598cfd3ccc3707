"""Hypercorn's worker processes, each accepting on a listening socket of its own.

`hypercorn.run.run` hands every worker the one socket its parent bound, so whichever worker
wakes first accepts the connection: two workers held 55 and 145 of 200 connections in
benchmark runs, and the crowded one stored messages two to three times slower (bench/RESULTS.md,
issue 19). Here each worker gets a socket of its own, bound to the same address with
SO_REUSEPORT (Hypercorn sets it when there are several workers), and the kernel spreads new
connections evenly across them. The workers are Hypercorn's own (`uvloop_worker`,
`asyncio_worker`), stopped the way `run` stops them: one shutdown event they all watch.
"""

from __future__ import annotations

import signal
import socket
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from types import FrameType

from hypercorn.asyncio.run import asyncio_worker, uvloop_worker
from hypercorn.config import Config, Sockets
from hypercorn.run import run

WORKERS = {"uvloop": uvloop_worker, "asyncio": asyncio_worker}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_workers(config: Config) -> int:
    """Run config.workers workers until SIGINT or SIGTERM, or until one of them exits (then
    the others are stopped too, and the exit code is the first non-zero one)."""
    if config.workers == 1 or config.ssl_enabled or config.worker_class not in WORKERS:
        return run(config)
    first = config.create_sockets()
    config.bind = [_address(sock) for sock in first.insecure_sockets]  # a port 0, now chosen
    sockets = [first, *(config.create_sockets() for _ in range(config.workers - 1))]
    context = get_context("spawn")
    shutdown = context.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        shutdown.set()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in `run`: the workers inherit it
    processes: list[BaseProcess] = []
    try:
        for own in sockets:
            processes.append(_start(context, config, own, shutdown))
        for number in STOP_SIGNALS:
            signal.signal(number, stop)
        wait([process.sentinel for process in processes])
        shutdown.set()
        for process in processes:
            process.join()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
        for own in sockets:
            for sock in own.insecure_sockets:
                sock.close()
    return next((code for process in processes if (code := process.exitcode or 0)), 0)


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{host}:{port}"


def _start(context: SpawnContext, config: Config, sockets: Sockets, shutdown: Event) -> BaseProcess:
    process = context.Process(
        target=WORKERS[config.worker_class],
        kwargs={"config": config, "sockets": sockets, "shutdown_event": shutdown},
    )
    process.daemon = config.daemon
    process.start()
    return process
