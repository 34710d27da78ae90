"""HTTP ``POST /v1/score`` against the production server (gunicorn) on SQLite, over loopback.

    .venv/bin/python benchmarks/http_score.py                        # fraudscreen serve, defaults
    .venv/bin/python benchmarks/http_score.py --duration 15 --rate 500 --connections 16
    .venv/bin/python benchmarks/http_score.py --configs sync:3:1,gthread:2:4   # compare settings

For each server configuration: start ``fraudscreen serve`` (or, with a worker class/threads
override, :class:`fraudscreen.server.FraudscreenServer` with those gunicorn options) on a free
127.0.0.1 port with a temporary data dir, create an API key with ``fraudscreen apikeys
create``, wait for ``/readyz``, warm up, then

(a) max throughput: ``--connections`` keep-alive clients send unique orders for
    ``--duration`` s as fast as answers come (``wrk`` with a Lua script if installed, else
    Python processes with ``http.client``);
(b) fixed rate: ``--rate`` orders/s on an open-loop schedule for ``--duration`` s (Python
    processes; latency counts from the scheduled send time, so queueing is included);
(c) after SIGTERM, every 200 answer's transaction id must be in the ``orders`` table exactly
    once and the number of stored orders must equal the accepted requests.

Writes ``benchmarks/results/http_score.json``. Everything runs on this 2-core machine: the load
generator competes with the server for the same cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from common import (
    ClientJob,
    body_templates,
    busy_pct,
    cpu_busy,
    latency_summary,
    machine,
    now_iso,
    process_tree_cpu,
    run_client_jobs,
    score_requests,
    write_result,
    wrk_phase,
)

BAR_THROUGHPUT = 1000.0
BAR_P99_MS_AT_RATE = 10.0
MAX_RATE_BUDGET = 1500.0
"""Orders/s that phase (a) can send without reusing a simulated order."""
LAUNCH = """
import json, sys
from fraudscreen.config import load_settings
from fraudscreen.server import run_server
port, workers, options = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
run_server(load_settings().with_overrides(port=port, workers=workers), options)
"""


@dataclass(frozen=True)
class ServerConfig:
    """One gunicorn configuration; ``worker_class`` None means plain ``fraudscreen serve``."""

    workers: int | None = None
    worker_class: str | None = None
    threads: int | None = None

    @property
    def label(self) -> str:
        if self.worker_class is None:
            return f"serve default (workers={self.workers or 'default'})"
        return f"{self.worker_class} workers={self.workers} threads={self.threads}"

    @classmethod
    def parse(cls, text: str) -> ServerConfig:
        """``class:workers:threads``, e.g. ``gthread:2:4`` or ``sync:3:1``; ``serve`` = defaults."""
        if text == "serve":
            return cls()
        worker_class, workers, threads = text.split(":")
        return cls(int(workers), worker_class, int(threads))


def cli() -> list[str]:
    """The ``fraudscreen`` command of this environment."""
    script = Path(sys.executable).with_name("fraudscreen")
    return [str(script)] if script.exists() else [sys.executable, "-m", "fraudscreen.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll ``/readyz`` until it answers 200; raise if the server exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


@contextlib.contextmanager
def running_server(config: ServerConfig, data_dir: Path) -> Iterator[tuple[int, str, int]]:
    """Start the server; yield ``(port, api_key, pid)``; SIGTERM it and wait on the way out."""
    env = {**os.environ, "FRAUDSCREEN_DATA_DIR": str(data_dir)}
    port = free_port()
    log_path = data_dir.parent / "server.log"
    if config.worker_class is None:
        command = [*cli(), "serve", "--port", str(port)]
        if config.workers:
            command += ["--workers", str(config.workers)]
    else:
        subprocess.run([*cli(), "db", "upgrade"], env=env, check=True, capture_output=True)
        options = {"worker_class": config.worker_class, "threads": config.threads}
        command = [sys.executable, "-c", LAUNCH, str(port), str(config.workers), json.dumps(options)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(port, process)
            created = subprocess.run([*cli(), "apikeys", "create", "--name", "bench"], env=env,
                                     check=True, capture_output=True, text=True)
            yield port, created.stdout.strip().splitlines()[-1], process.pid
        except BaseException:
            log.flush()
            print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def python_phase(port: int, key: str, templates: list[tuple[bytes, bytes]], prefix: str, *,
                 seconds: float, connections: int, rate: float = 0.0, processes: int = 2,
                 max_requests: int = 10**7) -> tuple[dict[str, Any], list[str]]:
    """Closed loop (rate 0) or open loop at ``rate`` with Python processes; a phase report."""
    start_at = time.time() + 0.5
    per = max(1, connections // processes)
    jobs = [
        ClientJob("127.0.0.1", port, key, templates[i::processes] or templates, f"{prefix}{i}-",
                  per, seconds, rate / processes, start_at, offset=i / processes,
                  max_requests=max_requests // processes)
        for i in range(processes)
    ]
    before = cpu_busy()
    merged = run_client_jobs(jobs)
    ok = sum(v for s, v in merged["statuses"].items() if s == 200)
    report = {
        "generator": f"python ({processes} processes x {per} http.client keep-alive connections)",
        "seconds": round(merged["seconds"], 2),
        "requests": sum(merged["statuses"].values()) + sum(merged["errors"].values()),
        "ok": ok,
        "orders_per_second": round(ok / merged["seconds"], 1),
        "statuses": {str(k): v for k, v in merged["statuses"].items()},
        "errors": sum(merged["errors"].values()) + sum(
            v for s, v in merged["statuses"].items() if s != 200),
        "error_kinds": dict(merged["errors"]),
        "latency": latency_summary(merged["latencies"]),
        "generator_cpu_seconds": round(merged["cpu_seconds"], 1),
        "machine_cpu_busy_pct": busy_pct(before, cpu_busy()),
    }
    if rate:
        report["target_rate"] = rate
        report["service_time"] = latency_summary(merged["service"])
    return report, merged["ok_ids"]


def account_cpu(phase: dict[str, Any], pid: int,
                snap: tuple[float, tuple[int, int, int]]) -> dict[str, Any]:
    """Add the server's CPU per order and the CPU that other processes of the machine took."""
    server = process_tree_cpu(pid) - snap[0]
    now = cpu_busy()
    busy = (now[0] - snap[1][0]) / os.sysconf("SC_CLK_TCK")
    phase["machine_steal_pct"] = round(100.0 * (now[2] - snap[1][2]) / max(1, now[1] - snap[1][1]), 1)
    phase["server_cpu_seconds"] = round(server, 1)
    phase["server_cpu_ms_per_order"] = round(server / max(1, phase["requests"]) * 1000, 2)
    phase["other_processes_cpu_seconds"] = round(
        max(0.0, busy - server - phase["generator_cpu_seconds"]), 1)
    return phase


def in_app_durations(log_dir: Path, start: float, end: float) -> dict[str, Any]:
    """p50/p99 of the ``duration_ms`` the app logs for /v1/score between ``start`` and ``end``.

    That is the time inside Flask (auth, screening, storing, JSON); the rest of the client's
    latency is gunicorn, the sockets, queueing for a worker and the load generator itself.
    """
    durations = []
    for path in sorted(log_dir.glob("*.log")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if '"/v1/score"' not in line:
                    continue
                record = json.loads(line)
                at = datetime.fromisoformat(record["time"]).timestamp()
                if start <= at <= end and "duration_ms" in record:
                    durations.append(record["duration_ms"] / 1000)
    return latency_summary(durations) if durations else {"count": 0, "note": "no request logs"}


def verify_stored(db: Path, ok_ids: list[str], unanswered: list[str]) -> dict[str, Any]:
    """Each accepted transaction id stored exactly once; stored orders == accepted requests.

    ``unanswered``: requests whose answer the generator dropped when it stopped (wrk cuts
    requests in flight); the server may have stored them, and they are counted apart.
    """
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        counts = dict(conn.execute("SELECT transaction_id, count(*) FROM orders GROUP BY transaction_id"))
        total = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    finally:
        conn.close()
    missing = [t for t in ok_ids if counts.get(t, 0) == 0]
    duplicated = [t for t, n in counts.items() if n > 1]
    unique_ok = len(set(ok_ids))
    accepted = set(ok_ids)
    cut = set(unanswered)
    unanswered_stored = sum(1 for t in counts if t in cut)
    unexpected = [t for t in counts if t not in accepted and t not in cut]
    return {
        "accepted": len(ok_ids),
        "accepted_unique_ids": unique_ok,
        "stored_orders": total,
        "stored_accepted": total - unanswered_stored - len(unexpected),
        "unanswered_at_stop_stored": unanswered_stored,
        "missing": len(missing),
        "duplicated": len(duplicated),
        "unexpected": len(unexpected),
        "ok": (not missing and not duplicated and not unexpected and unique_ok == len(ok_ids)
               and total - unanswered_stored == len(ok_ids)),
        "examples": (missing + duplicated + unexpected)[:5],
    }


def run_config(config: ServerConfig, args: argparse.Namespace,
               templates: list[tuple[bytes, bytes]], wrk: str | None) -> dict[str, Any]:
    """Start one server configuration and run the warm-up, (a), (b) and (c)."""
    run_id = uuid.uuid4().hex[:6]
    # Simulated orders in event-time order, each sent once (phases reuse them only if they run
    # out): reusing bodies would pile orders onto the same accounts and cards and make the
    # history queries ever slower, which real traffic does not do.
    n_rate = int(args.rate * args.duration * 1.02) + 10
    warm_bodies = templates[: args.warmup]
    max_bodies = templates[args.warmup: len(templates) - n_rate] or templates
    rate_bodies = templates[len(templates) - n_rate:]
    with tempfile.TemporaryDirectory(prefix="fraudscreen-http-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "var"
        data_dir.mkdir()
        all_ok: list[str] = []
        unanswered: list[str] = []
        report: dict[str, Any] = {"config": config.label}
        with running_server(config, data_dir) as (port, key, pid):
            warm, ids = python_phase(port, key, warm_bodies, f"w{run_id}-", seconds=30,
                                     connections=8, max_requests=args.warmup)
            all_ok += ids
            report["warmup"] = {"requests": warm["requests"], "errors": warm["errors"]}
            if args.duration > 0:
                snap = (process_tree_cpu(pid), cpu_busy())
                windows = {"max_throughput": [time.time(), 0.0]}
                if wrk:
                    a, ids, unanswered = wrk_phase(
                        wrk, port, key, max_bodies, f"a{run_id}-", seconds=args.duration,
                        connections=args.connections, workdir=workdir)
                else:
                    a, ids = python_phase(port, key, max_bodies, f"a{run_id}-",
                                          seconds=args.duration, connections=args.connections)
                all_ok += ids
                report["max_throughput"] = account_cpu(a, pid, snap)
                windows["max_throughput"][1] = time.time()
                time.sleep(1.0)
                snap = (process_tree_cpu(pid), cpu_busy())
                windows["fixed_rate"] = [time.time(), 0.0]
                b, ids = python_phase(port, key, rate_bodies, f"b{run_id}-", seconds=args.duration,
                                      connections=16, rate=args.rate)
                all_ok += ids
                report["fixed_rate"] = account_cpu(b, pid, snap)
                windows["fixed_rate"][1] = time.time()
                for name, (start, end) in windows.items():
                    report[name]["in_app"] = in_app_durations(data_dir / "logs", start, end)
        report["storage"] = verify_stored(data_dir / "fraudscreen.db", all_ok, unanswered)
    return report


def print_report(r: dict[str, Any]) -> None:
    print(f"== {r['config']}")
    for name in ("max_throughput", "fixed_rate"):
        p = r.get(name)
        if not p:
            continue
        lat = p["latency"]
        print(f"  {name:<15} {p['orders_per_second']:8.1f} orders/s  p50 {lat['p50_ms']:.2f} ms  "
              f"p99 {lat['p99_ms']:.2f} ms  max {lat['max_ms']:.1f} ms  errors {p['errors']}  "
              f"server CPU {p['server_cpu_ms_per_order']} ms/order "
              f"[{p['generator']}; CPU s: generator {p['generator_cpu_seconds']}, rest of machine "
              f"{p['other_processes_cpu_seconds']}; busy {p['machine_cpu_busy_pct']} %, "
              f"steal {p['machine_steal_pct']} %]")
        app = p.get("in_app", {})
        if app.get("count"):
            print(f"  {'':<15} inside the app (logged duration_ms): p50 {app['p50_ms']:.2f} ms  "
                  f"p99 {app['p99_ms']:.2f} ms  max {app['max_ms']:.1f} ms")
    s = r["storage"]
    print(f"  storage: accepted {s['accepted']}, stored {s['stored_orders']} (of which "
          f"{s['unanswered_at_stop_stored']} were in flight when wrk stopped), missing "
          f"{s['missing']}, duplicated {s['duplicated']}, unexpected {s['unexpected']} "
          f"-> {'OK' if s['ok'] else 'FAILED'}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=None, help="Worker processes (default: serve's).")
    parser.add_argument("--worker-class", default=None, help="gunicorn worker class (sync, gthread).")
    parser.add_argument("--threads", type=int, default=None, help="Threads per gthread worker.")
    parser.add_argument("--configs", default=None,
                        help="Compare several: comma-separated class:workers:threads or 'serve'.")
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds of each phase (15).")
    parser.add_argument("--rate", type=float, default=500.0, help="Orders/s of the fixed-rate phase.")
    parser.add_argument("--connections", type=int, default=16, help="Clients in the max phase (16).")
    parser.add_argument("--warmup", type=int, default=400, help="Warm-up requests (400).")
    parser.add_argument("--orders", type=int, default=None,
                        help="Distinct simulated orders (default: enough for 1,500/s in (a)).")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    wrk = shutil.which("wrk") if args.generator in ("auto", "wrk") else None
    if args.generator == "wrk" and not wrk:
        parser.error("wrk is not installed (apt-get install -y wrk)")
    print(f"max-throughput generator: {'wrk at ' + wrk if wrk else 'Python http.client processes'}; "
          "fixed-rate generator: Python http.client processes (open loop)")
    if args.configs:
        configs = [ServerConfig.parse(c) for c in args.configs.split(",")]
    elif args.worker_class or args.threads:
        configs = [ServerConfig(args.workers or 2, args.worker_class or "gthread", args.threads or 1)]
    else:
        configs = [ServerConfig(args.workers)]
    n_orders = args.orders or int(args.warmup + (MAX_RATE_BUDGET + args.rate * 1.02) * args.duration + 10)
    started = time.perf_counter()
    templates = body_templates(score_requests(n_orders, seed=args.seed))
    print(f"simulated {n_orders} distinct orders in {time.perf_counter() - started:.1f} s")
    runs = []
    for config in configs:
        result = run_config(config, args, templates, wrk)
        print_report(result)
        runs.append(result)
    report = {
        "benchmark": "http_score",
        "created_at": now_iso(),
        "duration_s": args.duration,
        "rate": args.rate,
        "connections": args.connections,
        "bars": {"orders_per_second": BAR_THROUGHPUT, "p99_ms_at_500": BAR_P99_MS_AT_RATE},
        "runs": runs,
        "machine": machine(),
    }
    write_result("http_score", report, args.out)
    return report


if __name__ == "__main__":
    main()
