"""What one request-log record costs in the daily log file, and how much of it is the lock.

    .venv/bin/python benchmarks/log_write.py                  # 20,000 records, 5 runs

Every record a :class:`~fraudscreen.logs.DailyFileHandler` writes first takes a shared
``flock`` on ``<log dir>/.lock`` (an erasure scans the files unlocked, then swaps each
rewritten file in under the exclusive lock, so that no line written meanwhile is lost). The script times, on a temporary log directory:
``handle`` (masking filter, JSON formatting, lock and write: what each record pays),
``lock`` (opening, locking and closing the lock file alone) and ``write`` (the handler's
write without the lock and the masking filter). Medians of ``--runs``; writes
``benchmarks/results/log_write.json``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import machine, now_iso, write_result

from fraudscreen.logs import DailyFileHandler, DirectoryLock, JsonFormatter, MaskingFilter


def _request_record() -> logging.LogRecord:
    """A record shaped like the request log's line for one screened order."""
    record = logging.LogRecord("fraudscreen.requests", logging.INFO, __file__, 1, "request", None, None)
    record.__dict__.update(method="POST", route="/v1/score", status=200, duration_ms=1.93,
                           api_key="checkout", order_id="5d0c8e0f7a9b4c31a2e6f18d9b7c4e20",
                           decision="accept")
    return record


def _microseconds(action: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        action()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fraudscreen-logbench-") as tmp:
        directory = Path(tmp)
        handler = DailyFileHandler(directory)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(MaskingFilter())
        record = _request_record()

        def lock() -> None:
            with DirectoryLock(directory, exclusive=False):
                pass

        stages: dict[str, Callable[[], object]] = {
            "handle": lambda: handler.handle(record),
            "lock": lock,
            "write": lambda: handler._emit(record),
        }
        for action in stages.values():
            _microseconds(action, 500)  # warm-up: the file and the lock file exist
        runs: dict[str, list[float]] = {name: [] for name in stages}
        for _ in range(args.runs):
            for name, action in stages.items():
                runs[name].append(_microseconds(action, args.records))
        handler.close()
    medians = {name: round(statistics.median(values), 2) for name, values in runs.items()}
    print(f"{args.records} records × {args.runs} runs, median µs per record:")
    for name, value in medians.items():
        print(f"  {name:<7} {value:7.2f}")
    print(f"the lock is {medians['lock'] / medians['handle']:.0%} of what a record costs")
    write_result("log_write", {
        "when": now_iso(), "machine": machine(), "records": args.records, "runs": args.runs,
        "microseconds_per_record_median": medians,
        "microseconds_per_record_runs": {k: [round(v, 2) for v in vs] for k, vs in runs.items()},
    })


if __name__ == "__main__":
    main()
