"""Replay throughput: orders per second of the point-in-time replay, in one process and with
worker processes (validation and enrichment), in-memory store vs SQLite.

    .venv/bin/python benchmarks/replay.py                 # the shipped data/orders.jsonl.gz
    .venv/bin/python benchmarks/replay.py --orders 50000  # simulated orders instead

Runs the replay ``--runs`` times on rows already in memory, held as a ``fraudscreen backtest``
holds them (each line's bytes, decoded again when it is prepared; reading the file and the
first decoding are timed separately), and prints the median. Each run starts with empty
enrichment caches: in one process (``--workers 0``), then with the default worker processes
(``fraudscreen.training.prepare.default_workers``; ``--workers N`` to choose). The runs alternate between the two, so that a noisy minute hits both. The SQL-store
replay runs on the same rows once (``--sql-runs``), or on the first ``--sql-orders`` rows.

Two more figures put the replay in context. ``validation_only``: schema validation of every
row (``parse_order``) and nothing else, the floor of any replay through the real screening
code. ``saved_replay``: the replay saved as ``backtest --save-replay`` saves it (gzip JSON
Lines, the format of ``export-training``), read with ``load_labelled``, JSON decoding
included: what each later back-test or training run on the same rows costs instead of a
replay, and what retraining from an export of the live store costs.
Writes ``benchmarks/results/replay.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraudscreen.config import REPO_DIR, SAMPLE_DATA, Settings
from fraudscreen.schema import parse_order
from fraudscreen.training.jsonl import decode_line, write_jsonl
from fraudscreen.training.pipeline import ReplayResult, iter_replay_rows, load_labelled, replay
from fraudscreen.training.prepare import LABEL_FIELDS, JsonRow, default_workers
from fraudscreen.training.saved_replay import write_saved_replay

RESULTS = REPO_DIR / "benchmarks" / "results" / "replay.json"


def _timed_replays(rows: list[Any], settings: Settings, store: str, runs: int,
                   workers: tuple[int, ...] = (0,)) -> list[dict[str, Any]]:
    """One figure per worker count; the runs alternate between the counts."""
    rates: dict[int, list[float]] = {w: [] for w in workers}
    replayed = 0
    for _ in range(runs):
        for w in workers:
            _clear_caches()
            started = time.perf_counter()
            result = replay(rows, settings=settings, store=store, workers=w)  # type: ignore[arg-type]
            rates[w].append(len(rows) / (time.perf_counter() - started))
            replayed = int(result.y.size)
    return [{
        "orders": len(rows),
        "replayed": replayed,
        "workers": w,
        "runs": runs,
        "orders_per_second_median": round(statistics.median(rates[w]), 1),
        "orders_per_second_runs": [round(r, 1) for r in rates[w]],
        "microseconds_per_order_median": round(1e6 / statistics.median(rates[w]), 1),
    } for w in workers]


def _clear_caches() -> None:
    """Empty every LRU cache of the package (phone numbers, place names, IPs, ...), so that each
    run starts as cold as a `fraudscreen backtest` does, not warmed by the run before it."""
    for name, module in list(sys.modules.items()):
        if name == "fraudscreen" or name.startswith("fraudscreen."):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                    value.cache_clear()


def _validation_only(rows: list[Any], runs: int) -> dict[str, Any]:
    decoded = [decode_line(row.text) if isinstance(row, JsonRow) else row for row in rows]
    bodies = [{k: v for k, v in row.items() if k not in LABEL_FIELDS} for row in decoded]
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for body in bodies:
            parse_order(body)
        rates.append(len(bodies) / (time.perf_counter() - started))
    median = statistics.median(rates)
    return {"orders": len(bodies), "runs": runs, "orders_per_second_median": round(median, 1),
            "microseconds_per_order_median": round(1e6 / median, 1)}


def _timed_saved_replay(result: ReplayResult, settings: Settings, runs: int) -> dict[str, Any]:
    """``load_labelled`` of the replay saved as ``backtest --save-replay`` saves it: what every
    later back-test or training run on the same rows costs instead of a replay."""
    path = settings.data_dir / "saved-replay-bench.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_saved_replay(result, path)
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        loaded, n = load_labelled(path, settings=settings)
        rates.append(n / (time.perf_counter() - started))
    path.unlink()
    median = statistics.median(rates)
    return {"orders": n, "rows_read": int(loaded.y.size), "runs": runs,
            "orders_per_second_median": round(median, 1),
            "orders_per_second_runs": [round(r, 1) for r in rates],
            "microseconds_per_order_median": round(1e6 / median, 1),
            "file": "gzip JSON Lines, JSON decoding included"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SAMPLE_DATA)
    parser.add_argument("--orders", type=int, default=None,
                        help="Simulate this many orders instead of reading --data.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None,
                        help="Worker processes for the second figure (default: the replay's default).")
    parser.add_argument("--sql-orders", type=int, default=None,
                        help="Rows for the SQL-store comparison (default all; 0 to skip).")
    parser.add_argument("--sql-runs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    settings = Settings(data_dir=Path(os.environ.get("TMPDIR", "/tmp")) / "fraudscreen-bench")
    data = args.data
    source = str(data.relative_to(REPO_DIR) if data.is_relative_to(REPO_DIR) else data)
    if args.orders:
        from fraudscreen.training.simulate import simulate_orders

        data = settings.data_dir / "simulated-bench.jsonl"
        data.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(simulate_orders(args.orders, seed=1, start=datetime(2026, 1, 5, tzinfo=UTC)), data)
        source = f"simulated:{args.orders}"
    started = time.perf_counter()
    rows = list(iter_replay_rows(data))
    load_seconds = time.perf_counter() - started
    if args.orders:
        data.unlink()

    replay(rows[:500], settings=settings, workers=0)  # warm-up: imports, GeoIP, phone metadata, CEL
    workers = default_workers(len(rows)) if args.workers is None else args.workers
    memory, memory_workers = _timed_replays(rows, settings, "memory", args.runs, (0, workers))
    validation = _validation_only(rows, args.runs)
    saved = _timed_saved_replay(replay(rows, settings=settings), settings, args.runs)
    report: dict[str, Any] = {
        "benchmark": "replay",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "load_seconds": round(load_seconds, 3),
        "memory_store": memory,
        "memory_store_workers": memory_workers,
        "workers_speedup": round(memory_workers["orders_per_second_median"]
                                 / memory["orders_per_second_median"], 2),
        "validation_only": validation,
        "saved_replay": saved,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    }
    print(f"{source}: read {len(rows)} rows in {load_seconds:.2f} s")
    print(f"replay, in-memory store, one process: {memory['orders_per_second_median']:,.0f} "
          f"orders/s (median of {args.runs}; {memory['microseconds_per_order_median']:.0f} µs/order)")
    print(f"replay, in-memory store, {workers} worker{'s' * (workers != 1)}: "
          f"{memory_workers['orders_per_second_median']:,.0f} orders/s (median of {args.runs}) "
          f"-> x{report['workers_speedup']}")
    print(f"schema validation alone: {validation['orders_per_second_median']:,.0f} orders/s "
          f"({validation['microseconds_per_order_median']:.0f} µs/order): the floor of any replay")
    print(f"reading the saved replay (backtest --save-replay): "
          f"{saved['orders_per_second_median']:,.0f} orders/s (median of {args.runs}; "
          f"{saved['microseconds_per_order_median']:.0f} µs/order), no replay")
    n_sql = len(rows) if args.sql_orders is None else min(args.sql_orders, len(rows))
    if n_sql:
        [sql] = _timed_replays(rows[:n_sql], settings, "sql", args.sql_runs)
        [same] = [memory] if n_sql == len(rows) else _timed_replays(rows[:n_sql], settings, "memory", args.runs)
        report["sql_store"] = sql
        report["speedup"] = round(same["orders_per_second_median"] / sql["orders_per_second_median"], 1)
        print(f"replay, SQLite store:    {sql['orders_per_second_median']:,.0f} orders/s "
              f"({sql['orders']} rows; median of {args.sql_runs}) -> x{report['speedup']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
