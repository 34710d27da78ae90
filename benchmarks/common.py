"""Shared benchmark helpers: simulated requests, percentiles, results, the load generators, CPU accounting."""

from __future__ import annotations

import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraudscreen.config import REPO_DIR

RESULTS_DIR = REPO_DIR / "benchmarks" / "results"
SIMULATION_ONLY_FIELDS = ("label", "label_time", "scenario")
"""Keys the simulator adds for training that a real checkout never sends."""


def score_requests(n: int, *, seed: int, start: datetime | None = None) -> list[dict[str, Any]]:
    """``n`` varied, realistic score requests from the simulator, without its training labels."""
    from fraudscreen.training.simulate import simulate_orders

    rows = []
    for row in simulate_orders(n, seed=seed, start=start or datetime(2026, 3, 2, tzinfo=UTC)):
        for key in SIMULATION_ONLY_FIELDS:
            row.pop(key, None)
        rows.append(row)
    return rows


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of already sorted values, nearest-rank; 0.0 if empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return float(sorted_values[rank - 1])


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max and mean of latencies given in seconds, reported in milliseconds."""
    values = sorted(seconds)
    if not values:
        return {"count": 0}
    ms = 1000.0
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50) * ms, 3),
        "p90_ms": round(percentile(values, 90) * ms, 3),
        "p99_ms": round(percentile(values, 99) * ms, 3),
        "max_ms": round(values[-1] * ms, 3),
        "mean_ms": round(sum(values) / len(values) * ms, 3),
    }


def machine() -> dict[str, Any]:
    """Python version, CPU count and platform of this run."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        load = None
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_1m_at_start": load,
    }


def write_result(name: str, report: dict[str, Any], out: Path | None = None) -> Path:
    """Write ``report`` as ``benchmarks/results/<name>.json`` (or ``out``) and say where."""
    path = out or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return path


def now_iso() -> str:
    """The current UTC time, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- A Python HTTP load generator (keep-alive http.client connections, several processes) ---

TXN_PLACEHOLDER = "@@TXN@@"


def body_templates(orders: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    """JSON bodies split around the transaction id: ``pre + id + post`` is one request body."""
    templates = []
    for order in orders:
        copy = json.loads(json.dumps(order))
        copy.setdefault("event", {})["transaction_id"] = TXN_PLACEHOLDER
        pre, post = json.dumps(copy, separators=(",", ":")).split(TXN_PLACEHOLDER)
        templates.append((pre.encode(), post.encode()))
    return templates


@dataclass
class ClientJob:
    """What one load-generator process does: closed loop for ``seconds`` or open loop at ``rate``."""

    host: str
    port: int
    key: str
    templates: list[tuple[bytes, bytes]]
    id_prefix: str
    """Transaction ids are ``<id_prefix><n>``: unique per process and phase."""
    connections: int
    seconds: float
    rate: float = 0.0
    """Requests/s of this process on a fixed schedule (open loop); 0 for as fast as possible."""
    start_at: float = 0.0
    """``time.time()`` at which to begin (so that processes start together)."""
    offset: float = 0.0
    """Shift of this process's schedule, in fractions of one interval."""
    max_requests: int = 10**7


def run_client_job(job: ClientJob) -> dict[str, Any]:
    """Run ``job`` with ``job.connections`` threads, each on its own keep-alive connection."""
    import http.client

    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    service: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    ok_ids: list[str] = []
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {job.key}"}
    while time.time() < job.start_at:
        time.sleep(min(0.01, max(0.0, job.start_at - time.time())))
    t_start = time.perf_counter()
    deadline = t_start + job.seconds
    interval = 1.0 / job.rate if job.rate else 0.0

    def worker() -> None:
        conn = http.client.HTTPConnection(job.host, job.port, timeout=10)
        while True:
            n = next(counter)
            if n >= job.max_requests:
                break
            if interval:
                scheduled = t_start + (n + job.offset) * interval
                if scheduled >= deadline:
                    break
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            elif time.perf_counter() >= deadline:
                break
            pre, post = job.templates[n % len(job.templates)]
            txn = f"{job.id_prefix}{n}"
            sent = time.perf_counter()
            try:
                conn.request("POST", "/v1/score", pre + txn.encode() + post, headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(job.host, job.port, timeout=10)
                with lock:
                    errors[type(exc).__name__] += 1
                continue
            done = time.perf_counter()
            with lock:
                statuses[status] += 1
                service.append(done - sent)
                latencies.append(done - (scheduled if interval else sent))
                if status == 200:
                    ok_ids.append(txn)
        conn.close()

    cpu0 = time.process_time()
    threads = [threading.Thread(target=worker) for _ in range(job.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "seconds": time.perf_counter() - t_start,
        "cpu_seconds": time.process_time() - cpu0,
        "latencies": latencies,
        "service": service,
        "statuses": dict(statuses),
        "errors": dict(errors),
        "ok_ids": ok_ids,
    }


def run_client_jobs(jobs: list[ClientJob]) -> dict[str, Any]:
    """Run each job in its own process and merge the results."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        parts = pool.map(run_client_job, jobs)
    merged: dict[str, Any] = {"latencies": [], "service": [], "ok_ids": [],
                              "statuses": Counter(), "errors": Counter(), "cpu_seconds": 0.0}
    for part in parts:
        merged["latencies"] += part["latencies"]
        merged["service"] += part["service"]
        merged["ok_ids"] += part["ok_ids"]
        merged["statuses"].update(part["statuses"])
        merged["errors"].update(part["errors"])
        merged["cpu_seconds"] += part["cpu_seconds"]
    merged["seconds"] = max(p["seconds"] for p in parts)
    return merged


# --- CPU accounting from /proc and the wrk load generator ---


def cpu_busy() -> tuple[int, int, int]:
    """(busy, total, steal) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    steal = values[7] if len(values) > 7 else 0
    return sum(values) - idle, sum(values), steal


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its living descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def busy_pct(before: tuple[int, int, int], after: tuple[int, int, int]) -> float:
    total = after[1] - before[1]
    return round(100.0 * (after[0] - before[0]) / total, 1) if total else 0.0


WRK_SCRIPT = """
local templates = {%(templates)s}
local key = "%(key)s"
local prefix = "%(prefix)s"
local out = "%(out)s"
local threads = {}
counter = 0
tid = 0
ids = {}
bad = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end

function request()
  counter = counter + 1
  local t = templates[((counter - 1) * %(threads)d + tid) %% #templates + 1]
  return wrk.format(nil, "/v1/score", nil, t[1] .. prefix .. tid .. "-" .. counter .. t[2])
end

function response(status, headers, body)
  if status == 200 then
    ids[#ids + 1] = string.match(body, '"order_id":%%s*"([^"]+)"') or "?"
  else
    bad[status] = (bad[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local f = io.open(out, "w")
  local e = summary.errors
  f:write(string.format('{"duration_us": %%d, "requests": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "mean_us": %%f, "ids": [',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
  local first = true
  local statuses = {}
  local sent = {}
  for _, thread in ipairs(threads) do
    sent[#sent + 1] = '[' .. thread:get("tid") .. ',' .. thread:get("counter") .. ']'
    for _, id in ipairs(thread:get("ids")) do
      f:write((first and '' or ',') .. '"' .. id .. '"')
      first = false
    end
    for status, n in pairs(thread:get("bad")) do
      statuses[status] = (statuses[status] or 0) + n
    end
  end
  f:write('], "sent": [' .. table.concat(sent, ',') .. '], "bad_statuses": {')
  first = true
  for status, n in pairs(statuses) do
    f:write((first and '' or ',') .. '"' .. status .. '": ' .. n)
    first = false
  end
  f:write('}}')
  f:close()
end
"""


def wrk_phase(wrk: str, port: int, key: str, templates: list[tuple[bytes, bytes]], prefix: str,
              *, seconds: float, connections: int, workdir: Path
              ) -> tuple[dict[str, Any], list[str], list[str]]:
    """Closed-loop max throughput with ``wrk`` (2 threads): report, 200s' ids, unanswered ids."""
    out = workdir / "wrk-out.json"
    lua = ",\n".join(f"{{[==[{pre.decode()}]==], [==[{post.decode()}]==]}}"
                     for pre, post in templates)
    threads = min(2, connections)
    script = workdir / "score.lua"
    script.write_text(WRK_SCRIPT % {"templates": lua, "key": key, "prefix": prefix, "out": out,
                                    "threads": threads})
    before, usage = cpu_busy(), resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run([wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s",
                          "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}/v1/score"],
                         capture_output=True, text=True, timeout=seconds + 60, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed: {run.stderr or run.stdout}")
    data = json.loads(out.read_text())
    ok_ids = data.pop("ids")
    answered = set(ok_ids)
    # wrk stops with requests in flight: their answers are dropped, but the server may store them.
    unanswered = [f"{prefix}{tid}-{n}" for tid, count in data.pop("sent") for n in range(1, count + 1)
                  if f"{prefix}{tid}-{n}" not in answered]
    duration = data["duration_us"] / 1e6
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    non_200 = sum(data["bad_statuses"].values())
    return {
        "generator": f"wrk ({threads} threads, {connections} keep-alive connections, Lua script)",
        "seconds": round(duration, 2),
        "requests": data["requests"],
        "ok": len(ok_ids),
        "orders_per_second": round(len(ok_ids) / duration, 1),
        "statuses": {"200": len(ok_ids), **data["bad_statuses"]},
        "errors": socket_errors + non_200,
        "error_kinds": {k: data[k] for k in ("connect", "read", "write", "timeout") if data[k]},
        "latency": {"count": len(ok_ids), "p50_ms": data["p50_us"] / 1000,
                    "p90_ms": data["p90_us"] / 1000, "p99_ms": data["p99_us"] / 1000,
                    "max_ms": data["max_us"] / 1000, "mean_ms": round(data["mean_us"] / 1000, 3)},
        "generator_cpu_seconds": round(after.ru_utime + after.ru_stime
                                       - usage.ru_utime - usage.ru_stime, 1),
        "machine_cpu_busy_pct": busy_pct(before, cpu_busy()),
        "unanswered_at_stop": len(unanswered) - non_200,
    }, ok_ids, unanswered
