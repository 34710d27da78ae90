"""When the database cannot take the write, the answer still comes, says so, and nothing is half-stored."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from fraudscreen.api import create_app
from fraudscreen.errors import StoreError
from fraudscreen.logs import reset_logging
from fraudscreen.store import Store

from helpers import (
    auth,
    backend_pids,
    libpq_dsn,
    make_settings,
    named_connections,
    order_body,
    stopped,
)


@pytest.fixture
def locked_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FlaskClient, Path]]:
    """The app on SQLite with a 200 ms busy timeout (the default waits 10 s for the lock)."""
    monkeypatch.setattr("fraudscreen.store.base.SQLITE_BUSY_TIMEOUT_MS", 200)
    db = tmp_path / "fs.db"
    settings = make_settings(tmp_path, f"sqlite:///{db}")
    Store(settings.resolved_database_url).upgrade()
    app = create_app(settings)
    yield app.test_client(), db
    reset_logging()
    app.extensions["fraudscreen"].store.close()


def _count(db: Path, transaction_id: str) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM orders WHERE transaction_id = ?", (transaction_id,))
        return int(row.fetchone()[0])


def test_a_locked_database_gives_an_answer_marked_not_stored(
    locked_client: tuple[FlaskClient, Path], caplog: pytest.LogCaptureFixture
) -> None:
    client, db = locked_client
    store = client.application.extensions["fraudscreen"].store
    key = store.create_api_key("checkout", ["score"])[1]
    body = order_body(event__transaction_id="t-locked", email__address="locked.buyer@example.org")
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the write lock, as a stuck process would
    try:
        caplog.set_level(logging.INFO)
        response = client.post("/v1/score", json=body, headers=auth(key))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["decision"] in ("accept", "review", "reject")
    assert "not_stored" in [w["code"] for w in answer["warnings"]]
    assert _count(db, "t-locked") == 0  # nothing half-written: no order, links or account
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM order_entities").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0
    assert "order not stored" in caplog.text and "locked.buyer@example.org" not in caplog.text
    # the checkout retries once the database is free: stored once, no warning
    again = client.post("/v1/score", json=body, headers=auth(key))
    assert again.status_code == 200
    assert "not_stored" not in [w["code"] for w in again.get_json()["warnings"]]
    assert _count(db, "t-locked") == 1
    assert client.post("/v1/score", json=body, headers=auth(key)).get_json()["id"] == again.get_json()["id"]



ON_POSTGRES = pytest.mark.parametrize(
    "store_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


@pytest.fixture
def pg_app(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app on PostgreSQL with a 300 ms statement timeout (the default is 10 s)."""
    monkeypatch.setattr("fraudscreen.store.fastpath.STATEMENT_TIMEOUT_MS", 300)
    app = create_app(make_settings(tmp_path, store_url))
    yield app
    reset_logging()
    app.extensions["fraudscreen"].store.close()


def _while_locked(store_url: str, table: str, request: Callable[[], TestResponse]) -> tuple[TestResponse, float]:
    """``request()``'s answer and seconds while another session holds ``table`` locked (a long
    migration, a stuck session). Without a timeout the request would wait until the server ends
    that session, after 8 s."""
    dsn = libpq_dsn(store_url)
    with psycopg.connect(dsn) as blocker:
        blocker.execute("SET idle_in_transaction_session_timeout = '8s'")
        blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # held until the block ends
        started = time.monotonic()
        response = request()
        took = time.monotonic() - started
        blocker.rollback()
    return response, took


@ON_POSTGRES
def test_a_postgres_lock_held_by_a_long_job_does_not_hang_scoring(pg_app: Flask, store_url: str) -> None:
    """The history read and the write would wait for the lock on `accounts` forever; the server
    cancels each after the statement timeout and the order is answered degraded, not stored."""
    store, client = pg_app.extensions["fraudscreen"].store, pg_app.test_client()
    key = store.create_api_key("checkout", ["score"])[1]
    body = order_body(event__transaction_id="t-pg-locked")
    response, took = _while_locked(
        store_url, "accounts", lambda: client.post("/v1/score", json=body, headers=auth(key)))
    assert response.status_code == 200 and took < 5, took
    answer = response.get_json()
    assert answer["decision"] == "review"
    assert "HISTORY_UNAVAILABLE" in [r["code"] for r in answer["reasons"]]
    assert "not_stored" in [w["code"] for w in answer["warnings"]]
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar() == 0
        # the limit was the request transactions' own: other work keeps none
        conn.execute(sa.text("SELECT pg_sleep(0.5)"))
    again = client.post("/v1/score", json=body, headers=auth(key)).get_json()
    assert again["disposition"] != "degraded" and not again["warnings"]


@ON_POSTGRES
def test_other_requests_give_up_on_a_postgres_lock_and_jobs_keep_no_limit(
    pg_app: Flask, store_url: str
) -> None:
    """An outcome report waits for the lock on `outcomes` no longer than the statement timeout
    (503, nothing recorded); the store's jobs (retention, the training export) set no limit."""
    store, client = pg_app.extensions["fraudscreen"].store, pg_app.test_client()
    keys = {s: store.create_api_key(s, [s])[1] for s in ("score", "outcomes")}
    scored = client.post("/v1/score", json=order_body(event__transaction_id="t-pg-outcome"),
                         headers=auth(keys["score"])).get_json()
    url = f"/v1/orders/{scored['id']}/outcome"
    response, took = _while_locked(store_url, "outcomes", lambda: client.post(
        url, json={"outcome": "chargeback"}, headers=auth(keys["outcomes"])))
    assert response.status_code == 503 and took < 5, (response.status_code, took)
    assert store.get_order(scored["id"]).outcome is None
    assert client.post(url, json={"outcome": "chargeback"}, headers=auth(keys["outcomes"])).status_code == 200
    with pytest.raises(StoreError), store._read() as conn:  # a request's read: limited
        conn.execute(sa.text("SELECT pg_sleep(0.5)"))
    with store._read(limited=False) as conn:  # a job's: not
        conn.execute(sa.text("SELECT pg_sleep(0.5)"))
    with store._write(limited=False) as conn:
        conn.execute(sa.text("SELECT pg_sleep(0.5)"))


@ON_POSTGRES
@pytest.mark.parametrize("call", ["fast path", "store call", "job"])
def test_a_postgres_backend_that_stops_answering_mid_transaction_is_cut_at_the_deadline(
    store_url: str, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    """A backend stopped between two statements answers neither them nor its statement timeout,
    and psycopg waited for ever. A request's transaction (the fast path, the store's other
    calls) now has its connection cut at the deadline: StoreError, and the next call gets a new
    connection. A job's (retention, the export) keeps no deadline: it waits for the server."""
    monkeypatch.setattr("fraudscreen.store.deadline.TRANSACTION_DEADLINE_SECONDS", 1.0)
    store = Store(store_url)
    waited = 0.0
    try:
        if call == "fast path":
            with pytest.raises(StoreError), store._fast.transaction(write=False) as cur:
                cur.execute("SELECT pg_backend_pid()")
                with stopped([cur.fetchone()[0]]):
                    started = time.monotonic()
                    try:
                        cur.execute("SELECT 1")
                    finally:
                        waited = time.monotonic() - started
        else:
            with ExitStack() as stack:
                if call == "store call":
                    stack.enter_context(pytest.raises(StoreError))
                conn = stack.enter_context(store._read(limited=call != "job"))
                pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
                if call == "job":  # woken after 2.5 s, past the deadline: it answers then
                    threading.Timer(2.5, os.kill, (pid, signal.SIGCONT)).start()
                with stopped([pid]):
                    started = time.monotonic()
                    try:
                        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
                    finally:
                        waited = time.monotonic() - started
        if call == "job":
            assert waited > 2.0
        else:
            assert 0.9 < waited < 3.0, waited
        with store._read() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        store.close()


@ON_POSTGRES
@pytest.mark.parametrize("what_stops", ["its connections", "the whole server"])
def test_scoring_answers_in_time_when_the_postgres_server_stops_answering(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: Any,
    what_stops: str,
) -> None:
    """The pooled connections' server processes stopped: the ping before the history read is
    cut at the deadline and the pool opens a new connection, so the order is screened and
    stored as usual. The whole server stopped (no new connection opens either): the answer
    comes degraded and not stored, instead of never."""
    monkeypatch.setattr("fraudscreen.store.deadline.TRANSACTION_DEADLINE_SECONDS", 1.0)
    monkeypatch.setattr("fraudscreen.store.location.CONNECT_TIMEOUT_SECONDS", 1)
    name = f"fraudscreen-stop-{what_stops[:3]}"
    app = create_app(make_settings(tmp_path, named_connections(store_url, name)))
    try:
        client = app.test_client()
        key = app.extensions["fraudscreen"].store.create_api_key("checkout", ["score"])[1]
        first = client.post("/v1/score", json=order_body(event__transaction_id="t-warm"), headers=auth(key))
        assert first.status_code == 200 and not first.get_json()["warnings"]
        processes = backend_pids(store_url, name)
        if what_stops == "the whole server":
            processes.append(int((postgres_server.data_dir / "postmaster.pid").read_text().split()[0]))
        assert processes
        body = order_body(event__transaction_id="t-stopped")
        with stopped(processes):
            started = time.monotonic()
            response = client.post("/v1/score", json=body, headers=auth(key))
            took = time.monotonic() - started
        assert response.status_code == 200
        answer = response.get_json()
        warnings = [w["code"] for w in answer["warnings"]]
        with app.extensions["fraudscreen"].store.engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM orders WHERE transaction_id = 't-stopped'")).scalar()
        if what_stops == "its connections":
            assert took < 4, took
            assert not warnings and stored == 1
        else:
            assert took < 9, took  # two transactions: each its deadline, then a connect timeout
            assert "not_stored" in warnings and stored == 0
            assert "HISTORY_UNAVAILABLE" in [r["code"] for r in answer["reasons"]]
    finally:
        reset_logging()
        app.extensions["fraudscreen"].store.close()


@ON_POSTGRES
def test_a_commit_cut_at_the_deadline_is_reported_as_perhaps_stored(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server stopped once it has the COMMIT (a disk that stalls on the WAL flush) commits when
    it runs again, though the connection was cut: the store reports CommitUnknownError, not a
    plain failure, and screening's `not_stored` warning says the order may have been stored."""
    from fraudscreen.errors import CommitUnknownError

    monkeypatch.setattr("fraudscreen.store.deadline.TRANSACTION_DEADLINE_SECONDS", 1.0)
    dsn = libpq_dsn(store_url)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("CREATE TABLE commit_probe (id integer)")
    store = Store(store_url)
    try:
        pid = 0
        with pytest.raises(CommitUnknownError), store._fast.transaction(write=True) as cur:
            cur.execute("INSERT INTO commit_probe VALUES (1)")
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
            os.kill(pid, signal.SIGSTOP)  # the COMMIT after this block reaches it, unanswered
        os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        with psycopg.connect(dsn) as reader:
            while not reader.execute("SELECT count(*) FROM commit_probe").fetchone()[0]:
                reader.rollback()
                assert time.monotonic() < deadline, "the server never committed"
                time.sleep(0.1)
    finally:
        with suppress(ProcessLookupError):  # it ended once it found its connection gone
            os.kill(pid, signal.SIGCONT)
        store.close()


@ON_POSTGRES
def test_an_order_whose_commit_was_cut_is_answered_perhaps_stored_and_a_retry_finds_it(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same at the score endpoint: the server process stops as the order's COMMIT reaches
    it. The answer comes at the deadline with the `not_stored` warning saying the order may have
    been stored; the server commits once it runs again, and the checkout's retry gets the
    stored answer, without a warning and without a second order."""
    from fraudscreen.screening import UNKNOWN_IF_STORED
    from fraudscreen.store.fastpath import FastPath

    monkeypatch.setattr("fraudscreen.store.deadline.TRANSACTION_DEADLINE_SECONDS", 1.0)
    paused: list[int] = []
    commit = FastPath._commit

    def stop_then_commit(self: FastPath, pooled: Any) -> None:
        if not paused:  # the first commit: the order's
            paused.append(pooled.dbapi_connection.info.backend_pid)
            os.kill(paused[0], signal.SIGSTOP)
        commit(self, pooled)

    app = create_app(make_settings(tmp_path, store_url))
    try:
        client = app.test_client()
        key = app.extensions["fraudscreen"].store.create_api_key("checkout", ["score"])[1]
        client.post("/v1/score", json=order_body(event__transaction_id="t-warm"), headers=auth(key))
        body = order_body(event__transaction_id="t-commit-cut")
        monkeypatch.setattr(FastPath, "_commit", stop_then_commit)
        try:
            started = time.monotonic()
            answer = client.post("/v1/score", json=body, headers=auth(key)).get_json()
            took = time.monotonic() - started
        finally:
            for pid in paused:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        assert paused and took < 3, took
        assert {"code": "not_stored", "message": UNKNOWN_IF_STORED, "input_pointer": None} in answer["warnings"]
        store = app.extensions["fraudscreen"].store
        deadline = time.monotonic() + 10
        while store.find_by_transaction("t-commit-cut") is None:
            assert time.monotonic() < deadline, "the server never committed"
            time.sleep(0.1)
        again = client.post("/v1/score", json=body, headers=auth(key)).get_json()
        assert again["id"] == answer["id"] and not again["warnings"]
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar() == 2  # and t-warm
    finally:
        reset_logging()
        app.extensions["fraudscreen"].store.close()
