"""Load benchmarks for ChatIn: `python -m bench.load`, measured against a same-run relay."""
