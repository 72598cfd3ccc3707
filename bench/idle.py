"""--idle N: N authenticated sockets that only sit there, as tabs left open do.

What they cost: time to open them all, memory per socket (app + database, over a baseline
taken after the users were made), and CPU while nothing happens.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from bench.accounts import idle_endpoints
from bench.generator import ARRIVED, ERRORS, IdleOutcome, hold_idle
from bench.pool import generators, split
from bench.report import KIB, IdleResult, idle_table
from bench.server import serving
from bench.usage import CpuWindow, MachineWindow, memory

MAX_SOCKETS = 20_000
MAX_USERS = 1_000
SOCKETS_PER_GENERATOR = 2_500
OPEN_TIMEOUT_SECONDS = 300
SETTLE_SECONDS = 3.0
IDLE_SECONDS = 10.0


def run_idle(sockets: int, workers: int, procs: int | None) -> dict[str, Any]:
    users = min(sockets, MAX_USERS)
    procs = procs or max(1, min(4, math.ceil(sockets / SOCKETS_PER_GENERATOR)))
    with serving("chatin", workers) as served:
        began = time.monotonic()
        accounts = asyncio.run(idle_endpoints(served.url, users))
        print(f"idle: {users} users ready in {time.monotonic() - began:.1f} s", flush=True)
        tabs = [accounts[i % users] for i in range(sockets)]
        jobs = [(served.url, served.origin, share) for share in split(tabs, procs)]
        time.sleep(SETTLE_SECONDS)
        app_before, db_before = memory(served.app_processes), memory(served.db_processes)
        with generators(hold_idle, jobs) as pool:
            pool.wait_ready()
            opening = {
                "app": CpuWindow(served.app_processes),
                "db": CpuWindow(served.db_processes),
                "gen": CpuWindow(pool.psutil_processes),
            }
            machine = MachineWindow()
            for meter in [*opening.values(), machine]:
                meter.start()
            start = pool.go(delay=0.0)
            deadline = start + OPEN_TIMEOUT_SECONDS
            while pool.total(ARRIVED) + pool.total(ERRORS) < sockets:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {pool.total(ARRIVED)} sockets opened in time")
                time.sleep(1.0)
                pool.check_alive()
                opened, failed = pool.total(ARRIVED), pool.total(ERRORS)
                print(
                    f"idle {time.monotonic() - start:5.1f}s  opened {opened:>7,}  failed {failed}",
                    flush=True,
                )
            for meter in [*opening.values(), machine]:
                meter.stop()
            ours = sum(meter.seconds for meter in opening.values())
            others = (machine.seconds - ours) / max(opening["app"].wall, 1e-9)
            time.sleep(SETTLE_SECONDS)
            app_grew = memory(served.app_processes) - app_before
            db_grew = memory(served.db_processes) - db_before
            app_cpu, db_cpu = CpuWindow(served.app_processes), CpuWindow(served.db_processes)
            app_cpu.start()
            db_cpu.start()
            time.sleep(IDLE_SECONDS)
            app_cpu.stop()
            db_cpu.stop()
            pool.stop()
            outcomes: list[IdleOutcome] = pool.results(OPEN_TIMEOUT_SECONDS)
    opened = sum(o.opened for o in outcomes)
    seconds = max(o.finished for o in outcomes) - min(o.began for o in outcomes)
    per_socket = max(opened, 1) * KIB
    result = IdleResult(
        sockets=sockets,
        users=users,
        workers=workers,
        opened=opened,
        failed=sum(o.failed for o in outcomes),
        open_seconds=seconds,
        opens_per_s=opened / seconds if seconds else math.nan,
        app_rss_kib_per_socket=app_grew.rss / per_socket,
        app_pss_kib_per_socket=app_grew.pss / per_socket,
        db_rss_kib_per_socket=db_grew.rss / per_socket,
        db_pss_kib_per_socket=db_grew.pss / per_socket,
        idle_app_cores=app_cpu.cores,
        idle_db_cores=db_cpu.cores,
        idle_seconds=app_cpu.wall,
        opening_cpu_seconds={part: meter.seconds for part, meter in opening.items()},
        opening_other_cores=others,
    )
    print()
    print(idle_table(result))
    return {"idle": result.as_dict()}
