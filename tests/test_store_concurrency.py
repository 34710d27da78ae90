"""Concurrent writers on one store (SQLite and PostgreSQL): outcome reports, erasure, scoring.

Real threads on a real database: PostgreSQL runs these at read committed with row locks, so
the order in which transactions take their locks decides between right, wrong and deadlock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from fraudscreen.errors import FraudscreenError, NotFoundError, StaleHistoryError
from fraudscreen.profile import EntityKeys
from fraudscreen.schema import parse_order
from fraudscreen.screening import Screener
from fraudscreen.store import OrderRecord, Store
from fraudscreen.store.tables import audit_log

from helpers import make_settings, order_body

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
OUTCOMES = ("chargeback", "fraud", "not_fraud", "refund")


def _record(n: int, t: datetime, account: str) -> OrderRecord:
    return OrderRecord(order_id=f"o{n}", transaction_id=f"t{n}", account_id=account, event_time=t,
                       received_at=t, account_created_at=None, amount=10.0, currency="USD",
                       amount_usd=10.0, entities=EntityKeys(ip="10.0.0.1"), ip_country="GB",
                       decision="accept", risk_score=1.0)


def _run_together(targets: list[Callable[[], object]]) -> list[BaseException]:
    """Start every target at once (a barrier) in its own thread; the exceptions they raised."""
    barrier, errors = threading.Barrier(len(targets)), []

    def run(target: Callable[[], object]) -> None:
        barrier.wait()
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_outcome_reports_keep_the_latest_reported_at(store: Store) -> None:
    """Of several reports of one order the latest ``reported_at`` is the order's outcome, in
    whatever order the reports commit (PostgreSQL kept an earlier one in 11 of 15 rounds)."""
    wrong = []
    for n in range(15):
        store.save_order(_record(n, T0, f"acct-{n}"))
        reports = [(OUTCOMES[i % 4], T0 + timedelta(hours=i + 1)) for i in range(8)]
        errors = _run_together([
            (lambda o=o, t=t, n=n: store.record_outcome(f"o{n}", o, t)) for o, t in reversed(reports)
        ])
        assert not errors, errors
        stored = store.get_order(f"o{n}")
        assert stored is not None
        if (stored.outcome, stored.outcome_at) != reports[-1]:
            wrong.append(n)
    assert not wrong, f"orders {wrong} keep an earlier report as their outcome"


def test_outcome_reports_racing_an_erasure_get_the_order_or_404(store: Store) -> None:
    """An outcome report and an erasure of its account never deadlock (PostgreSQL did: the
    report locked the order then the account, the erasure the account then the orders)."""
    failures: list[BaseException] = []
    for n in range(8):
        account = f"acct-{n}"
        for i in range(6):
            store.save_order(_record(n * 100 + i, T0 + timedelta(minutes=i), account))
        stop = threading.Event()

        def report(order_id: str, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                try:
                    store.record_outcome(order_id, "fraud", T0 + timedelta(days=1))
                except NotFoundError:
                    return  # erased: the answer a client gets is 404
                except FraudscreenError as exc:
                    failures.append(exc)
                    return

        threads = [threading.Thread(target=report, args=(f"o{n * 100 + i}",)) for i in range(4)]
        for t in threads:
            t.start()
        try:
            store.erase_account(account)
        except FraudscreenError as exc:
            failures.append(exc)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert store.get_order(f"o{n * 100}") is None
    assert not failures, [f"{type(e).__name__}: {e}" for e in failures]


def _screener(tmp_path: Path, store_url: str) -> Screener:
    screener = Screener.from_settings(make_settings(tmp_path, store_url))
    for i in range(3):
        screener.screen(order_body(event__transaction_id=f"old-{i}", event__time=f"2026-11-20T10:0{i}:00Z"))
    return screener


def test_an_order_screened_before_an_erasure_is_not_stored_with_the_erased_history(
    tmp_path: Path, store_url: str
) -> None:
    screener = _screener(tmp_path, store_url)
    try:
        order, warnings = parse_order(order_body(event__transaction_id="new",
                                                 event__time="2026-11-20T11:00:00Z"))
        evaluation = screener.evaluate(order, warnings)  # the history holds 3 earlier orders
        assert evaluation.record.history_orders == 3
        screener.sql_store.erase_account("acct-a")
        try:
            screener.store.save_order(evaluation.record)
        except StaleHistoryError:
            pass
        else:
            raise AssertionError("an answer built on erased history was stored")
        assert screener.store.find_by_transaction("new") is None  # nothing of it was kept
        with screener.sql_store.engine.connect() as conn:  # nor the account row its upsert made
            assert conn.exec_driver_sql("SELECT count(*) FROM accounts").scalar() == 0
    finally:
        screener.store.close()


class _ErasingScreener(Screener):
    """A screener whose first evaluation is followed by an erasure of the order's account and
    new orders of it at ``new_order_times`` (another worker's), the interleaving two workers
    can produce; everything else is the real screener."""

    erased = False
    new_order_times: tuple[str, ...] = ()

    def evaluate(self, order, warnings=None, **kwargs):  # type: ignore[no-untyped-def]
        evaluation = super().evaluate(order, warnings, **kwargs)
        if not self.erased:
            self.erased = True
            self.store.erase_account(order.account.user_id)
            other = Screener(self.settings, self.parts)
            for i, at in enumerate(self.new_order_times):
                other.screen(order_body(event__transaction_id=f"after-{i}", event__time=at))
        return evaluation


def test_screen_screens_again_when_the_account_was_erased_meanwhile(tmp_path: Path, store_url: str) -> None:
    first = _screener(tmp_path, store_url)
    first.store.close()
    screener = _ErasingScreener.from_settings(make_settings(tmp_path, store_url))
    try:
        answer = screener.screen(order_body(event__transaction_id="new", event__time="2026-11-20T11:00:00Z"))
        assert screener.erased
        assert answer.response["profile"]["prior_orders"] == 0
        assert "not_stored" not in [w["code"] for w in answer.response["warnings"]]
        stored = screener.store.find_by_transaction("new")
        assert stored is not None and stored.response["profile"]["prior_orders"] == 0
    finally:
        screener.store.close()


@pytest.mark.parametrize("new_order_times", [
    ("2026-11-20T12:00:00Z", "2026-11-20T12:01:00Z"),  # more orders than the erased history
    ("2026-11-20T09:00:00Z", "2026-11-20T09:30:00Z"),  # ... and dated before all of it
])
def test_an_answer_is_not_stored_with_erased_history_after_new_orders(
    tmp_path: Path, store_url: str, new_order_times: tuple[str, ...]
) -> None:
    """The account row made again after the erasure has another generation."""
    settings = make_settings(tmp_path, store_url)
    first = Screener.from_settings(settings)
    first.screen(order_body(event__transaction_id="old-0", event__time="2026-11-20T10:00:00Z"))
    first.store.close()
    screener = _ErasingScreener.from_settings(settings)
    screener.new_order_times = new_order_times
    earlier = sum(t < "2026-11-20T11:00:00Z" for t in new_order_times)  # the new orders before it
    try:
        answer = screener.screen(order_body(event__transaction_id="new", event__time="2026-11-20T11:00:00Z"))
        stored = screener.store.find_by_transaction("new")
        assert stored is not None and stored.response["profile"]["prior_orders"] == earlier
        assert answer.response["profile"]["prior_orders"] == earlier
    finally:
        screener.store.close()


def test_outcome_reports_during_a_retention_purge_do_not_deadlock_it(store: Store) -> None:
    """The purge locks the accounts of the orders it touches first, as a report does."""
    old = datetime.now(UTC) - timedelta(days=800)
    for n in range(600):  # labelled old orders: the purge takes a while anonymising them
        store.save_order(_record(1000 + n, old + timedelta(minutes=n), f"lab-{n % 100}"))
        store.record_outcome(f"o{1000 + n}", "not_fraud", old + timedelta(minutes=n, seconds=1))
    for n in range(8):
        store.save_order(_record(n, old, f"target-{n}"))
    errors: list[BaseException] = []

    def purge() -> None:
        try:
            store.purge_orders(datetime.now(UTC) - timedelta(days=730))
        except FraudscreenError as exc:
            errors.append(exc)

    def report(order_id: str) -> None:
        try:
            store.record_outcome(order_id, "fraud", datetime.now(UTC))
        except NotFoundError:
            pass  # purged first: what a client gets is 404
        except FraudscreenError as exc:
            errors.append(exc)

    purger = threading.Thread(target=purge)
    purger.start()
    time.sleep(0.2)
    reporters = [threading.Thread(target=report, args=(f"o{n}",)) for n in range(8)]
    for t in reporters:
        t.start()
    for t in [*reporters, purger]:
        t.join()
    assert not errors, [f"{type(e).__name__}: {e}" for e in errors]


def test_an_order_stored_while_its_new_account_is_erased_is_kept_whole(store_url: str) -> None:
    """The account has no row yet when the erasure starts (its first order is in flight): the
    erasure holds a placeholder row, so that order waits and is stored afterwards, instead of
    being deleted with the account row (a cascade) without being counted or cleaned."""
    from sqlalchemy import event

    store, other = Store(store_url), Store(store_url)
    late: list[tuple[object, bool]] = []
    saver = threading.Thread(target=lambda: late.append(other.save_order(_record(7, T0, "acct-new"))))

    @event.listens_for(store.engine, "after_cursor_execute")
    def _between(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("DELETE FROM orders WHERE orders.account_id") and not saver.is_alive() and not late:
            saver.start()
            time.sleep(0.3)  # the order's transaction reaches the account row meanwhile

    try:
        result = store.erase_account("acct-new")
        saver.join()
        assert result.removed["orders"] == 0 and result.removed["accounts"] == 0
        assert late and late[0][1] is True
        assert store.get_order("o7") is not None  # stored after the erasure, not cascaded away
    finally:
        store.close()
        other.close()


def test_concurrent_adds_of_one_list_entry_create_it_once(store: Store) -> None:
    """PostgreSQL: a look before the insert let several adds see no entry (several 201s and
    ``list.add`` audit entries, the revision bumped each time); the insert itself decides."""
    def add(value: str, created: list[bool]) -> None:
        created.append(store.add_list_entry("block", "device_id", value)[1])

    for n in range(5):
        created: list[bool] = []
        errors = _run_together([partial(add, f"dev-{n}", created)] * 8)
        assert not errors and sorted(created) == [False] * 7 + [True], (n, created)
    with store.engine.connect() as conn:
        adds = conn.execute(select(audit_log).where(audit_log.c.action == "list.add")).all()
    assert len(adds) == 5 and store.lists_revision() == 5
    assert store.add_list_entry("block", "device_id", "dev-0", "now with a note")[1] is False
    assert store.list_entries("block")[0].note == "now with a note" and store.lists_revision() == 6


def test_erasures_keeping_fraud_hashes_and_list_edits_do_not_deadlock(store: Store) -> None:
    """The erasure bumped the lists revision before it removed the account's entries, a list
    edit after it changed its entry: each waited for the other's lock (PostgreSQL)."""
    for n in range(12):
        account = f"acct-k{n}"
        record = replace(_record(100 + n, T0, account),
                         entities=EntityKeys(ip=f"10.1.0.{n}", email_hash=f"{n:064x}"))
        store.save_order(record)
        store.record_outcome(record.order_id, "fraud", T0 + timedelta(days=1))
        store.add_list_entry("review", "ip", f"10.1.0.{n}")  # the erasure removes it
        errors = _run_together([
            partial(store.erase_account, account, keep_fraud_email_hashes=True),
            partial(store.add_list_entry, "review", "ip", f"10.1.0.{n}", "staff note"),
            partial(store.remove_list_entry, "review", "ip", f"10.1.0.{n}"),
        ])
        assert not errors, errors
    kept = {e.value for e in store.list_entries("block") if e.kind == "email_hash"}
    assert kept == {f"{n:064x}" for n in range(12)}


def test_a_read_and_its_audit_entry_never_straddle_an_erasure(store: Store) -> None:
    """A profile read before an erasure and audited after it left an entry naming the erased
    account (3 of 8 rounds on PostgreSQL, 6 of 8 on SQLite). PostgreSQL: an erasure waits for
    the read (and anonymises its entry) or the read waits for it (and finds nothing). SQLite,
    where waiting would hold the one write lock: a read that an erasure overlapped writes no
    entry and asks to be made again (StoreError: 503)."""
    reading, erasing, go_on = threading.Event(), threading.Event(), threading.Event()

    def read_slowly(account: str) -> None:
        with store.audited("staff", "profile.read", account, account_id=account):
            store.get_profile(account, at=T0 + timedelta(days=1))
            reading.set()
            go_on.wait(5)  # the erasure starts meanwhile and must wait for this transaction

    def erase_slowly(account: str) -> None:
        def hold(_ids: object) -> None:
            erasing.set()
            go_on.wait(5)  # the read starts meanwhile and must wait for this erasure

        store.erase_account(account, before_commit=hold)

    for first, account in (("read", "acct-r1"), ("erase", "acct-r2")):
        store.save_order(_record(200 + len(first), T0, account))
        reading.clear(), erasing.clear(), go_on.clear()
        errors: list[BaseException] = []

        def run(target: Callable[[str], None], account: str = account,
                errors: list[BaseException] = errors) -> None:
            try:
                target(account)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        leader = threading.Thread(target=run, args=(read_slowly if first == "read" else erase_slowly,))
        follower = threading.Thread(target=run, args=(erase_slowly if first == "read" else read_slowly,))
        leader.start()
        assert (reading if first == "read" else erasing).wait(5)
        follower.start()
        time.sleep(0.3)  # the follower reaches its lock and waits there
        go_on.set()
        leader.join(), follower.join()
        kinds = [type(e).__name__ for e in errors]
        if store.dialect == "sqlite":  # overlapped by an erasure: no entry, read again
            assert kinds == ["StoreError"] and "ask again" in str(errors[0]), errors
        elif first == "read":  # the read went first: its entry is anonymised with the rest
            assert not errors, errors
        else:  # the erasure went first: the read finds no account and writes no entry
            assert kinds == ["NotFoundError"], errors
        with store.engine.connect() as conn:
            named = conn.execute(select(audit_log).where(audit_log.c.target == account)).all()
        assert named == [], (first, named)


def test_an_export_of_an_account_without_orders_is_not_left_named_by_an_erasure(store: Store) -> None:
    """Only a list note names the account: PostgreSQL found no account row to lock, and an
    export read before the erasure kept its entry naming the account after it."""
    store.add_list_entry("review", "country", "FR", "ring with acct-only-note")
    reading, go_on = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def export() -> None:
        try:
            with store.audited("staff", "account.export", "acct-only-note", account_id="acct-only-note"):
                assert store.export_account("acct-only-note") is not None
                reading.set()
                go_on.wait(5)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    reader = threading.Thread(target=export)
    reader.start()
    assert reading.wait(5)
    eraser = threading.Thread(target=store.erase_account, args=("acct-only-note",))
    eraser.start()
    time.sleep(0.3)  # PostgreSQL: the erasure waits for the export's lock
    go_on.set()
    reader.join(), eraser.join()
    assert [type(e).__name__ for e in errors] == (["StoreError"] if store.dialect == "sqlite" else [])
    with store.engine.connect() as conn:
        named = conn.execute(select(audit_log).where(audit_log.c.target == "acct-only-note")).all()
    assert named == []
