"""The load benchmark of issue 9: ChatIn against a same-run relay, closed loop.

    python -m bench.load --pairs 100 --seconds 15 --workers 2 [--json FILE] [--idle N]
    python -m bench.load --pairs 100 --seconds 15 --workers 2 --reactions
    python -m bench.load --pairs 100 --seconds 15 --workers 2 --per-pair | --both-shapes
    python -m bench.load --groups 20 --members 10 --seconds 15 [--workers 2]

Each target (ChatIn, then the relay) is started here on 127.0.0.1 and a free port, loaded
for --seconds after a short warm-up, and stopped. --idle N measures idle sockets instead.
--reactions: every message that reaches its recipient also gets a reaction from them (ChatIn
only; the relay has none), and reactions/s and their latency to the author's socket are
reported beside messages/s.
--groups N measures group conversations instead (bench.groups): ChatIn alone, in delivered
frames (one per message and recipient), so "msg/s" and "app ms/msg" count frames.
--per-pair: one message in the air per pair (one sender loop per pair, alternating
direction), the shape of issue 19's outside generator; the default is one per user.
--both-shapes: each target is loaded twice, per user and then per pair, on the same server.
After the table: each message's latency split into stored (send -> POST answered) and
pushed (answer -> the recipient's socket), per worker, and what PostgreSQL was waiting on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import time
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from bench import dbprobe, hubstats, idle, tail
from bench.accounts import chatin_pairs, relay_pairs
from bench.generator import (
    ARRIVAL_TIMEOUT_SECONDS,
    SETTLE_SECONDS,
    Outcome,
    Reacted,
    drive_pairs,
)
from bench.groups import chatin_groups, drive_groups
from bench.pool import generators, split
from bench.report import (
    LoadResult,
    Window,
    delivery,
    load_notes,
    load_table,
    percentile,
    same_run_ratios,
    storage_faults,
)
from bench.server import Served, serving
from bench.usage import CpuWindow, MachineWindow
from bench.verify import stored_copies

WARMUP_SECONDS = 1.0
PAIRS_PER_GENERATOR = 50
MAX_PAIRS = 5_000
MAX_SECONDS = 600


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--pairs", type=int, default=10, help="pairs of users chatting")
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per target")
    parser.add_argument("--workers", type=int, default=1, help="ChatIn worker processes")
    parser.add_argument("--generators", type=int, help="generator processes (default: auto)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--idle", type=int, help="measure N idle sockets instead of load")
    parser.add_argument(
        "--reactions", action="store_true", help="each recipient reacts to each message"
    )
    parser.add_argument("--groups", type=int, help="measure N group conversations instead")
    parser.add_argument("--members", type=int, default=10, help="members per group")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument(
        "--per-pair", action="store_true", help="one message in the air per pair (issue 19)"
    )
    shape.add_argument(
        "--both-shapes", action="store_true", help="per user, then per pair, on each server"
    )
    args = parser.parse_args(argv)
    if args.groups is not None and not (args.groups >= 1 and 2 <= args.members <= 50):
        parser.error("--groups must be at least 1 and --members 2..50")
    if not 1 <= args.pairs <= MAX_PAIRS or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--pairs must be 1..{MAX_PAIRS} and --seconds 0..{MAX_SECONDS}")
    if args.idle is not None and not 1 <= args.idle <= idle.MAX_SOCKETS:
        parser.error(f"--idle must be 1..{idle.MAX_SOCKETS}")
    return args


def default_generators(pairs: int) -> int:
    """One process per PAIRS_PER_GENERATOR pairs, at most one per core: httpx and the
    socket reads cost the generator about as much CPU per message as the relay."""
    return max(1, min(os.cpu_count() or 1, math.ceil(pairs / PAIRS_PER_GENERATOR)))


async def _setup(served: Served, pairs: int) -> list[Any]:
    if served.kind == "chatin":
        return await chatin_pairs(served.url, pairs)
    return relay_pairs(pairs)


def run_target(
    kind: str,
    pairs: int,
    seconds: float,
    workers: int,
    procs: int,
    reacting: bool = False,
    shapes: tuple[bool, ...] = (False,),
) -> list[LoadResult]:
    """Start the target, make its users, load it once per shape (per_pair or not), verify,
    stop it."""
    results = []
    with serving(kind, workers) as served:
        began = time.monotonic()
        endpoints = asyncio.run(_setup(served, pairs))
        print(f"{kind}: {2 * pairs} users ready in {time.monotonic() - began:.1f} s", flush=True)
        for per_pair in shapes:
            result, _ = load_served(
                served, endpoints, seconds, procs, reacting=reacting, per_pair=per_pair
            )
            results.append(result)
    return results


def load_served(
    served: Served,
    endpoints: list[Any],
    seconds: float,
    procs: int,
    label: str | None = None,
    beside: contextlib.AbstractContextManager[object] | None = None,
    reacting: bool = False,
    drive: Any = drive_pairs,
    per_pair: bool = False,
) -> tuple[LoadResult, Window]:
    """The closed loop on a target already serving these users: warm-up, the measured
    window, verification. `beside` runs from the warm-up to the window's end (bench.backup
    runs backups there); `drive` is the generator processes' entry (pairs or groups)."""
    kind, workers = served.kind, served.workers
    duration = WARMUP_SECONDS + seconds
    shares = split(endpoints, procs)
    extra = (reacting, per_pair) if drive is drive_pairs else ()  # only pairs
    jobs = [(served.url, served.origin, share, duration, *extra) for share in shares]
    with generators(drive, jobs) as pool:
        pool.wait_ready()
        start_at = pool.go(delay=0.5)
        window = Window(start_at + WARMUP_SECONDS, start_at + duration)
        meters = {
            "app": CpuWindow(served.app_processes),
            "db": CpuWindow(served.db_processes),
            "gen": CpuWindow(pool.psutil_processes),
        }
        busiest = [CpuWindow(lambda p=p: [p]) for p in pool.psutil_processes()]
        machine = MachineWindow()
        probe = dbprobe.DatabaseProbe(served.pgdata) if kind == "chatin" else None
        with beside or contextlib.nullcontext():
            time.sleep(max(0.0, window.start - time.monotonic()))
            for meter in [*meters.values(), *busiest, machine]:
                meter.start()
            hub_start = _hub_stats(served, workers, samples=False)
            ports = tail.worker_ports(served)
            if probe is not None:
                probe.start()
            pool.show_progress(label or kind, start_at, window.end)
            for meter in [*meters.values(), *busiest, machine]:
                meter.stop()
            ports |= tail.worker_ports(served)
        hub_end = _hub_stats(served, workers, samples=True)
        if probe is not None:
            probe.stop()
        timeout = ARRIVAL_TIMEOUT_SECONDS + SETTLE_SECONDS + 30
        everything = [o for share in pool.results(timeout) for o in share]
    outcomes: list[Outcome] = [o for o in everything if isinstance(o, Outcome)]
    reactions: list[Reacted] = [o for o in everything if isinstance(o, Reacted)]
    copies = (
        asyncio.run(stored_copies(served.pgdata, [o.client_id for o in outcomes]))
        if kind == "chatin"
        else None
    )
    ours = sum(meter.seconds for meter in meters.values())
    others = (machine.seconds - ours) / (window.end - window.start)
    pairs = len(endpoints)
    result = summarize(kind, pairs, workers, len(jobs), window, outcomes, copies, meters, busiest)
    result.other_cores = others
    result.hub = hubstats.per_worker(hub_start, hub_end)
    result.shape = "pair" if per_pair else "user"
    result.tail = tail.split(outcomes, window, ports)
    result.db = probe.figures() if probe is not None else None
    if label is not None:
        result.target = label
    if reacting:
        result.reactions_per_s, result.reaction_p99_ms = reaction_figures(reactions, window)
    return result, window


def reaction_figures(reactions: list[Reacted], window: Window) -> tuple[float, float]:
    """Reactions that reached their author's socket within the window, per second, and
    the p99 of their latency from the recipient's POST (a lost one counts as infinite)."""
    inside = [r for r in reactions if r.sent_at in window]
    latencies = sorted(
        (r.arrived_at - r.sent_at) * 1000 if r.arrived_at is not None else math.inf for r in inside
    )
    arrived = sum(1 for r in reactions if r.arrived_at in window)
    return arrived / (window.end - window.start), percentile(latencies, 0.99)


def _hub_stats(served: Served, workers: int, samples: bool) -> dict[int, Any]:
    """Each ChatIn worker's hub counters (and samples); none for the relay."""
    return hubstats.read_all(served.url, workers, samples) if served.kind == "chatin" else {}


def summarize(
    kind: str,
    pairs: int,
    workers: int,
    procs: int,
    window: Window,
    outcomes: list[Outcome],
    copies: Any,
    meters: dict[str, CpuWindow],
    busiest: list[CpuWindow],
) -> LoadResult:
    seen = delivery(outcomes, window)
    not_stored, twice = storage_faults(outcomes, copies) if copies is not None else (None, None)
    delivered = seen.delivered_per_s * (window.end - window.start)
    latencies = seen.latencies_ms
    return LoadResult(
        target=kind,
        pairs=pairs,
        workers=workers if kind == "chatin" else 1,
        generators=procs,
        seconds=window.end - window.start,
        sent=seen.sent,
        failed_sends=seen.failed_sends,
        delivered_per_s=seen.delivered_per_s,
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else math.nan,
        lost=seen.lost,
        duplicated=seen.duplicated,
        not_stored=not_stored,
        stored_twice=twice,
        app_cores=meters["app"].cores,
        db_cores=meters["db"].cores,
        gen_cores=meters["gen"].cores,
        gen_busiest_core=max((meter.cores for meter in busiest), default=0.0),
        app_cpu_ms_per_msg=meters["app"].seconds * 1000 / delivered if delivered else math.nan,
        other_cores=0.0,
    )


def run_load(args: argparse.Namespace) -> dict[str, Any]:
    procs = args.generators or default_generators(args.pairs)
    shapes = (False, True) if args.both_shapes else (args.per_pair,)
    apps = run_target(
        "chatin", args.pairs, args.seconds, args.workers, procs, args.reactions, shapes
    )
    relays = run_target("relay", args.pairs, args.seconds, 1, procs, shapes=shapes)
    for app, relay in zip(apps, relays, strict=True):
        app.ratio_to_relay = app.delivered_per_s / relay.delivered_per_s
        app.p99_ratio_to_relay = app.p99_ms / relay.p99_ms
    print()
    print(load_table([*apps, *relays]))
    print(load_notes([*apps, *relays]))
    for app, relay in zip(apps, relays, strict=True):
        print(same_run_ratios(app, relay))
        if args.reactions:
            print(
                f"reactions: {app.reactions_per_s:,.0f}/s beside {app.delivered_per_s:,.0f} "
                f"msg/s, p99 {app.reaction_p99_ms:,.1f} ms from the recipient's POST to the "
                "author's socket"
            )
    for app in apps:
        _explain(app, args.workers)
    for relay in relays:
        print(f"\nrelay, one message in the air per {relay.shape}: where the latency went")
        print(tail.table(relay.tail or {}))
    return {"results": [r.as_dict() for r in [*apps, *relays]]}


def _explain(app: LoadResult, workers: int) -> None:
    """Per worker: the hubs, where each message's latency went, what PostgreSQL waited on."""
    print(f"\nChatIn, one message in the air per {app.shape}:")
    print(f"ChatIn's hubs during the window (heard {len(app.hub or [])} of {workers}):")
    print(hubstats.table(app.hub or []))
    print("\nWhere the latency went (stored: send -> POST answered; pushed: -> recipient):")
    print(tail.table(app.tail or {}))
    if app.db is not None:
        print(dbprobe.summary(app.db))


def run_groups(args: argparse.Namespace) -> dict[str, Any]:
    """ChatIn with groups x members users, each on their group's page; no relay (it knows
    only pairs). One row: frames per second, latency, lost and repeated frames."""
    procs = args.generators or default_generators(args.groups * args.members // 2)
    with serving("chatin", args.workers) as served:
        began = time.monotonic()
        groups = asyncio.run(chatin_groups(served.url, args.groups, args.members))
        users = args.groups * args.members
        print(f"chatin: {users} users in groups ready in {time.monotonic() - began:.1f} s")
        label = f"groups {args.groups}x{args.members}"
        result, _ = load_served(served, groups, args.seconds, procs, label, drive=drive_groups)
    print()
    print(load_table([result]))
    print(load_notes([result]))
    print(f"\nChatIn's hubs during the window (heard {len(result.hub or [])} of {args.workers}):")
    print(hubstats.table(result.hub or []))
    return {"results": [result.as_dict()]}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the servers and generators started here are stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse_args(argv)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    if args.idle is not None:
        figures = idle.run_idle(args.idle, args.workers, args.generators)
    elif args.groups is not None:
        figures = run_groups(args)
    else:
        figures = run_load(args)
    if args.json:
        command = "python -m bench.load " + " ".join(sys.argv[1:] if argv is None else argv)
        record = {"command": command, "date": started, **figures}
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
