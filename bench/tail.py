"""Where each message's latency went (issue 19): split at the moment its POST was answered.

- stored: send -> POST answered (the request's queue, the pool, the statement, the commit);
- pushed: POST answered -> arrival at the recipient's socket (NOTIFY, the hub, the send).
  It is negative when the push beat the answer.

Which worker served what is read from outside the app: the generator records the local
port of each POST's connection and of each recipient's socket, and `worker_ports` asks
the kernel (psutil) which worker process holds the other end of each, while they are open.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import psutil

from bench.generator import Outcome
from bench.report import Window, percentile
from bench.server import Served

ALL = "all"
SLOW_FRACTION = 0.01  # the slowest 1 %: the messages that make p99


def worker_ports(served: Served) -> dict[int, int]:
    """The generator's local port of every open connection to the app -> its worker pid."""
    held: dict[int, int] = {}
    for proc in served.app_processes():
        try:
            connections = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        for conn in connections:
            if conn.laddr and conn.laddr.port == served.port and conn.raddr:
                held[conn.raddr.port] = proc.pid
    return held


def _names(pids: set[int]) -> dict[int, str]:
    """Workers numbered in pid order, as bench.hubstats lists them."""
    return {pid: f"worker {n}" for n, pid in enumerate(sorted(pids), start=1)}


def _figures(ordered: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(ordered, 0.50),
        "p95": percentile(ordered, 0.95),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else math.nan,
    }


def _stages(outcomes: list[Outcome]) -> dict[str, Any]:
    stored = sorted((o.answered_at - o.sent_at) * 1000 for o in outcomes)  # type: ignore[operator]
    pushed = sorted((o.arrived_at - o.answered_at) * 1000 for o in outcomes)  # type: ignore[operator]
    total = sorted((o.arrived_at - o.sent_at) * 1000 for o in outcomes)  # type: ignore[operator]
    return {
        "messages": len(outcomes),
        "stored": _figures(stored),
        "pushed": _figures(pushed),
        "total": _figures(total),
    }


def _slowest(outcomes: list[Outcome], window: Window) -> dict[str, Any]:
    """The slowest 1 %: how their time splits, and when in the window they were sent (a
    stall makes them bunch in a few seconds; a steady queue spreads them)."""
    ranked = sorted(outcomes, key=lambda o: o.arrived_at - o.sent_at)  # type: ignore[operator]
    slow = ranked[len(ranked) - max(1, math.ceil(SLOW_FRACTION * len(ranked))) :] if ranked else []
    stored = [(o.answered_at - o.sent_at) * 1000 for o in slow]  # type: ignore[operator]
    pushed = [(o.arrived_at - o.answered_at) * 1000 for o in slow]  # type: ignore[operator]
    seconds = Counter(int(o.sent_at - window.start) for o in slow)
    length = math.ceil(window.end - window.start)
    return {
        "messages": len(slow),
        "stored_mean_ms": sum(stored) / len(slow) if slow else math.nan,
        "pushed_mean_ms": sum(pushed) / len(slow) if slow else math.nan,
        "mostly_stored": sum(1 for s, p in zip(stored, pushed, strict=True) if s >= p),
        "by_second": [seconds.get(second, 0) for second in range(length)],
    }


def split(outcomes: list[Outcome], window: Window, ports: dict[int, int]) -> dict[str, Any]:
    """Stored / pushed / total latency of the window's messages: all, per worker that
    answered the POST, per worker that held the recipient's socket; and the spread of
    sockets and POST connections over the workers."""
    done = [
        o
        for o in outcomes
        if 200 <= o.status < 300
        and o.sent_at in window
        and o.arrived_at is not None
        and o.answered_at is not None
    ]
    names = _names(set(ports.values()))
    name = {port: names[pid] for port, pid in ports.items()}
    groups: dict[str, list[Outcome]] = {ALL: done}
    for o in done:
        groups.setdefault(f"POST on {name.get(o.post_port, '?')}", []).append(o)
    for o in done:
        groups.setdefault(f"socket on {name.get(o.recipient_port, '?')}", []).append(o)
    sockets = {o.recipient_port for o in outcomes if o.recipient_port}
    posts = {o.post_port for o in outcomes if o.post_port}
    return {
        "rows": {label: _stages(members) for label, members in groups.items()},
        "slowest": _slowest(done, window),
        "spread": {
            worker: {
                "sockets": sum(1 for port in sockets if name.get(port) == worker),
                "post_connections": sum(1 for port in posts if name.get(port) == worker),
            }
            for worker in sorted(names.values())
        },
    }


def table(figures: dict[str, Any]) -> str:
    """The split as a Markdown table, then the spread and the slowest 1 %."""
    lines = [
        "| messages | n | stored p50 / p95 / p99 / max ms | pushed p50 / p95 / p99 / max ms "
        "| total p50 / p99 / max ms |",
        "|---|---|---|---|---|",
    ]
    for label, row in figures["rows"].items():
        stored, pushed, total = row["stored"], row["pushed"], row["total"]
        lines.append(
            f"| {label} | {row['messages']:,} | "
            + " / ".join(f"{stored[k]:,.0f}" for k in ("p50", "p95", "p99", "max"))
            + " | "
            + " / ".join(f"{pushed[k]:,.0f}" for k in ("p50", "p95", "p99", "max"))
            + " | "
            + " / ".join(f"{total[k]:,.0f}" for k in ("p50", "p99", "max"))
            + " |"
        )
    spread = ", ".join(
        f"{worker}: {s['sockets']} sockets, {s['post_connections']} POST connections"
        for worker, s in figures["spread"].items()
    )
    slow = figures["slowest"]
    lines += [
        "",
        f"spread over workers: {spread or 'not known'}",
        f"slowest 1 % ({slow['messages']} messages): mean stored {slow['stored_mean_ms']:,.0f} ms,"
        f" mean pushed {slow['pushed_mean_ms']:,.0f} ms; {slow['mostly_stored']} of them spent"
        f" longer being stored than pushed; sent per second of the window: {slow['by_second']}",
    ]
    return "\n".join(lines)
