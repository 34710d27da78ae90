"""When the database cannot take the write, the answer still comes, says so, and nothing is half-stored."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from fraudscreen.api import create_app
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


@pytest.mark.parametrize("store_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_postgres_lock_held_by_a_long_job_does_not_hang_scoring(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job holding a lock on `accounts` (a long migration, a stuck session) would hold the
    history read and the write forever; the server cancels each after the statement timeout
    (300 ms here, 10 s by default) and the order is answered degraded and not stored."""
    import time

    import psycopg
    import sqlalchemy as sa

    monkeypatch.setattr("fraudscreen.store.fastpath.STATEMENT_TIMEOUT_MS", 300)
    app = create_app(make_settings(tmp_path, store_url))
    store = app.extensions["fraudscreen"].store
    client = app.test_client()
    key = store.create_api_key("checkout", ["score"])[1]
    body = order_body(event__transaction_id="t-pg-locked")
    dsn = sa.make_url(store_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(dsn) as blocker:
            # without the timeout the request would wait until the server ends this session
            blocker.execute("SET idle_in_transaction_session_timeout = '8s'")
            blocker.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")  # held until the block ends
            started = time.monotonic()
            response = client.post("/v1/score", json=body, headers=auth(key))
            took = time.monotonic() - started
            blocker.rollback()
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
    finally:
        reset_logging()
        store.close()
