"""Outcomes in the account profile: the latest report per order counts, clamped to the order time.

Both stores (SQL on SQLite and PostgreSQL, and the replay's MemoryStore) must give the same
counts; the replay skips a repeated transaction id as the live service does.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from flask.testing import FlaskClient

from fraudscreen.features import FEATURE_NAMES
from fraudscreen.profile import OUTCOMES, EntityKeys, build_profile
from fraudscreen.store import OrderRecord, Store
from fraudscreen.training.memory_store import MemoryStore
from fraudscreen.training.pipeline import replay

from helpers import auth, make_settings, order_body

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
KEYS = EntityKeys(ip="10.0.0.1")
CHARGEBACKS = FEATURE_NAMES.index("profile_chargebacks")
PRIOR_ORDERS = FEATURE_NAMES.index("profile_prior_orders")


def _rec(n: int, t: datetime, account: str = "a") -> OrderRecord:
    return OrderRecord(order_id=f"o{n}", transaction_id=f"t{n}", account_id=account, event_time=t,
                       received_at=t, account_created_at=None, amount=10.0, currency="USD",
                       amount_usd=10.0, entities=KEYS, ip_country="GB", decision="accept",
                       risk_score=1.0)


def _both(store: Store) -> list[Any]:
    """The SQL store of the test's backend and a fresh MemoryStore: every step runs on both."""
    return [store, MemoryStore()]


def _counts(store: Any, at: datetime, account: str = "a") -> dict[str, int]:
    history = store.load_history(account, KEYS, at)
    return {} if history is None else dict(history.outcomes)


def _reports(store: Any, at: datetime) -> tuple[int, int, int, int]:
    p = build_profile(store.load_history("a", KEYS, at), at=at, account_created_at=None)
    return p.chargebacks, p.fraud_reports, p.not_fraud_reports, p.refunds


# -- F2: the latest report per order counts -------------------------------------------------------


def test_a_corrected_outcome_counts_only_from_the_correction_on(store: Store) -> None:
    for s in _both(store):
        s.save_order(_rec(0, T0))
        s.record_outcome("o0", "fraud", T0 + timedelta(days=1))
        s.record_outcome("o0", "not_fraud", T0 + timedelta(days=2))
        assert _reports(s, T0 + timedelta(hours=1)) == (0, 0, 0, 0)
        assert _reports(s, T0 + timedelta(days=1, hours=1)) == (0, 1, 0, 0)  # known then
        assert _reports(s, T0 + timedelta(days=2)) == (0, 1, 0, 0)  # strictly before ``at``
        assert _reports(s, T0 + timedelta(days=3)) == (0, 0, 1, 0)  # was (0, 1, 1, 0)
        assert s.get_order("o0").outcome == "not_fraud"


def test_the_latest_report_is_by_reported_at_not_by_arrival(store: Store) -> None:
    for s in _both(store):
        s.save_order(_rec(0, T0))
        s.record_outcome("o0", "chargeback", T0 + timedelta(days=5))
        s.record_outcome("o0", "refund", T0 + timedelta(days=2))  # arrives late, reported earlier
        assert s.get_order("o0").outcome == "chargeback"
        assert _reports(s, T0 + timedelta(days=3)) == (0, 0, 0, 1)
        assert _reports(s, T0 + timedelta(days=6)) == (1, 0, 0, 0)


def test_equal_report_times_the_later_report_wins_as_for_the_order(store: Store) -> None:
    for s in _both(store):
        s.save_order(_rec(0, T0))
        s.save_order(_rec(1, T0 + timedelta(minutes=1)))
        same = T0 + timedelta(days=1)
        s.record_outcome("o0", "fraud", same)
        s.record_outcome("o0", "not_fraud", same)
        s.record_outcome("o1", "not_fraud", same)
        s.record_outcome("o1", "fraud", same)
        assert (s.get_order("o0").outcome, s.get_order("o1").outcome) == ("not_fraud", "fraud")
        assert _counts(s, same + timedelta(seconds=1)) == {"not_fraud": 1, "fraud": 1}


def test_each_order_counts_once_however_many_reports(store: Store) -> None:
    for s in _both(store):
        for n in range(3):
            s.save_order(_rec(n, T0 + timedelta(minutes=n)))
        for day in range(1, 4):
            s.record_outcome("o0", "chargeback", T0 + timedelta(days=day))
        s.record_outcome("o1", "chargeback", T0 + timedelta(days=1))
        s.record_outcome("o2", "refund", T0 + timedelta(days=1))
        assert _counts(s, T0 + timedelta(days=10)) == {"chargeback": 2, "refund": 1}


# -- F3: a report before its order's time is clamped to the order's time --------------------------


def test_an_outcome_reported_before_its_order_is_stored_at_the_order_time(store: Store) -> None:
    for s in _both(store):
        s.save_order(_rec(0, T0))                       # an earlier order
        s.save_order(_rec(1, T0 + timedelta(hours=2)))  # a later order ...
        stored = s.record_outcome("o1", "fraud", T0 + timedelta(minutes=30))  # ... "reported" before it
        assert stored.outcome_at == T0 + timedelta(hours=2)
        assert s.get_order("o1").outcome_at == T0 + timedelta(hours=2)
        between = T0 + timedelta(hours=1)               # a late-arriving order in between
        history = s.load_history("a", KEYS, between)
        assert history is not None and history.prior_orders == 1
        assert _reports(s, between) == (0, 0, 0, 0)     # was (0, 1, 0, 0): o1 is not earlier
        assert _reports(s, T0 + timedelta(hours=2, seconds=1)) == (0, 1, 0, 0)


def test_a_report_after_its_order_keeps_its_time(store: Store) -> None:
    for s in _both(store):
        s.save_order(_rec(0, T0))
        assert s.record_outcome("o0", "refund", T0 + timedelta(days=1)).outcome_at == T0 + timedelta(days=1)


# -- both stores against a brute-force oracle -------------------------------------------------------


def test_random_reports_give_the_same_counts_in_both_stores_and_the_oracle(store: Store) -> None:
    rng = random.Random(7)
    memory = MemoryStore()
    times: dict[str, datetime] = {}
    accounts: dict[str, str] = {}
    for n in range(25):
        t = times[f"o{n}"] = T0 + timedelta(minutes=rng.randrange(0, 3000))
        account = accounts[f"o{n}"] = rng.choice(["a", "b"])
        for s in (store, memory):
            s.save_order(_rec(n, t, account))
    reports: list[tuple[str, str, datetime]] = []
    for _ in range(60):
        order_id = rng.choice(sorted(times))
        outcome = rng.choice(OUTCOMES)
        # some before the order (clamped), some at equal times (ties), most after
        reported = T0 + timedelta(minutes=rng.choice([rng.randrange(0, 3000), 1500, 2000]))
        reports.append((order_id, outcome, reported))
        for s in (store, memory):
            s.record_outcome(order_id, outcome, reported)
    for minute in range(0, 3100, 50):
        at = T0 + timedelta(minutes=minute)
        for account in ("a", "b"):
            latest: dict[str, tuple[datetime, int, str]] = {}
            for seq, (order_id, outcome, reported) in enumerate(reports):
                clamped = max(reported, times[order_id])
                if accounts[order_id] != account or clamped >= at:
                    continue
                if order_id not in latest or (clamped, seq) > latest[order_id][:2]:
                    latest[order_id] = (clamped, seq, outcome)
            expected: dict[str, int] = {}
            for _t, _seq, outcome in latest.values():
                expected[outcome] = expected.get(outcome, 0) + 1
            assert _counts(store, at, account) == expected, (minute, account)
            assert _counts(memory, at, account) == expected, (minute, account)


# -- through the API -------------------------------------------------------------------------------


def _score(client: FlaskClient, keys: dict[str, str], tx: str, time: str) -> dict[str, Any]:
    r = client.post("/v1/score", json=order_body(event__transaction_id=tx, event__time=time),
                    headers=auth(keys["score"]))
    assert r.status_code == 200
    return r.get_json()


def _outcome(client: FlaskClient, keys: dict[str, str], oid: str, outcome: str, at: str) -> dict[str, Any]:
    r = client.post(f"/v1/orders/{oid}/outcome", json={"outcome": outcome, "reported_at": at},
                    headers=auth(keys["outcomes"]))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _codes(answer: dict[str, Any]) -> list[str]:
    return [r["code"] for r in answer["reasons"]]


def test_fraud_corrected_to_not_fraud_no_longer_rejects_the_account(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    first = _score(client, keys, "t-1", "2026-11-01T10:00:00Z")
    _outcome(client, keys, first["id"], "fraud", "2026-11-02T10:00:00Z")
    meanwhile = _score(client, keys, "t-2", "2026-11-02T12:00:00Z")  # before the correction
    assert meanwhile["profile"]["fraud_reports"] == 1
    assert "PRIOR_FRAUD" in _codes(meanwhile)
    _outcome(client, keys, first["id"], "not_fraud", "2026-11-03T10:00:00Z")
    order = client.get(f"/v1/orders/{first['id']}", headers=auth(keys["score"])).get_json()
    assert order["outcome"] == "not_fraud"
    later = _score(client, keys, "t-3", "2026-11-10T10:00:00Z")
    assert (later["profile"]["fraud_reports"], later["profile"]["not_fraud_reports"]) == (0, 1)
    assert "PRIOR_FRAUD" not in _codes(later)


def test_outcome_of_a_later_order_does_not_count_for_an_earlier_dated_order(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    _score(client, keys, "u-0", "2026-11-01T10:00:00Z")
    later = _score(client, keys, "u-1", "2026-11-01T12:00:00Z")
    _outcome(client, keys, later["id"], "fraud", "2026-11-01T10:30:00Z")  # accepted, clamped
    order = client.get(f"/v1/orders/{later['id']}", headers=auth(keys["score"])).get_json()
    assert order["outcome"] == "fraud"
    between = _score(client, keys, "u-2", "2026-11-01T11:00:00Z")  # a late-arriving order
    assert between["profile"]["prior_orders"] == 1
    assert between["profile"]["fraud_reports"] == 0
    assert "PRIOR_FRAUD" not in _codes(between)


# -- F1: the replay skips a repeated transaction id ------------------------------------------------


def _row(tx: str, time: str, label: str, **changes: Any) -> dict[str, Any]:
    body = order_body(event__transaction_id=tx, event__time=time, **changes)
    body["label"] = label
    return body


def test_replay_skips_a_repeated_transaction_id_and_never_labels_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/x.db")
    rows = [
        _row("t-1", "2026-11-20T10:00:00Z", "legit"),
        # a checkout retry with the same id: live, the stored answer is returned and nothing stored
        _row("t-1", "2026-11-20T11:00:00Z", "fraud", label_time="2026-11-20T12:00:00Z"),
        _row("t-3", "2026-11-20T13:00:00Z", "legit"),
    ]
    results = [replay(rows, settings=settings, store=kind) for kind in ("memory", "sql")]
    for result in results:  # raised NotFoundError ("no order with this id") before
        assert result.skipped == 1
        assert result.transaction_ids == ["t-1", "t-3"]
        assert result.source_rows.tolist() == [0, 2]
        assert len(set(result.order_ids)) == 2
        assert result.y.tolist() == [0, 0]
        assert result.X[:, PRIOR_ORDERS].tolist() == [0, 1]
        assert result.X[:, CHARGEBACKS].tolist() == [0, 0]  # the repeat's label never counts
    np.testing.assert_array_equal(results[0].X, results[1].X)
