"""The production server for real: ``fraudscreen serve`` (gunicorn) over HTTP, and the CLI's help."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from fraudscreen.api import create_app
from fraudscreen.cli import main as cli_main
from fraudscreen.config import PACKAGE_DIR, REPO_DIR
from fraudscreen.server import FraudscreenServer, warm_up
from fraudscreen.store import Store

from helpers import MAXMIND, fraudscreen_command, make_settings, order_body

STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``fraudscreen serve`` and what it printed at start."""

    process: subprocess.Popen[str]
    port: int
    env: dict[str, str]
    data_dir: Path
    first_key: str

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _stdout_lines(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        assert server.process.poll() is None, "the server exited during start-up"
        try:
            with urllib.request.urlopen(server.url("/readyz"), timeout=2) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    pytest.fail("the server did not become ready")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("server") / "var") as running:
        yield running


@contextmanager
def serving(data_dir: Path, *args: str, **env_settings: str) -> Iterator[Server]:
    """``fraudscreen serve`` on a free port with the MaxMind test databases, until SIGTERM;
    ``env_settings`` adds ``FRAUDSCREEN_<NAME>`` variables, ``args`` options of ``serve``."""
    inherited = {k: v for k, v in os.environ.items()
                 if k not in ("FRAUDSCREEN_CONFIG", "FRAUDSCREEN_DATABASE_URL")}
    env = {
        **inherited,
        "PYTHONUNBUFFERED": "1",
        "FRAUDSCREEN_DATA_DIR": str(data_dir),
        "FRAUDSCREEN_GEOIP_CITY_PATH": str(MAXMIND / "GeoIP2-City-Test.mmdb"),
        "FRAUDSCREEN_GEOIP_ASN_PATH": str(MAXMIND / "GeoLite2-ASN-Test.mmdb"),
        "FRAUDSCREEN_GEOIP_ANONYMOUS_IP_PATH": str(MAXMIND / "GeoIP2-Anonymous-IP-Test.mmdb"),
        "FRAUDSCREEN_LOG_LEVEL": "WARNING",
        **{f"FRAUDSCREEN_{name.upper()}": value for name, value in env_settings.items()},
    }
    port = free_port()
    process = subprocess.Popen(
        [*fraudscreen_command(), "serve", "--port", str(port), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        lines = _stdout_lines(process)
        printed: list[str] = []
        while len(printed) < 2:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"serve printed only {printed!r}"
            printed.append(line)
        assert "first API key" in printed[0]
        server = Server(process, port, env, data_dir, first_key=printed[1].strip())
        _wait_ready(server, deadline)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("the server did not stop within 15 s of SIGTERM")
    assert code == 0, f"gunicorn exited with {code} on SIGTERM"


def post_score(server: Server, key: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url("/v1/score"), data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def stored_counts(server: Server) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{server.data_dir / 'fraudscreen.db'}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT transaction_id, count(*) FROM orders GROUP BY transaction_id"))
    finally:
        conn.close()


def create_key(server: Server, name: str) -> str:
    done = subprocess.run([*fraudscreen_command(), "apikeys", "create", "--name", name],
                          env=server.env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    assert key.startswith("fs_") and " " not in key
    return key


def test_first_start_key_scores_an_order_with_its_location(server: Server) -> None:
    status, data = post_score(server, server.first_key, order_body(event__transaction_id="srv-1"))
    assert status == 200, data
    assert data["order_id"] == "srv-1"
    assert data["ip_location"]["country"] == "GB"
    assert data["decision"] in ("accept", "review", "reject")
    assert stored_counts(server)["srv-1"] == 1


def test_requests_need_a_valid_key(server: Server) -> None:
    assert post_score(server, "fs_not_a_key", order_body())[0] == 401


def test_created_key_survives_a_concurrent_burst_storing_each_order_once(server: Server) -> None:
    key = create_key(server, "x")
    ids = [f"burst-{i}" for i in range(200)]
    bodies = [order_body(event__transaction_id=ids[i], account__user_id=f"acct-{i % 20}",
                         device__ip_address=f"81.2.69.{142 + i % 3}") for i in range(len(ids))]

    def send(i: int) -> int:
        return post_score(server, key, bodies[i])[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(len(ids))))
    assert statuses.count(200) == len(ids), sorted(set(statuses))
    counts = stored_counts(server)
    assert [counts.get(t, 0) for t in ids] == [1] * len(ids)
    # The same transaction id again is answered from the store, not stored twice.
    assert post_score(server, key, bodies[0])[0] == 200
    assert stored_counts(server)[ids[0]] == 1


@pytest.mark.parametrize("store_url", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_serve_on_postgresql_stores_a_concurrent_burst_once_each(tmp_path: Path, store_url: str) -> None:
    """The production server on PostgreSQL: forked workers, each with its own pool, its pings
    and its deadline watchdog (started again in each worker), answer a burst and store each
    order once."""
    import sqlalchemy as sa

    with serving(tmp_path / "var", database_url=store_url) as running:
        ids = [f"pg-burst-{i}" for i in range(60)]
        bodies = [order_body(event__transaction_id=t, account__user_id=f"acct-{i % 7}")
                  for i, t in enumerate(ids)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda b: post_score(running, running.first_key, b)[0], bodies))
        assert statuses == [200] * len(ids)
        with urllib.request.urlopen(running.url("/readyz"), timeout=5) as response:
            assert response.status == 200
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            counts = dict(conn.execute(sa.text(
                "SELECT transaction_id, count(*) FROM orders GROUP BY transaction_id")).all())
    finally:
        engine.dispose()
    assert [counts.get(t, 0) for t in ids] == [1] * len(ids)


def _scored_total(server: Server) -> float:
    """``fraudscreen_http_requests_total`` for 200 answers of /v1/score, as one scrape reports it."""
    with urllib.request.urlopen(server.url("/metrics"), timeout=5) as response:
        text = response.read().decode()
    prefix = 'fraudscreen_http_requests_total{endpoint="/v1/score",status="200"} '
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_metrics_add_up_over_the_workers(server: Server) -> None:
    before = _scored_total(server)

    def send(i: int) -> int:
        return post_score(server, server.first_key, order_body(event__transaction_id=f"m-{i}"))[0]

    metrics_dir = server.data_dir / "run" / "metrics"
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent: both workers take a share
        # gunicorn does not promise an even share: on a busy machine one worker may accept a
        # whole batch, so send batches until both have counted requests (or give up).
        while sent < 600 and (sent == 0 or len(list(metrics_dir.glob("counter_*.db"))) < 2):
            assert list(pool.map(send, range(sent, sent + 60))) == [200] * 60
            sent += 60
    assert len(list(metrics_dir.glob("counter_*.db"))) >= 2  # both workers counted requests
    # Whichever worker answers a scrape reports the sum of both, not its own share.
    totals = {_scored_total(server) for _ in range(12)}
    assert totals == {before + sent}


def test_metrics_show_every_decision_and_rule_error_series_before_it_happens(
    server: Server,
) -> None:
    """An alert on ``fraudscreen_rule_errors_total`` sees 0 for each rule of the loaded file,
    not an absent series, until the rule fails (the default rules never do here)."""
    from prometheus_client.parser import text_string_to_metric_families

    from fraudscreen.rules import RuleSet

    with urllib.request.urlopen(server.url("/metrics"), timeout=5) as response:
        families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
    errors = {s.labels["rule"]: s.value for s in families["fraudscreen_rule_errors"].samples
              if s.name == "fraudscreen_rule_errors_total"}
    enabled = {rule.id for rule in RuleSet.load_default().rules if rule.enabled}
    assert errors == dict.fromkeys(enabled, 0.0)
    decisions = {s.labels["decision"] for s in families["fraudscreen_decisions"].samples
                 if s.name == "fraudscreen_decisions_total"}
    assert decisions == {"accept", "review", "reject"}


def _all_commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _all_commands(command, (*path, name))


def test_every_command_has_help(tmp_path: Path) -> None:
    done = subprocess.run([*fraudscreen_command(), "--help"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and "serve" in done.stdout
    runner = CliRunner()
    commands = list(_all_commands(cli_main))
    assert ("serve",) in commands and ("apikeys", "create") in commands
    for path in commands:
        result = runner.invoke(cli_main, ["--data-dir", str(tmp_path), *path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_warm_up_screens_without_storing_and_options_reach_gunicorn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fs.db'}"
    store = Store(url)
    store.upgrade()
    settings = make_settings(tmp_path, url, workers=3)
    app = create_app(settings)
    assert warm_up(app) > 0
    assert store.find_by_transaction("warm-up") is None
    with sqlite3.connect(tmp_path / "fs.db") as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
    store.close()
    server = FraudscreenServer(settings, {"threads": 4})
    assert (server.cfg.workers, server.cfg.threads, server.cfg.worker_class_str) == (3, 4, "gthread")
    assert server.cfg.post_worker_init is not None


def _put_in_place(source: bytes, target: Path) -> None:
    """As the README says: write beside the configured file, then rename over it."""
    partial = target.with_name(target.name + ".new")
    partial.write_bytes(source)
    os.replace(partial, target)


def test_sighup_reloads_model_and_rules_in_every_worker_while_answering(tmp_path: Path) -> None:
    from fraudscreen.model import ModelBundle
    from fraudscreen.rules import RuleSet

    shipped = REPO_DIR / "models" / "default" / "model.joblib"
    if not shipped.is_file():
        pytest.skip("no shipped model bundle")
    bundle = ModelBundle.load(shipped)
    model, rules = tmp_path / "models" / "model.joblib", tmp_path / "rules.toml"
    bundle.version = "hup-a"
    bundle.save(model)
    bundle.version = "hup-b"
    bundle.save(tmp_path / "models" / "next.joblib")
    default_rules = (PACKAGE_DIR / "rules" / "default.toml").read_text(encoding="utf-8")
    old_version = RuleSet.loads(default_rules.encode(), name="rules.toml").version
    rules.write_text(default_rules, encoding="utf-8")
    with serving(tmp_path / "var", "--workers", "2",
                 model_path=str(model), rules_path=str(rules)) as server:
        answers: list[tuple[float, int, str, str]] = []  # (answered at, status, model, rules)
        stop = threading.Event()

        def keep_scoring(worker: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                status, body = post_score(server, server.first_key,
                                          order_body(event__transaction_id=f"hup-{worker}-{n}"))
                answers.append((time.monotonic(), status, body.get("model_version"),
                                body.get("rules_version")))

        clients = [threading.Thread(target=keep_scoring, args=(i,)) for i in range(4)]
        for c in clients:
            c.start()
        try:
            time.sleep(1.0)
            _put_in_place((tmp_path / "models" / "next.joblib").read_bytes(), model)
            _put_in_place(default_rules.replace(old_version, "hup-rules-b").encode(), rules)
            hup = time.monotonic()
            server.process.send_signal(signal.SIGHUP)
            deadline = hup + 30
            while time.monotonic() < deadline:  # until 20 answers in a row are all new
                recent = [a for a in answers[-20:] if a[0] > hup]
                if len(recent) == 20 and all(a[2:] == ("hup-b", "hup-rules-b") for a in recent):
                    break
                time.sleep(0.2)
            time.sleep(1.0)
        finally:
            stop.set()
            for c in clients:
                c.join()
        assert {a[1] for a in answers} == {200}
        after = [a for a in answers if a[0] > hup]
        assert after[-20:] and all(a[2:] == ("hup-b", "hup-rules-b") for a in after[-20:]), after[-20:]
        assert answers[0][2:] == ("hup-a", old_version)
        done = [hup] + [a[0] for a in after]
        longest_wait = max(b - a for a, b in pairwise(done))
        # gunicorn's own reload replaced the workers: no answer for seconds (14 s with 3 workers)
        assert longest_wait < 2.0, f"no answer for {longest_wait:.1f} s after SIGHUP"


def _raw_request(server: Server, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library would send these) and read the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(data)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (b"GET /v1/orders/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET /x?card=4111 1111 1111 1111 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n", 431, "request_header_fields_too_large"),
])
def test_requests_gunicorn_cannot_read_get_a_json_error_that_echoes_nothing(
    server: Server, request_bytes: bytes, status: int, code: str
) -> None:
    got, headers, body = _raw_request(server, request_bytes)
    assert got == status and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == code and error["details"] == [] and "4111" not in body.decode()
