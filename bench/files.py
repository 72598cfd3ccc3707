"""Files: storing a big photo with its preview, several big uploads at once, serving a big
file, and what each costs a worker's memory (issue 15).

    python -m bench.files [--jpeg-mb 10] [--file-mb 25] [--parallel 4] [--json PATH]

One ChatIn (`python -m chatin --workers 1`, started as bench.load starts it) and two people
in a conversation, through the real forms. Then, as a browser sends them (multipart, one
file per request, the composer's fields):
1. a --jpeg-mb JPEG of noise (the worst case for its decoder): seconds from the first byte
   sent to the stored message's answer, which holds its preview (goal: at most 1.5 s);
2. --parallel uploads of --file-mb random bytes at once: the worker's peak RSS above its
   level before (goal: at most 150 MB for four of 25 MB);
3. one of those files downloaded by the other person, streamed: the worker's peak RSS above
   its level before (goal: within 10 MB), and its SHA-256 checked against what was sent.
RSS is sampled every 10 ms from a thread. A smoke run: `--jpeg-mb 1 --file-mb 2`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from PIL import Image

from bench.accounts import Account, sign_up, start_conversation
from bench.server import Served, serving

MB = 1_000_000
SAMPLE_SECONDS = 0.01
GOALS = {"jpeg_seconds": 1.5, "parallel_added_mb": 150.0, "serving_added_mb": 10.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.files", description=__doc__)
    parser.add_argument("--jpeg-mb", type=float, default=10.0)
    parser.add_argument("--file-mb", type=float, default=25.0)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def noise_jpeg(target_bytes: int) -> bytes:
    """A JPEG of random pixels of about target_bytes (noise hardly compresses)."""
    side = max(16, int((target_bytes / 1.6) ** 0.5))
    for _ in range(3):
        out = io.BytesIO()
        Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
            out, "JPEG", quality=92
        )
        side = max(16, int(side * (target_bytes / out.tell()) ** 0.5))
    return out.getvalue()


def rss_mb(processes: list[psutil.Process]) -> float:
    return sum(process.memory_info().rss for process in processes) / MB


@contextmanager
def peak_rss(processes: list[psutil.Process]) -> Iterator[dict[str, float]]:
    """Sample the app's RSS (launcher and worker: only the worker moves) until the block
    ends; `start` and `peak` in MB."""
    figures = {"start": rss_mb(processes)}
    figures["peak"] = figures["start"]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            figures["peak"] = max(figures["peak"], rss_mb(processes))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield figures
    finally:
        done.set()
        sampler.join()


async def upload(account: Account, conversation: int, name: str, data: bytes) -> str:
    """Send one file as the composer's script does; the stored message's HTML."""
    response = await account.client.post(
        f"/c/{conversation}/messages",
        data={"csrf_token": account.csrf, "client_id": str(uuid.uuid4()), "body": ""},
        files={"files": (name, data, "application/octet-stream")},
        headers={"HX-Request": "true"},
        timeout=300,
    )
    if response.status_code != 201:
        raise RuntimeError(f"upload of {name} answered {response.status_code}: {response.text}")
    return response.text


async def measure(served: Served, args: argparse.Namespace) -> dict[str, Any]:
    alice, bob = await sign_up(served.url, 1), await sign_up(served.url, 2)
    conversation = await start_conversation(alice, bob)
    alice.csrf = await _token(alice, conversation)
    processes = served.app_processes()
    figures: dict[str, Any] = {"app_pids": [p.pid for p in processes]}

    photo = await asyncio.to_thread(noise_jpeg, int(args.jpeg_mb * MB))
    started = time.perf_counter()
    answer = await upload(alice, conversation, "photo.jpg", photo)
    figures["jpeg_seconds"] = time.perf_counter() - started
    figures["jpeg_mb"] = len(photo) / MB
    if "/previews/" not in answer:
        raise RuntimeError("the stored photo has no preview")

    files = [os.urandom(int(args.file_mb * MB)) for _ in range(args.parallel)]
    with peak_rss(processes) as parallel:
        answers = await asyncio.gather(
            *(upload(alice, conversation, f"file-{n}.bin", data) for n, data in enumerate(files))
        )
    figures["parallel_added_mb"] = parallel["peak"] - parallel["start"]

    url = re.search(r'href="(/files/[^"]+)"', answers[0])
    if url is None:
        raise RuntimeError("no file link in the stored message")
    digest = hashlib.sha256()
    with peak_rss(processes) as serving_figures:
        async with bob.client.stream("GET", url.group(1), timeout=300) as response:
            async for chunk in response.aiter_bytes():
                digest.update(chunk)
    figures["serving_added_mb"] = serving_figures["peak"] - serving_figures["start"]
    figures["download_intact"] = digest.hexdigest() == hashlib.sha256(files[0]).hexdigest()
    for account in (alice, bob):
        await account.client.aclose()
    return figures


async def _token(account: Account, conversation: int) -> str:
    page = (await account.client.get(f"/c/{conversation}")).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if found is None:
        raise RuntimeError("no CSRF token on the conversation page")
    return found.group(1)


def report(figures: dict[str, Any], args: argparse.Namespace) -> str:
    rows = [
        (f"store a {figures['jpeg_mb']:.1f} MB JPEG with preview", "jpeg_seconds", "s"),
        (
            f"{args.parallel} x {args.file_mb:g} MB uploads at once, worker RSS added",
            "parallel_added_mb",
            "MB",
        ),
        (f"serve {args.file_mb:g} MB, worker RSS added", "serving_added_mb", "MB"),
    ]
    lines = [f"{'what':<52} {'figure':>9} {'goal':>8}"]
    for label, key, unit in rows:
        lines.append(f"{label:<52} {figures[key]:>7.2f}{unit:>2} {GOALS[key]:>6g}{unit:>2}")
    lines.append(f"download byte-for-byte: {'yes' if figures['download_intact'] else 'NO'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with serving("chatin", 1) as served:
        figures = asyncio.run(measure(served, args))
    print(report(figures, args))
    if args.json is not None:
        args.json.write_text(json.dumps(figures | vars(args) | {"json": str(args.json)}, indent=2))
    return 0 if figures["download_intact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
