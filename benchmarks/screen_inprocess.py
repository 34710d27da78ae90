"""In-process screening latency: ``Screener.screen`` on a fresh SQLite store, default settings.

    .venv/bin/python benchmarks/screen_inprocess.py               # 5,000 simulated orders
    .venv/bin/python benchmarks/screen_inprocess.py --orders 20000

Default settings: the bundled DB-IP City Lite database, the shipped model
(``models/default/model.joblib``), the default rules, SQLite (WAL) under a temporary data dir.
Orders come from the simulator on a fresh seed (labels stripped), so accounts, cards, IPs and
emails repeat as they do in real traffic and the history queries find rows. After a warm-up,
each order is screened once and timed (``perf_counter``); then a second pass on other orders
wraps each stage (parse, enrich, history, model, rules, save, ...) with timers to say
where the time goes. Writes ``benchmarks/results/screen_inprocess.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import latency_summary, machine, now_iso, percentile, score_requests, write_result

import fraudscreen.prepared as prepared_module
import fraudscreen.screening as screening_module
from fraudscreen.config import Settings
from fraudscreen.screening import Screener
from fraudscreen.store import Store

BAR_P99_MS = 1.0


def open_screener(data_dir: Path) -> Screener:
    """A screener with the default settings on a fresh, migrated SQLite store in ``data_dir``."""
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.resolved_database_url)
    store.upgrade()
    store.close()
    return Screener.from_settings(settings)


def timed_pass(screener: Screener, orders: list[dict[str, Any]]) -> tuple[list[float], float, float]:
    """Screen each order once; per-order latencies, wall time and CPU time of the pass."""
    latencies = []
    clock = time.perf_counter
    gc.collect()
    cpu = time.process_time()
    started = clock()
    for body in orders:
        t0 = clock()
        screener.screen(body)
        latencies.append(clock() - t0)
    return latencies, clock() - started, time.process_time() - cpu


class StageTimer:
    """Wraps callables so each call adds its duration to a named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, list[float]] = defaultdict(list)
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attribute: str, stage: str) -> None:
        """Replace ``owner.attribute`` by a timed wrapper that reports to ``stage``."""
        original: Callable[..., Any] = getattr(owner, attribute)
        clock = time.perf_counter
        seconds, calls = self.seconds, self.calls

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return original(*args, **kwargs)
            finally:
                took = clock() - t0
                seconds[stage] += took
                calls[stage].append(took)

        self._undo.append((owner, attribute, owner.__dict__.get(attribute) if hasattr(owner, "__dict__") else None))
        setattr(owner, attribute, timed)

    def restore(self) -> None:
        """Put the original callables back."""
        for owner, attribute, previous in reversed(self._undo):
            if previous is None:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, previous)
        self._undo.clear()


def stage_breakdown(screener: Screener, orders: list[dict[str, Any]]) -> dict[str, Any]:
    """Screen ``orders`` with every stage timed; microseconds per order by stage."""
    timer = StageTimer()
    for module, name, stage in (
        (screening_module, "parse_order", "parse"),
        (screening_module, "build_profile", "history"),
        (prepared_module, "order_context", "features"),
        (screening_module, "add_history", "features"),
        (screening_module, "feature_vector", "features"),
        (screening_module, "decide", "decide"),
    ):
        timer.wrap(module, name, stage)
    timer.wrap(screener.store, "load_history", "history")
    timer.wrap(screener.store, "save_order", "save")
    timer.wrap(screener.enricher, "enrich", "enrich")
    timer.wrap(screener, "_list_matcher", "lists")
    if screener.parts.model is not None:
        timer.wrap(screener.parts.model, "predict_one", "model")
        timer.wrap(screener.parts.model, "explain", "model")
    if screener.parts.rules is not None:
        timer.wrap(screener.parts.rules, "evaluate", "rules")
    try:
        _, wall, _ = timed_pass(screener, orders)
    finally:
        timer.restore()
    n = len(orders)
    stages = {k: round(v / n * 1e6, 1) for k, v in sorted(timer.seconds.items(), key=lambda kv: -kv[1])}
    accounted = sum(timer.seconds.values())
    stages["other (match lists, result, response dict, timers)"] = round((wall - accounted) / n * 1e6, 1)
    tails = {k: round(percentile(sorted(v), 99) * 1e6, 1) for k, v in timer.calls.items()}
    return {"orders": n, "microseconds_per_order": stages, "total_us_per_order": round(wall / n * 1e6, 1),
            "p99_us_per_call": tails}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5000, help="Timed orders (default 5000).")
    parser.add_argument("--warmup", type=int, default=500, help="Untimed orders first (default 500).")
    parser.add_argument("--breakdown-orders", type=int, default=2000,
                        help="Further orders screened with per-stage timers (0 to skip).")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    total = args.warmup + args.orders + args.breakdown_orders
    t0 = time.perf_counter()
    orders = score_requests(total, seed=args.seed)
    print(f"simulated {total} orders in {time.perf_counter() - t0:.1f} s (seed {args.seed})")
    warmup = orders[: args.warmup]
    timed = orders[args.warmup: args.warmup + args.orders]
    breakdown_orders = orders[args.warmup + args.orders:]

    with tempfile.TemporaryDirectory(prefix="fraudscreen-bench-") as tmp:
        t0 = time.perf_counter()
        screener = open_screener(Path(tmp) / "var")
        load_seconds = time.perf_counter() - t0
        problems = dict(screener.parts.problems)
        timed_pass(screener, warmup)
        latencies, wall, cpu = timed_pass(screener, timed)
        breakdown = stage_breakdown(screener, breakdown_orders) if breakdown_orders else None
        screener.store.close()
        with contextlib.closing(sqlite3.connect(Path(tmp) / "var" / "fraudscreen.db")) as db:
            stored = db.execute("SELECT count(*) FROM orders").fetchone()[0]

    summary = latency_summary(latencies)
    rate = len(timed) / wall
    report: dict[str, Any] = {
        "benchmark": "screen_inprocess",
        "created_at": now_iso(),
        "orders": len(timed),
        "warmup_orders": len(warmup),
        "seed": args.seed,
        "store": "sqlite (WAL), fresh, temporary data dir",
        "parts_problems": problems,
        "load_seconds": round(load_seconds, 3),
        "latency": summary,
        "orders_per_second": round(rate, 1),
        "cpu_ms_per_order": round(cpu / len(timed) * 1000, 3),
        "bar_p99_ms": BAR_P99_MS,
        "meets_bar": summary["p99_ms"] <= BAR_P99_MS,
        "breakdown": breakdown,
        "stored_orders": stored,
        "machine": machine(),
    }
    if problems:
        print(f"WARNING: parts missing: {problems}")
    print(f"screened {len(timed)} orders in-process (after {len(warmup)} warm-up), "
          f"one thread, SQLite: {rate:,.0f} orders/s, CPU {report['cpu_ms_per_order']:.2f} ms/order")
    print("latency ms: p50 {p50_ms:.3f}  p90 {p90_ms:.3f}  p99 {p99_ms:.3f}  max {max_ms:.3f}"
          .format(**summary))
    print(f"bar p99 <= {BAR_P99_MS} ms: {'met' if report['meets_bar'] else 'MISSED'}")
    if breakdown:
        print(f"per stage (µs/order, {breakdown['orders']} orders, timers on; "
              f"total {breakdown['total_us_per_order']} µs):")
        tails = breakdown["p99_us_per_call"]
        print(f"  {'stage':<52} {'mean':>8} {'p99/call':>9}")
        for stage, us in breakdown["microseconds_per_order"].items():
            tail = f"{tails[stage]:9.1f}" if stage in tails else ""
            print(f"  {stage:<52} {us:8.1f} {tail}")
    write_result("screen_inprocess", report, args.out)
    return report


if __name__ == "__main__":
    main()
