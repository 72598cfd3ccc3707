"""The request path alone: CPU per message POST in ChatIn's worker, beside the bare relay's
floor (issue 19).

    python -m bench.requests [--messages 5000] [--rounds 3] [--tree DIR ...] [--profile DIR]

Each round starts ChatIn with one worker (its own embedded PostgreSQL, as `bench.load`
does) and the relay (`bench/relay.py`) side by side. On ChatIn one pair of users is made
through the real forms, and one of them posts messages over one keep-alive connection, one
at a time, as the page's htmx posts them: the composer's fields (CSRF token, client_id,
body, reply_to) urlencoded, with the HX-* headers and the X-CSRF-Token header. No socket
is open, so the hub renders nothing: what is left is the POST (Hypercorn, Quart, the view,
its statement) and the listener's handling of the NOTIFY. The relay gets the same form
POSTs to /send for a user with no socket (its 404 is a view's plain return): Quart and
Hypercorn's floor for a form POST.

The servers take turns request by request, in a shuffled order each turn, so whatever else
the machine does meanwhile falls on all of them alike; each round starts them in a rotated
order (the first started came out a few per cent dearer in an A/A run), so use as many
rounds as servers, or a multiple. The figure is each server's CPU per
request, user + system of its serving process only (psutil, after a warm-up), not wall
time: on a shared 2-core machine other people's load moves wall time a lot and a
process's own CPU time much less. "other cores" is what the rest of the machine used
during the round. `--tree DIR` (repeatable) serves ChatIn from each of those checkouts
too, in the same turns, to compare versions in the same run (labelled by folder name; the
default is this checkout alone). `--profile DIR` records each ChatIn worker's measured
window with py-spy (raw format, 200 Hz) into DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil

from bench.accounts import chatin_pairs
from bench.server import ROOT, Served, serving
from bench.usage import CpuWindow, MachineWindow
from bench.wire import FormPoster

WARMUP_REQUESTS = 300
PY_SPY = Path(sys.executable).parent / "py-spy"  # --profile only: installed in the venv, not pinned
PY_SPY_RATE = 200
TURN_SEED = 19


@dataclass(frozen=True)
class Spec:
    """One server of a round: what it is, where it runs from, extra environment."""

    label: str
    kind: str  # "chatin" or "relay"
    root: Path = ROOT
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Target:
    """A started server and the one connection that posts to it."""

    spec: Spec
    served: Served
    poster: FormPoster
    fields: dict[str, str]
    workers: list[psutil.Process] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0  # wall time spent waiting for its answers

    async def post(self, number: int) -> None:
        message = self.fields | {"body": f"Request path {number}", "client_id": str(uuid.uuid4())}
        began = time.perf_counter()
        status = await self.poster.post(message)
        self.seconds += time.perf_counter() - began
        self.statuses[status] = self.statuses.get(status, 0) + 1


@dataclass(frozen=True)
class Measured:
    label: str
    requests: int
    cpu_ms: float  # the serving process's user + system CPU per request
    answer_ms: float  # wall time from sending a request to reading its answer
    other_cores: float
    statuses: dict[int, int]


def worker_processes(served: Served) -> list[psutil.Process]:
    """The server's serving processes: the relay serves in its own process, ChatIn in
    Hypercorn's spawned workers (not the launcher, its PostgreSQL, the embedded server's
    watcher or multiprocessing's resource tracker)."""
    if served.kind == "relay":
        return served.app_processes()[:1]
    workers = []
    for proc in served.app_processes()[1:]:
        with contextlib.suppress(psutil.Error):
            if "spawn_main" in " ".join(proc.cmdline()):
                workers.append(proc)
    return workers


async def _connect(spec: Spec, served: Served) -> Target:
    if served.kind == "relay":
        poster = FormPoster(served.url, "/send", {}, {"HX-Request": "true"})
        return Target(spec, served, poster, {"to": "nobody"})
    [(sender, _recipient)] = await chatin_pairs(served.url, 1)
    headers = sender.headers | {
        "HX-Trigger": "message-body",
        "HX-Trigger-Name": "body",
        "HX-Current-URL": served.url + sender.send_path.removesuffix("/messages"),
    }
    poster = FormPoster(served.url, sender.send_path, sender.cookies, headers)
    fields = {"csrf_token": sender.headers["X-CSRF-Token"], "reply_to": ""}
    return Target(spec, served, poster, fields)


@contextlib.contextmanager
def _profiled(targets: list[Target], folder: Path | None) -> Iterator[None]:
    spies = []
    for target in targets if folder else []:
        if target.served.kind == "chatin":
            output = folder / f"{target.spec.label}.txt"
            command = [str(PY_SPY), "record", "--pid", str(target.workers[0].pid)]
            command += ["--format", "raw", "--rate", str(PY_SPY_RATE), "--nonblocking"]
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            spies.append(subprocess.Popen([*command, "-o", str(output)], **quiet))
    if spies:
        time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)


async def _measure(targets: list[Target], messages: int, profile: Path | None) -> list[Measured]:
    for target in targets:
        for number in range(WARMUP_REQUESTS):
            await target.post(number)
        target.workers = worker_processes(target.served)
        target.statuses, target.seconds = {}, 0.0
    me = psutil.Process()
    everything = CpuWindow(
        lambda: (
            [me, *(p for t in targets for p in t.served.app_processes())]
            + [p for t in targets for p in t.served.db_processes()]
        )
    )
    windows = [CpuWindow(lambda t=t: t.workers) for t in targets]
    machine = MachineWindow()
    with _profiled(targets, profile):
        for window in (everything, machine, *windows):
            window.start()
        began = time.monotonic()
        turns = random.Random(TURN_SEED)
        order = list(targets)
        for number in range(messages):
            turns.shuffle(order)  # no server always follows the same one
            for target in order:
                await target.post(number)
        wall = time.monotonic() - began
        for window in (everything, machine, *windows):
            window.stop()
    others = max(0.0, machine.seconds - everything.seconds) / wall
    return [
        Measured(
            t.spec.label,
            messages,
            1000 * window.seconds / messages,
            1000 * t.seconds / messages,
            others,
            t.statuses,
        )
        for t, window in zip(targets, windows, strict=True)
    ]


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """Extra variables for a server started in the block (it inherits os.environ)."""
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_round(
    specs: list[Spec], messages: int, profile: Path | None = None, first: int = 0
) -> list[Measured]:
    """Start every server, beginning with specs[first] and on in turn, measure them taking
    turns, stop them; the results in the order of `specs`. Where a server comes in the
    start order moves its figure by a few per cent (an A/A run found up to 10 %), so
    main() rotates it from round to round."""
    order = [*range(first, len(specs)), *range(first)]

    async def measure(served: list[Served]) -> list[Measured]:
        targets = [await _connect(specs[i], s) for i, s in zip(order, served, strict=True)]
        try:
            measured = await _measure(targets, messages, profile)
        finally:
            for target in targets:
                await target.poster.close()
        by_spec = dict(zip(order, measured, strict=True))
        return [by_spec[i] for i in range(len(specs))]

    with contextlib.ExitStack() as stack:
        served = []
        for i in order:
            with _environment(specs[i].env):
                served.append(stack.enter_context(serving(specs[i].kind, 1, specs[i].root)))
        return asyncio.run(measure(served))


def _line(index: int, m: Measured) -> str:
    codes = ", ".join(f"{code}: {count}" for code, count in sorted(m.statuses.items()))
    return (
        f"round {index}  {m.label:<12} {m.requests} requests  CPU {m.cpu_ms:.3f} ms/req  "
        f"answer {m.answer_ms:.3f} ms  other cores {m.other_cores:.2f}  statuses {codes}"
    )


def summary(results: list[Measured]) -> list[str]:
    """Per label: the median CPU per request over the rounds, its spread, and the change
    against the first label's median."""
    labels = list(dict.fromkeys(m.label for m in results))
    medians = {}
    lines = []
    for label in labels:
        cpu = [m.cpu_ms for m in results if m.label == label]
        medians[label] = statistics.median(cpu)
        change = 100 * (medians[label] / medians[labels[0]] - 1)
        lines.append(
            f"{label:<12} CPU ms/req median {medians[label]:.3f} "
            f"(min {min(cpu):.3f}, max {max(cpu):.3f}, {len(cpu)} rounds)  "
            f"{change:+.1f} % against {labels[0]}"
        )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.requests", description=__doc__)
    parser.add_argument("--messages", type=int, default=5000, help="measured POSTs per server")
    parser.add_argument(
        "--rounds", type=int, default=3, help="fresh servers each round, started in rotation"
    )
    parser.add_argument(
        "--tree", type=Path, action="append", help="a checkout to serve ChatIn from (repeatable)"
    )
    parser.add_argument("--no-relay", action="store_true", help="ChatIn only")
    parser.add_argument("--profile", type=Path, help="folder for py-spy raw profiles")
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the servers started here are stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    trees = [tree.resolve() for tree in args.tree or [ROOT]]
    specs = [Spec("chatin" if t == ROOT else t.name, "chatin", t) for t in trees]
    if not args.no_relay:
        specs.append(Spec("relay", "relay"))
    results = []
    for index in range(1, args.rounds + 1):
        folder = args.profile / f"r{index}" if args.profile else None
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
        for measured in run_round(specs, args.messages, folder, (index - 1) % len(specs)):
            results.append(measured)
            print(_line(index, measured), flush=True)
    print("\n".join(summary(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
