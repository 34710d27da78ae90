"""SQLite locked by another connection, or read under a long snapshot: erasure and purge stay sane.

A connection holding ``BEGIN EXCLUSIVE`` (a stuck process, a backup) makes writes give up after
the busy timeout: the API answers 503 and the commands print one ``Error:`` line, nothing
changed. A reader's open snapshot (a notebook, the sqlite3 shell) keeps the WAL from being
truncated: the erasure still returns within seconds without stalling writers, and the erased
values leave the WAL once the reader is gone.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from fraudscreen.api import create_app
from fraudscreen.config import Settings
from fraudscreen.errors import StoreError
from fraudscreen.logs import reset_logging
from fraudscreen.privacy import purge
from fraudscreen.privacy.commands import erase as erase_command
from fraudscreen.privacy.commands import purge as purge_command
from fraudscreen.profile import EntityKeys
from fraudscreen.store import OrderRecord, Store, checkpoint

from helpers import auth, make_settings

ACCOUNT = "acct-lock-q3"
DEVICE = "dev-wal-secret-5e1f77"
LOCKED = ("the database is locked by another connection (gave up after 0.2 s); "
          "nothing in it was changed")
T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 200 ms busy timeout (the default waits 10 s for a lock); read when a connection opens."""
    monkeypatch.setattr("fraudscreen.store.base.SQLITE_BUSY_TIMEOUT_MS", 200)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh, migrated SQLite file: the locks under test are SQLite's (conftest's
    ``settings``, ``store`` and ``client`` run on both backends)."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'var' / 'fraudscreen.db'}")
    store = Store(settings.resolved_database_url)
    store.upgrade()
    store.close()
    return settings


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store(settings.resolved_database_url)
    yield store
    store.close()


@pytest.fixture
def client(settings: Settings) -> Iterator[FlaskClient]:
    app = create_app(settings)
    yield app.test_client()
    reset_logging()
    app.extensions["fraudscreen"].store.close()


def _db(settings: Settings) -> Path:
    return settings.data_dir / "fraudscreen.db"


@contextmanager
def held(db: Path, begin: str) -> Iterator[None]:
    """Another connection inside ``begin`` until the block ends: ``BEGIN EXCLUSIVE`` holds the
    write lock, ``BEGIN`` a read snapshot (taken by its first SELECT)."""
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute(begin)
        other.execute("SELECT count(*) FROM orders").fetchone()
        yield
    finally:
        other.close()  # rolls back


def _record(n: int, account: str, device: str) -> OrderRecord:
    t = T0 + timedelta(minutes=n)
    return OrderRecord(order_id=f"ord-{n}", transaction_id=f"tx-{n}", account_id=account,
                       event_time=t, received_at=t, account_created_at=None, amount=10.0,
                       currency="USD", amount_usd=10.0,
                       entities=EntityKeys(ip="192.0.2.7", device_id=device),
                       ip_country="GB", decision="accept", risk_score=1.0)


def _orders_of(db: Path, account: str) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM orders WHERE account_id = ?", (account,))
        return int(row.fetchone()[0])


def _raw(db: Path) -> bytes:
    """The database file and its -wal/-shm, byte for byte."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(f"{db.name}*")))


def _wal(db: Path) -> bytes:
    wal = db.with_name(f"{db.name}-wal")
    return wal.read_bytes() if wal.exists() else b""


def test_erase_endpoint_answers_503_while_another_connection_holds_the_lock(
    client: FlaskClient, settings: Settings
) -> None:
    store = client.application.extensions["fraudscreen"].store
    admin = auth(store.create_api_key("admin", ["admin"])[1])
    store.save_order(_record(1, ACCOUNT, DEVICE))  # not scored: a first screening loads GeoIP data
    with held(_db(settings), "BEGIN EXCLUSIVE"):
        locked = client.delete(f"/v1/accounts/{ACCOUNT}", headers=admin)
    assert locked.status_code == 503, locked.get_data(as_text=True)
    error = locked.get_json()["error"]
    assert error["code"] == "store_unavailable" and LOCKED in error["message"]
    assert locked.headers["Retry-After"] == "1"  # a lock is let go: the client may try again
    assert _orders_of(_db(settings), ACCOUNT) == 1
    erased = client.delete(f"/v1/accounts/{ACCOUNT}", headers=admin)
    assert erased.status_code == 200, erased.get_json()
    assert erased.get_json()["removed"]["orders"] == 1 and _orders_of(_db(settings), ACCOUNT) == 0


@pytest.mark.parametrize(("command", "args"),
                         [(erase_command, [ACCOUNT, "--yes"]), (purge_command, [])],
                         ids=["erase", "purge"])
def test_erase_and_purge_commands_print_one_error_line_while_the_database_is_locked(
    settings: Settings, store: Store, command: click.Command, args: list[str]
) -> None:
    store.save_order(_record(1, ACCOUNT, DEVICE))
    runner = CliRunner()
    with held(_db(settings), "BEGIN EXCLUSIVE"):
        locked = runner.invoke(command, args, obj=settings)
    assert locked.exit_code == 1 and isinstance(locked.exception, SystemExit), locked.output
    assert locked.output.splitlines() == [f"Error: {LOCKED}, try again later"], locked.output
    done = runner.invoke(command, args, obj=settings)
    assert done.exit_code == 0, done.output
    assert isinstance(json.loads(done.output), dict)


def test_a_locked_database_fails_erasure_and_purge_cleanly_and_reads_go_on(
    settings: Settings, store: Store
) -> None:
    """The write transactions themselves (the commands above stop earlier, at their upgrade)."""
    store.save_order(_record(1, ACCOUNT, DEVICE))
    with held(_db(settings), "BEGIN EXCLUSIVE"):
        with pytest.raises(StoreError, match=re.escape(LOCKED)):
            store.erase_account(ACCOUNT)
        with pytest.raises(StoreError, match="locked by another connection"):
            purge(store, settings)
        assert store.account_identifiers(ACCOUNT).order_ids == ("ord-1",)  # WAL: readers go on
    assert store.erase_account(ACCOUNT).removed["orders"] == 1


def _write_while(task: Callable[[], object], store: Store) -> list[float]:
    """Save orders of another account while ``task`` runs in a thread: each save's seconds."""
    thread = threading.Thread(target=task)
    thread.start()
    took, n = [], 100
    while thread.is_alive():
        started = time.monotonic()
        store.save_order(_record(n, "acct-busy-shop", f"dev-shop-{n}"))
        took.append(time.monotonic() - started)
        n += 1
        time.sleep(0.01)
    thread.join()
    return took


def test_an_erasure_under_an_open_snapshot_returns_fast_and_the_next_scrub_truncates_the_wal(
    settings: Settings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    db = _db(settings)
    for n in range(3):
        store.save_order(_record(n, ACCOUNT, DEVICE))
    with held(db, "BEGIN"):
        started = time.monotonic()
        store.erase_account(ACCOUNT)
        assert time.monotonic() - started < 5  # was 20 tries of the 10 s busy timeout
        results: list[bool] = []
        took = _write_while(lambda: results.append(store.scrub()), store)
        assert results == [False] and max(took) < 1.0, took  # writers waited 7-10 s each
        assert DEVICE.encode() in _wal(db), "the test needs the erased pages still in the WAL"
    assert "the WAL could not be truncated: readers kept it busy" in caplog.text
    assert store.scrub() is True
    assert _wal(db) == b"", "the scrub did not truncate the WAL"
    assert DEVICE.encode() not in _raw(db), "the erased device id is still in the files"


def test_the_checkpoint_thread_truncates_the_wal_once_the_reader_is_gone(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "SCRUB_RETRY_SECONDS", 0.1)
    monkeypatch.setattr("fraudscreen.store.base.SCRUB_SECONDS", 0.2)  # its bound is tested above
    db, store = _db(settings), Store(settings.resolved_database_url)
    try:
        checkpointer = store._checkpointer
        assert checkpointer is not None
        for n in range(3):
            store.save_order(_record(n, ACCOUNT, DEVICE))
        with held(db, "BEGIN"):
            store.erase_account(ACCOUNT)
            assert checkpointer.truncation_pending
            tries = checkpointer.checkpoints
            time.sleep(0.5)  # the thread retries and fails meanwhile, without spinning
            assert 1 <= checkpointer.checkpoints - tries <= 8
            assert checkpointer.truncation_pending and DEVICE.encode() in _wal(db)
        deadline = time.monotonic() + 5
        while checkpointer.truncation_pending and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not checkpointer.truncation_pending
        assert _wal(db) == b"", "the retry did not truncate the WAL"
        assert DEVICE.encode() not in _raw(db), "the erased device id is still in the files"
    finally:
        store.close()


def test_a_truncation_left_by_an_exited_process_is_done_by_the_next_purge(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fraudscreen erase`` from a shell exits with its retry; the service goes on writing
    (SQLite reuses the WAL, it does not cut it) and its next purge truncates the WAL."""
    monkeypatch.setattr("fraudscreen.store.base.SCRUB_SECONDS", 0.2)
    db = _db(settings)
    for n in range(3):
        store.save_order(_record(n, ACCOUNT, DEVICE))
    cli = Store(settings.resolved_database_url)
    with held(db, "BEGIN"):
        assert cli.erase_account(ACCOUNT).removed["orders"] == 3
        cli.close()  # the process ends, its retry with it
    for n in range(100, 110):
        store.save_order(_record(n, "acct-busy-shop", f"dev-shop-{n}"))
    assert DEVICE.encode() in _raw(db), "the test needs the erased pages still in the WAL"
    purge(store, settings)
    assert _wal(db) == b"", "the purge did not truncate the WAL"
    assert DEVICE.encode() not in _raw(db), "the erased device id is still in the files"
