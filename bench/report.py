"""Turn generator outcomes into the issue's figures, and print them as tables."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass

from bench.generator import Outcome

KIB = 1024


@dataclass
class LoadResult:
    """One target's run: the columns of issue 9's table, plus what explains them."""

    target: str
    pairs: int
    workers: int
    generators: int
    seconds: float
    sent: int
    failed_sends: int
    delivered_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    lost: int
    duplicated: int
    not_stored: int | None
    stored_twice: int | None
    app_cores: float
    db_cores: float
    gen_cores: float
    gen_busiest_core: float
    app_cpu_ms_per_msg: float
    other_cores: float
    ratio_to_relay: float | None = None
    p99_ratio_to_relay: float | None = None
    shape: str = "user"  # one message in the air per "user" or per "pair"
    tail: dict[str, object] | None = None  # stored / pushed split (bench.tail)
    db: dict[str, object] | None = None  # what PostgreSQL waited on (bench.dbprobe)
    hub: list[dict[str, object]] | None = None  # per ChatIn worker (bench.hubstats)
    reactions_per_s: float | None = None  # --reactions only
    reaction_p99_ms: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class IdleResult:
    sockets: int
    users: int
    workers: int
    opened: int
    failed: int
    open_seconds: float
    opens_per_s: float
    app_rss_kib_per_socket: float
    app_pss_kib_per_socket: float
    db_rss_kib_per_socket: float
    db_pss_kib_per_socket: float
    idle_app_cores: float
    idle_db_cores: float
    idle_seconds: float
    opening_cpu_seconds: dict[str, float]  # app, db, gen: CPU spent while the sockets opened
    opening_other_cores: float | None = None  # everything else on the machine meanwhile

    @property
    def pss_kib_per_socket(self) -> float:
        return self.app_pss_kib_per_socket + self.db_pss_kib_per_socket

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"pss_kib_per_socket": self.pss_kib_per_socket}


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank: a value that was really measured, never an interpolation."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    def __contains__(self, moment: float | None) -> bool:
        return moment is not None and self.start <= moment < self.end


@dataclass(frozen=True)
class Delivery:
    """What the sockets saw: throughput and latency in the window, losses over the run."""

    sent: int
    failed_sends: int
    delivered_per_s: float
    latencies_ms: list[float]
    lost: int
    duplicated: int


def delivery(outcomes: list[Outcome], window: Window) -> Delivery:
    accepted = [o for o in outcomes if 200 <= o.status < 300]
    in_window = sum(1 for o in accepted if o.arrived_at in window)
    latencies = sorted(
        (o.arrived_at - o.sent_at) * 1000
        for o in accepted
        if o.sent_at in window and o.arrived_at is not None
    )
    return Delivery(
        sent=len(outcomes),
        failed_sends=len(outcomes) - len(accepted),
        delivered_per_s=in_window / (window.end - window.start),
        latencies_ms=latencies,
        lost=sum(1 for o in accepted if o.arrivals == 0),
        duplicated=sum(1 for o in accepted if o.arrivals > 1),
    )


def storage_faults(outcomes: list[Outcome], copies: Counter[str]) -> tuple[int, int]:
    """(acknowledged but not stored, stored more than once)."""
    accepted = [o.client_id for o in outcomes if 200 <= o.status < 300]
    missing = sum(1 for client_id in accepted if copies[client_id] == 0)
    twice = sum(1 for count in copies.values() if count > 1)
    return missing, twice


LOAD_COLUMNS = (
    ("target", "{:<7}", "target"),
    ("shape", "{:<5}", "shape"),
    ("pairs", "{:>5}", "pairs"),
    ("workers", "{:>7}", "workers"),
    ("msg/s", "{:>7,.0f}", "delivered_per_s"),
    ("p50 ms", "{:>7.1f}", "p50_ms"),
    ("p95 ms", "{:>7.1f}", "p95_ms"),
    ("p99 ms", "{:>7.1f}", "p99_ms"),
    ("max ms", "{:>7.1f}", "max_ms"),
    ("lost", "{:>5}", "lost"),
    ("dup", "{:>4}", "duplicated"),
    ("app cores", "{:>9.2f}", "app_cores"),
    ("db cores", "{:>8.2f}", "db_cores"),
    ("gen cores", "{:>9.2f}", "gen_cores"),
    ("app ms/msg", "{:>10.3f}", "app_cpu_ms_per_msg"),
)


def load_table(results: list[LoadResult]) -> str:
    """A Markdown table, so the same text goes to the terminal and to RESULTS.md."""
    header = "| " + " | ".join(name for name, _, _ in LOAD_COLUMNS) + " |"
    rule = "|" + "|".join("-" * (len(name) + 2) for name, _, _ in LOAD_COLUMNS) + "|"
    rows = [
        "| " + " | ".join(fmt.format(getattr(r, key)) for _, fmt, key in LOAD_COLUMNS) + " |"
        for r in results
    ]
    return "\n".join([header, rule, *rows])


def load_notes(results: list[LoadResult]) -> str:
    lines = []
    for r in results:
        stored = (
            f", not stored {r.not_stored}, stored twice {r.stored_twice}"
            if r.not_stored is not None
            else " (no database)"
        )
        lines.append(
            f"{r.target} (per {r.shape}): sent {r.sent:,}, failed sends {r.failed_sends}{stored}; "
            f"{r.generators} generator process(es), busiest at {r.gen_busiest_core:.2f} cores; "
            f"other processes on the machine used {r.other_cores:.2f} cores"
        )
    return "\n".join(lines)


# Issue 19's targets, as same-run ratios to the relay: (pairs, workers) -> (most p99 ratio,
# least msg/s ratio); None where the issue sets none.
TARGETS = {(100, 2): (2.0, 0.45), (10, 2): (2.5, None)}


def same_run_ratios(app: LoadResult, relay: LoadResult) -> str:
    """The ratios issue 19 asks for, with its targets where it sets one."""
    p99_most, rate_least = TARGETS.get((app.pairs, app.workers), (None, None))
    cpu = app.app_cpu_ms_per_msg / relay.app_cpu_ms_per_msg
    line = (
        f"same-run ratios, one message in the air per {app.shape} ({app.pairs} pairs, "
        f"{app.workers} workers): msg/s {app.ratio_to_relay:.2f}x the relay's"
        + (f" (target >= {rate_least})" if rate_least else "")
        + f", p99 {app.p99_ratio_to_relay:.1f}x"
        + (f" (target <= {p99_most})" if p99_most else "")
        + f", app CPU per message {cpu:.2f}x"
    )
    return line


def idle_table(result: IdleResult) -> str:
    r = result
    rows = [
        ("sockets opened / asked", f"{r.opened:,} / {r.sockets:,} ({r.failed} failed)"),
        ("users (tabs each)", f"{r.users:,} ({math.ceil(r.sockets / r.users)})"),
        ("workers", f"{r.workers}"),
        ("time to open all", f"{r.open_seconds:.1f} s"),
        ("opens/s", f"{r.opens_per_s:,.0f}"),
        (
            "other processes while opening",
            "-" if r.opening_other_cores is None else f"{r.opening_other_cores:.2f} cores",
        ),
        (
            "CPU ms per open (app, db, generator)",
            ", ".join(
                f"{1000 * r.opening_cpu_seconds[part] / max(r.opened, 1):.2f}"
                for part in ("app", "db", "gen")
            ),
        ),
        (
            "app KiB/socket (RSS, PSS)",
            f"{r.app_rss_kib_per_socket:.1f}, {r.app_pss_kib_per_socket:.1f}",
        ),
        (
            "db KiB/socket (RSS, PSS)",
            f"{r.db_rss_kib_per_socket:.1f}, {r.db_pss_kib_per_socket:.1f}",
        ),
        ("app + db PSS KiB/socket", f"{r.pss_kib_per_socket:.1f}"),
        (
            f"CPU while idle ({r.idle_seconds:.0f} s)",
            f"app {r.idle_app_cores:.3f} cores, db {r.idle_db_cores:.3f} cores",
        ),
    ]
    return "\n".join(["| idle sockets | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])
