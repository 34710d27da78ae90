"""When the database cannot take the write, the answer still comes, says so, and nothing is half-stored."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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

from helpers import auth, make_settings, order_body


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
    dsn = sa.make_url(store_url).set(drivername="postgresql").render_as_string(hide_password=False)
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
