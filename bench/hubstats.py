"""Each ChatIn worker's hub during a run: sockets held, events rendered, the event backlog
and the event loop's lag, read from `GET /internal/stats` (loopback only).

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
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no per-worker stats: the app has no /internal/stats)"
    lines = [
        "| worker pid | sockets | events | events/batch | backlog p50 | backlog p99 | "
        "backlog max | loop lag p99 ms | lag max ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pid']} | {r['sockets']:,} | {r['events']:,} | {r['events_per_batch']:.1f} | "
            f"{r['backlog_p50']:.0f} | {r['backlog_p99']:.0f} | {r['backlog_max']:.0f} | "
            f"{r['lag_p99_ms']:.1f} | {r['lag_max_ms']:.1f} |"
        )
    return "\n".join(lines)
