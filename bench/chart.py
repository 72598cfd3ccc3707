"""Draw bench/throughput.png from the JSON files of `bench.load --json`.

    python -m bench.chart bench/results/*.json -o bench/throughput.png

Left: delivered messages/s against pairs; right: p99 latency. ChatIn with 1 and 2 workers,
and the relay of the same runs beside them. Runs with one message in the air per pair
(`--per-pair`, `--both-shapes`) are their own series, "(per pair)"; `--shape` keeps one.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use(): the backend must be chosen first

Series = dict[str, dict[int, list[dict[str, float]]]]


def load_series(paths: list[Path], shape: str | None = None) -> Series:
    """Rows by series name ("chatin, 1 worker", "relay") and pairs; repeats are averaged.
    Group runs (their target is "groups NxM") are not pairs, so they are left out."""
    series: Series = defaultdict(lambda: defaultdict(list))
    for path in paths:
        for row in json.loads(path.read_text()).get("results", []):
            kind, row_shape = row["target"], row.get("shape", "user")
            if kind not in ("chatin", "relay") or shape not in (None, row_shape):
                continue
            if kind == "chatin":
                name = f"ChatIn, {row['workers']} worker{'s' if row['workers'] > 1 else ''}"
            else:
                name = "relay (no database, 1 worker)"
            if row_shape == "pair":
                name += " (per pair)"
            series[name][int(row["pairs"])].append(row)
    return series


def _mean(rows: list[dict[str, float]], key: str) -> float:
    return sum(row[key] for row in rows) / len(rows)


def draw(series: Series, output: Path) -> None:
    figure, (rate, p99) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in sorted(series):
        points = sorted(series[name].items())
        pairs = [p for p, _ in points]
        style = "--" if name.startswith("relay") else "-"
        rate.plot(
            pairs, [_mean(r, "delivered_per_s") for _, r in points], style, marker="o", label=name
        )
        p99.plot(pairs, [_mean(r, "p99_ms") for _, r in points], style, marker="o", label=name)
    rate.set(title="Delivered messages/s", xlabel="pairs", ylabel="messages/s", xscale="log")
    p99.set(title="p99 send-to-arrival latency", xlabel="pairs", ylabel="ms", xscale="log")
    p99.set_yscale("log")
    every_pairs = sorted({p for rows in series.values() for p in rows})
    for axes in (rate, p99):
        axes.set_xticks(every_pairs, [str(p) for p in every_pairs])
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(output, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chart", description=__doc__)
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("bench/throughput.png"))
    parser.add_argument("--shape", choices=("user", "pair"), help="only runs of this shape")
    args = parser.parse_args()
    draw(load_series(args.results, args.shape), args.output)


if __name__ == "__main__":
    main()
