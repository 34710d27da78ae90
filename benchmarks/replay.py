"""Replay throughput: orders per second of the point-in-time replay, in-memory store vs SQLite.

    .venv/bin/python benchmarks/replay.py                 # the shipped data/orders.jsonl.gz
    .venv/bin/python benchmarks/replay.py --orders 50000  # simulated orders instead

Runs the replay ``--runs`` times in this process on rows already in memory (file reading and
JSON decoding are timed separately) and prints the median; the SQL-store replay runs on the
same rows once (``--sql-runs``), or on the first ``--sql-orders`` rows.
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

from fraudscreen.config import REPO_DIR, Settings
from fraudscreen.training.jsonl import iter_jsonl
from fraudscreen.training.pipeline import replay

RESULTS = REPO_DIR / "benchmarks" / "results" / "replay.json"


def _timed_replays(rows: list[dict[str, Any]], settings: Settings, store: str, runs: int) -> dict[str, Any]:
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        result = replay(rows, settings=settings, store=store)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        rates.append(len(rows) / seconds)
    return {
        "orders": len(rows),
        "replayed": int(result.y.size),
        "runs": runs,
        "orders_per_second_median": round(statistics.median(rates), 1),
        "orders_per_second_runs": [round(r, 1) for r in rates],
        "microseconds_per_order_median": round(1e6 / statistics.median(rates), 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO_DIR / "data" / "orders.jsonl.gz")
    parser.add_argument("--orders", type=int, default=None,
                        help="Simulate this many orders instead of reading --data.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sql-orders", type=int, default=None,
                        help="Rows for the SQL-store comparison (default all; 0 to skip).")
    parser.add_argument("--sql-runs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.orders:
        from fraudscreen.training.simulate import simulate_orders

        rows = list(simulate_orders(args.orders, seed=1, start=datetime(2026, 1, 5, tzinfo=UTC)))
        source = f"simulated:{args.orders}"
    else:
        rows = list(iter_jsonl(args.data))
        source = str(args.data.relative_to(REPO_DIR) if args.data.is_relative_to(REPO_DIR) else args.data)
    load_seconds = time.perf_counter() - started

    settings = Settings(data_dir=Path(os.environ.get("TMPDIR", "/tmp")) / "fraudscreen-bench")
    replay(rows[:500], settings=settings)  # warm-up: imports, GeoIP, phone metadata, CEL
    memory = _timed_replays(rows, settings, "memory", args.runs)
    report: dict[str, Any] = {
        "benchmark": "replay",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "load_seconds": round(load_seconds, 3),
        "memory_store": memory,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    }
    print(f"{source}: read {len(rows)} rows in {load_seconds:.2f} s")
    print(f"replay, in-memory store: {memory['orders_per_second_median']:,.0f} orders/s "
          f"(median of {args.runs}; {memory['microseconds_per_order_median']:.0f} µs/order)")
    n_sql = len(rows) if args.sql_orders is None else min(args.sql_orders, len(rows))
    if n_sql:
        sql = _timed_replays(rows[:n_sql], settings, "sql", args.sql_runs)
        same = memory if n_sql == len(rows) else _timed_replays(rows[:n_sql], settings, "memory", args.runs)
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
