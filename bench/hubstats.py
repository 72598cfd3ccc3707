"""Each ChatIn worker's hub during a run: sockets held, events rendered, the event backlog,
the event loop's lag, its database pool (idle connections, tasks waiting for one) and its
garbage collector's pauses, read from `GET /internal/stats` (loopback only).

Several workers share one listening port, so a request reaches whichever worker accepts
it: every reading opens fresh connections (urllib keeps none alive) until it has heard
from --workers different pids, or gives up after MAX_TRIES. The stats are cumulative
(counters, numbered samples), so a reading at the window's start and one at its end
bracket the window without resetting anything in the app.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any

from bench.report import percentile

MAX_TRIES = 200
TIMEOUT_SECONDS = 5
NO_SAMPLES = 2**62  # a sample number never reached: the counters only


def read_all(url: str, workers: int, samples: bool) -> dict[int, Any]:
    """pid -> that worker's stats, with every sample it keeps or none; {} if the app has
    no such endpoint (an older tree)."""
    address = f"{url}/internal/stats" + ("" if samples else f"?since={NO_SAMPLES}")
    heard: dict[int, Any] = {}
    for _ in range(MAX_TRIES):
        try:
            with urllib.request.urlopen(address, timeout=TIMEOUT_SECONDS) as answer:
                stats = json.load(answer)
        except urllib.error.HTTPError:
            return {}
        heard.setdefault(stats["pid"], stats)
        if len(heard) >= workers:
            break
    return heard


def per_worker(start: dict[int, Any], end: dict[int, Any]) -> list[dict[str, Any]]:
    """What each worker did between the two readings."""
    rows = []
    for pid, last in sorted(end.items()):
        first = start.get(pid)
        if first is None:
            continue
        taken = last["taken"] - first["taken"]  # the samples of the window: the newest
        backlog = sorted(last["backlog"][-taken:] if taken else [])
        lag = sorted(last["lag_ms"][-taken:] if taken else [])
        waiting = sorted(last.get("pool_waiting", [])[-taken:] if taken else [])
        idle = sorted(last.get("pool_idle", [])[-taken:] if taken else [])
        gc_ms = sorted(last.get("gc_ms", [])[-taken:] if taken else [])
        events = last["events"] - first["events"]
        batches = last["batches"] - first["batches"]
        rows.append(
            {
                "pid": pid,
                "sockets": last["sockets"],
                "events": events,
                "batches": batches,
                "events_per_batch": events / batches if batches else math.nan,
                "batched_runs": last.get("batched_runs", 0) - first.get("batched_runs", 0),
                "samples": len(backlog),
                "backlog_p50": percentile(backlog, 0.50),
                "backlog_p99": percentile(backlog, 0.99),
                "backlog_max": backlog[-1] if backlog else math.nan,
                "lag_p99_ms": percentile(lag, 0.99),
                "lag_max_ms": lag[-1] if lag else math.nan,
                "pool_idle_p50": percentile(idle, 0.50),
                "pool_idle_zero_share": _share(idle, lambda n: n == 0),
                "pool_waiting_p50": percentile(waiting, 0.50),
                "pool_waiting_p99": percentile(waiting, 0.99),
                "pool_waiting_max": waiting[-1] if waiting else math.nan,
                "gc_collections": last.get("gc_collections", 0) - first.get("gc_collections", 0),
                "gc_pause_ms": last.get("gc_pause_ms", 0) - first.get("gc_pause_ms", 0),
                "gc_max_ms": gc_ms[-1] if gc_ms else math.nan,
            }
        )
    return rows


def _share(values: list[float], test: Any) -> float:
    return sum(1 for value in values if test(value)) / len(values) if values else math.nan


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no per-worker stats: the app has no /internal/stats)"
    lines = [
        "| worker pid | sockets | events | events/batch | backlog p50 | backlog p99 | "
        "backlog max | loop lag p99 ms | lag max ms | pool idle p50 | pool empty | "
        "pool waiting p50 / p99 / max | GCs | GC ms | GC max ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pid']} | {r['sockets']:,} | {r['events']:,} | {r['events_per_batch']:.1f} | "
            f"{r['backlog_p50']:.0f} | {r['backlog_p99']:.0f} | {r['backlog_max']:.0f} | "
            f"{r['lag_p99_ms']:.1f} | {r['lag_max_ms']:.1f} | "
            f"{r.get('pool_idle_p50', math.nan):.0f} | "
            f"{100 * r.get('pool_idle_zero_share', math.nan):.0f} % | "
            f"{r.get('pool_waiting_p50', math.nan):.0f} / {r.get('pool_waiting_p99', math.nan):.0f}"
            f" / {r.get('pool_waiting_max', math.nan):.0f} | {r.get('gc_collections', 0):,} | "
            f"{r.get('gc_pause_ms', 0):.0f} | {r.get('gc_max_ms', math.nan):.1f} |"
        )
    return "\n".join(lines)
