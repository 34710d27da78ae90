"""Concurrent writers on one store (SQLite and PostgreSQL): outcome reports, erasure, scoring.

Real threads on a real database: PostgreSQL runs these at read committed with row locks, so
the order in which transactions take their locks decides between right, wrong and deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraudscreen.errors import FraudscreenError, NotFoundError, StaleHistoryError
from fraudscreen.profile import EntityKeys
from fraudscreen.schema import parse_order
from fraudscreen.screening import Screener
from fraudscreen.store import OrderRecord, Store

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
        screener.store.erase_account("acct-a")
        try:
            screener.store.save_order(evaluation.record)
        except StaleHistoryError:
            pass
        else:
            raise AssertionError("an answer built on erased history was stored")
        assert screener.store.find_by_transaction("new") is None  # nothing of it was kept
        with screener.store.engine.connect() as conn:  # nor the account row its upsert made
            assert conn.exec_driver_sql("SELECT count(*) FROM accounts").scalar() == 0
    finally:
        screener.store.close()


class _ErasingScreener(Screener):
    """A screener whose first evaluation is followed by an erasure of the order's account,
    the interleaving two workers can produce; everything else is the real screener."""

    erased = False

    def evaluate(self, order, warnings=None, **kwargs):  # type: ignore[no-untyped-def]
        evaluation = super().evaluate(order, warnings, **kwargs)
        if not self.erased:
            self.erased = True
            self.store.erase_account(order.account.user_id)
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
