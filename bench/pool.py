"""The generator processes of one run: started, told to go, read for progress, joined."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psutil

from bench.generator import ARRIVED, CLOSED, ERRORS, READY, SENT, Control, spawn_context

READY_TIMEOUT_SECONDS = 300
JOIN_TIMEOUT_SECONDS = 30


class Generators:
    def __init__(self, target: Callable[..., None], jobs: Sequence[tuple[Any, ...]]) -> None:
        context = spawn_context()
        self.controls = [Control.make(context) for _ in jobs]
        self.processes = [
            context.Process(target=target, args=(*job, control), daemon=True)
            for job, control in zip(jobs, self.controls, strict=True)
        ]

    def total(self, slot: int) -> int:
        return sum(control.counters[slot] for control in self.controls)

    def check_alive(self) -> None:
        if any(not process.is_alive() for process in self.processes):
            raise RuntimeError("a generator process died; its traceback is above")

    def wait_ready(self) -> None:
        """Every process has its sockets open (and caught up) before the clock starts."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while self.total(READY) < len(self.controls):
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError("generator processes were not ready in time")
            time.sleep(0.05)

    def go(self, delay: float) -> float:
        """Start all processes at one moment on the shared monotonic clock."""
        start_at = time.monotonic() + delay
        for control in self.controls:
            control.start_at.value = start_at
            control.go.set()
        return start_at

    def stop(self) -> None:
        for control in self.controls:
            control.stop.set()

    def results(self, timeout: float) -> list[Any]:
        """Read before joining: a process can't exit while its result sits in the pipe."""
        return [control.results.get(timeout=timeout) for control in self.controls]

    def psutil_processes(self) -> list[psutil.Process]:
        found = []
        for process in self.processes:
            with contextlib.suppress(psutil.Error, ValueError):
                found.append(psutil.Process(process.pid))
        return found

    def progress_line(self, label: str, elapsed: float, per_second: int) -> str:
        return (
            f"{label:>7} {elapsed:5.1f}s  sent {self.total(SENT):>9,}  "
            f"arrived {self.total(ARRIVED):>9,}  last second {per_second:>6,}/s  "
            f"errors {self.total(ERRORS)}  sockets closed {self.total(CLOSED)}"
        )

    def show_progress(self, label: str, started: float, until: float) -> None:
        """One line a second until `until`: the run is visibly alive and bounded."""
        last = self.total(ARRIVED)
        while (now := time.monotonic()) < until:
            time.sleep(min(1.0, until - now))
            arrived = self.total(ARRIVED)
            print(self.progress_line(label, time.monotonic() - started, arrived - last), flush=True)
            last = arrived

    def join(self) -> None:
        for process in self.processes:
            process.join(JOIN_TIMEOUT_SECONDS)
            if process.is_alive():
                process.terminate()
                process.join()


@contextlib.contextmanager
def generators(
    target: Callable[..., None], jobs: Sequence[tuple[Any, ...]]
) -> Iterator[Generators]:
    pool = Generators(target, jobs)
    for process in pool.processes:
        process.start()
    try:
        yield pool
    finally:
        pool.stop()
        pool.join()


def split(items: list[Any], parts: int) -> list[list[Any]]:
    """Round-robin shares, none empty."""
    return [share for share in (items[i::parts] for i in range(parts)) if share]
