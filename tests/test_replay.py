"""Point-in-time replay: the in-memory store equals the SQL store, and nothing leaks from the future."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fraudscreen.config import Settings
from fraudscreen.errors import ConflictError
from fraudscreen.features import FEATURE_NAMES
from fraudscreen.profile import SHARED_COUNT_CAP, WINDOW_24H, EntityKeys
from fraudscreen.store import OrderRecord, Store
from fraudscreen.training.memory_store import MemoryStore
from fraudscreen.training.pipeline import replay
from fraudscreen.training.simulate import simulate_orders

from helpers import make_settings, order_body

START = datetime(2026, 2, 2, tzinfo=UTC)
CHARGEBACKS = FEATURE_NAMES.index("profile_chargebacks")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return list(simulate_orders(1200, seed=11, start=START))


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # The simulator draws real networks from the bundled city database: use it.
    return Settings(data_dir=tmp_path_factory.mktemp("var"))


def _same(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_array_equal(a, b)  # NaN == NaN here


def test_memory_store_replay_equals_sql_store_replay(rows, settings) -> None:
    memory = replay(rows[:1000], settings=settings)
    sql = replay(rows[:1000], settings=settings, store="sql")
    assert memory.X.shape == (1000 - memory.skipped, len(FEATURE_NAMES))
    _same(memory.X, sql.X)
    _same(memory.y, sql.y)
    assert [[h.rule_id for h in hs] for hs in memory.rule_hits] == [
        [h.rule_id for h in hs] for hs in sql.rule_hits
    ]
    # the comparison means something: the profile is populated
    cols = {n: i for i, n in enumerate(FEATURE_NAMES)}
    for name in ("profile_prior_orders", "profile_email_domain_accounts_ever",
                 "profile_orders_30d", "profile_ip_accounts_ever"):
        assert memory.X[:, cols[name]].max() > 0, name
    assert memory.y.sum() > 0


def _record(n: int, account: str | None, t: datetime, **keys: str) -> OrderRecord:
    return OrderRecord(
        order_id=f"o{n}", transaction_id=f"t{n}", account_id=account, event_time=t,
        received_at=t, account_created_at=t - timedelta(days=n) if n % 3 else None,
        amount=10.0 + n, currency="USD", amount_usd=10.0 + n,
        entities=EntityKeys(**keys), ip_country="GB" if n % 2 else "FR",
        decision=("accept", "review", "reject")[n % 3], risk_score=1.0,
    )


def test_load_history_matches_sql_on_edge_cases(tmp_path: Path) -> None:
    """Out-of-order saves, equal times, outcomes before/after ``at``, no account, the cap."""
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    sql = Store(f"sqlite:///{tmp_path / 'h.db'}")
    sql.upgrade()
    mem = MemoryStore()
    records = [
        _record(1, "a", t0, ip="10.0.0.1", device_id="d1", card_key="c1", email_domain="x.org"),
        _record(2, "a", t0 + timedelta(hours=2), ip="10.0.0.2", card_key="c2"),
        _record(3, "b", t0 + timedelta(hours=1), ip="10.0.0.1", device_id="d1"),
        _record(4, None, t0 + timedelta(hours=1), ip="10.0.0.1", email_domain="x.org"),
        _record(5, "a", t0 - timedelta(days=40), ip="10.0.0.9"),  # saved out of order
        _record(6, "b", t0 + timedelta(hours=2), ip="10.0.0.1", card_key="c1"),  # equal time
        _record(7, "c", t0 + timedelta(days=2), ip="10.0.0.1", email_domain="x.org"),
    ]
    # 120 accounts on one email domain: the counts saturate at the cap
    records += [_record(100 + i, f"z{i}", t0 - timedelta(minutes=i), email_domain="big.example")
                for i in range(SHARED_COUNT_CAP + 20)]
    for record in records:
        assert sql.save_order(record)[1] and mem.save_order(record)[1]
    assert mem.save_order(records[0])[1] is False  # same transaction id: not stored again
    for store in (sql, mem):  # an empty account id breaks the SQL foreign key: refused alike
        with pytest.raises(ConflictError):
            store.save_order(_record(8, "", t0 + timedelta(hours=3), ip="10.0.0.1"))
    for store in (sql, mem):
        store.record_outcome("o1", "chargeback", t0 + timedelta(hours=1, minutes=30))
        store.record_outcome("o1", "fraud", t0 + timedelta(days=1))
        store.record_outcome("o2", "chargeback", t0 + timedelta(days=1))
        store.record_outcome("o3", "refund", t0 + timedelta(hours=5))
    queries = [
        ("a", EntityKeys(ip="10.0.0.1", device_id="d1", card_key="c1", email_domain="x.org")),
        ("b", EntityKeys(ip="10.0.0.1", card_key="c1")),
        (None, EntityKeys(ip="10.0.0.1", email_domain="x.org")),
        ("new", EntityKeys(ip="10.0.0.1", device_id="d1")),
        ("new", EntityKeys(ip="192.0.2.1")),
        ("", EntityKeys(ip="10.0.0.1")),
        ("z3", EntityKeys(email_domain="big.example")),
        (None, EntityKeys(email_domain="big.example")),
        ("c", EntityKeys()),
    ]
    offsets = [timedelta(days=-41), timedelta(0), timedelta(hours=1), timedelta(hours=1, minutes=30),
               timedelta(hours=2), timedelta(hours=2, microseconds=1), timedelta(days=1),
               timedelta(days=1, hours=3), timedelta(days=3), timedelta(days=45)]
    compared = 0
    for account, keys in queries:
        for offset in offsets:
            at = t0 + offset
            expected = sql.load_history(account, keys, at)
            got = mem.load_history(account, keys, at)
            if expected is not None:
                expected_recent = sorted(expected.recent_orders, key=lambda o: o.event_time)
                expected = type(expected)(**{**expected.__dict__, "recent_orders": tuple(expected_recent)})
                compared += 1
            assert got == expected, (account, keys, offset)
    assert compared > 40
    sql.close()


@pytest.mark.parametrize("seed", range(6))
def test_shared_counts_equal_the_brute_force_count(seed: int) -> None:
    """The 24-hour count stops reading at the cap: same capped answers as counting every link.

    Random entities: few or many accounts, repeated accounts, equal times, links saved out of
    order, windows far smaller and far larger than the cap; own account, no account, new one.
    """
    rng = random.Random(seed)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    mem = MemoryStore()
    links: list[tuple[datetime, str]] = []
    n = 0
    for pool in (2, 40, 130, 400):
        domain = f"pool{pool}.example"
        for _ in range(rng.randrange(600, 1500)):
            minutes = rng.randrange(3 * 24 * 60)
            t = t0 + timedelta(minutes=minutes - minutes % rng.choice((1, 60)))  # equal times
            account = f"{pool}-{min(rng.randrange(pool), rng.randrange(pool))}"  # some repeat
            n += 1
            mem.save_order(_record(n, account, t, email_domain=domain))
            links.append((t, account))
    by_domain = {f"pool{p}.example": [(t, a) for t, a in links if a.startswith(f"{p}-")]
                 for p in (2, 40, 130, 400)}
    cases = set()
    for domain, domain_links in by_domain.items():
        accounts = sorted({a for _t, a in domain_links})
        for _ in range(60):
            at = rng.choice(domain_links)[0] + rng.choice(
                (timedelta(0), timedelta(microseconds=1), timedelta(hours=5)))
            account = rng.choice([*accounts[:20], None, "new"])
            before = [(t, a) for t, a in domain_links if t < at]
            day = {a for t, a in before if t >= at - WINDOW_24H} - {account}
            ever = {a for _t, a in before} - {account}
            expected = (min(len(day), SHARED_COUNT_CAP), min(len(ever), SHARED_COUNT_CAP))
            history = mem.load_history(account, EntityKeys(email_domain=domain), at)
            got = (0, 0) if history is None else history.shared["email_domain"]
            assert got == expected, (domain, account, at)
            window = sum(1 for t, _a in before if t >= at - WINDOW_24H)
            cases.add((len(day) >= SHARED_COUNT_CAP, window > 2 * SHARED_COUNT_CAP))
    # compared: fewer accounts than the cap in short and in long windows, more in both
    assert cases == {(False, False), (False, True), (True, False), (True, True)}


def test_point_in_time_later_rows_and_labels_change_nothing(rows, settings) -> None:
    base = rows[:600]
    first = replay(base, settings=settings)
    last_time = max(r["event"]["time"] for r in base)
    later = [r for r in rows[600:] if r["event"]["time"] > last_time]
    assert len(later) > 100
    # later labels for the first rows: fraud, but only known after the last of them
    relabelled = copy.deepcopy(base)
    for r in relabelled[::7]:
        r["label"], r["label_time"] = "fraud", "2030-01-01T00:00:00Z"
    extended = replay(relabelled + later, settings=settings)
    n = first.X.shape[0]
    _same(first.X, extended.X[:n])
    assert first.order_ids != extended.order_ids[:n]  # fresh ids: a real second replay
    assert extended.y[:n].sum() > first.y.sum()


def _account_orders(label_time: str | None) -> list[dict[str, Any]]:
    fraud = order_body(event__transaction_id="x-1", event__time="2026-05-01T10:00:00Z")
    fraud["label"] = "fraud"
    if label_time:
        fraud["label_time"] = label_time
    rows = [fraud]
    for i, when in enumerate(("2026-05-01T22:00:00Z", "2026-05-02T09:59:59Z",
                              "2026-05-02T10:00:00Z", "2026-05-02T10:00:01Z", "2026-06-01T10:00:01Z"),
                             start=2):
        row = order_body(event__transaction_id=f"x-{i}", event__time=when)
        row["label"] = "legit"
        rows.append(row)
    return rows


def test_a_label_counts_only_from_its_label_time(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    result = replay(_account_orders("2026-05-02T10:00:00Z"), settings=settings)
    assert result.X[:, CHARGEBACKS].tolist() == [0, 0, 0, 0, 1, 1]
    # the prior-chargeback rule fires only once the label is known
    hits = [{h.rule_id for h in hs} for hs in result.rule_hits]
    assert ["prior_chargeback" in h for h in hits] == [False, False, False, False, True, True]


def test_without_label_time_the_label_delay_applies(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    default = replay(_account_orders(None), settings=settings)  # 30 days
    assert default.X[:, CHARGEBACKS].tolist() == [0, 0, 0, 0, 0, 1]
    short = replay(_account_orders(None), settings=settings, label_delay=timedelta(hours=12))
    assert short.X[:, CHARGEBACKS].tolist() == [0, 0, 1, 1, 1, 1]
    # a label_time before the order itself is clamped to the order time, never earlier
    early = replay(_account_orders("2026-04-01T00:00:00Z"), settings=settings)
    assert early.X[:, CHARGEBACKS].tolist() == [0, 1, 1, 1, 1, 1]


def test_bad_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    good = _account_orders("2026-05-02T10:00:00Z")
    bad_ip = order_body(event__transaction_id="b-1", device__ip_address="not-an-ip")
    bad_ip["label"] = "legit"
    no_time = order_body(event__transaction_id="b-2", event__time=None)
    no_time["label"] = "legit"
    no_label = order_body(event__transaction_id="b-3")
    card = order_body(event__transaction_id="b-4", order__referrer_uri="4111 1111 1111 1111")
    card["label"] = "fraud"
    bad_label_time = order_body(event__transaction_id="b-5")
    bad_label_time.update(label="fraud", label_time="yesterday")
    list_label = order_body(event__transaction_id="b-6")
    list_label["label"] = ["fraud"]
    result = replay([*good, bad_ip, no_time, no_label, card, bad_label_time, list_label, "junk"],
                    settings=settings)  # type: ignore[list-item]
    assert result.skipped == 7
    assert result.skipped_why == {  # why each was skipped, for the error when none is left
        "failing the request schema": 2, "without a valid event time": 1, "not a JSON object": 1,
        "with a label other than fraud or legit": 2, "with an invalid label_time": 1,
    }
    assert result.X.shape[0] == len(good)
    assert list(np.diff(result.event_times) >= 0) == [True] * (len(good) - 1)
    assert sorted(result.source_rows.tolist()) == list(range(len(good)))


def test_the_replay_reads_the_times_the_live_service_accepts(tmp_path: Path) -> None:
    # one parser: a time the score endpoint accepts is replayed, one it refuses is skipped
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    rows = []
    for i, when in enumerate(["2026-05-02t10:00:00z", "2026-05-02 11:00:00+01:00",
                              "1777716000", "20260502T100000"]):
        row = order_body(event__transaction_id=f"t-{i}", event__time=when)
        row["label"] = "legit"
        rows.append(row)
    result = replay(rows, settings=settings)
    assert sorted(result.transaction_ids) == ["t-0", "t-1"]  # type: ignore[type-var]
    assert result.skipped_why == {"without a valid event time": 2}


def test_a_repeated_transaction_is_skipped_with_its_reason(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    good = _account_orders("2026-05-02T10:00:00Z")
    result = replay([*good, copy.deepcopy(good[2])], settings=settings)
    assert result.skipped == 1 and result.y.size == len(good)
    assert result.skipped_why == {"repeating an event.transaction_id": 1}


def test_the_lean_evaluation_decides_like_the_full_one(tmp_path: Path) -> None:
    from fraudscreen.schema import parse_order
    from fraudscreen.screening import Screener, load_parts

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    from dataclasses import replace

    parts = load_parts(settings)
    parts.store.close()
    screener = Screener(settings, replace(parts, store=MemoryStore()))
    order, _ = parse_order(order_body(account__created_at="2026-11-20T09:58:00Z"))
    full = screener.evaluate(order)
    lean = screener.evaluate(order, build_response=False)
    _same(full.features, lean.features)
    assert (full.result.decision, full.result.risk_score, full.result.reasons) == (
        lean.result.decision, lean.result.risk_score, lean.result.reasons)
    assert full.hits == lean.hits and full.probability == lean.probability is not None
    assert full.record.response["profile"] == lean.profile.to_dict()
    assert lean.record.response == {} and lean.result.profile == {}


def test_the_replay_gives_back_automatic_garbage_collection(rows, settings) -> None:
    # full collections are off while it runs (they walk every row and stored order); on after,
    # also when it fails, and left off when the caller had turned them off
    import gc

    assert gc.isenabled()
    replay(rows[:50], settings=settings)
    assert gc.isenabled()
    with pytest.raises(ValueError):
        replay(rows[:50], settings=settings, store="nowhere")  # type: ignore[arg-type]
    assert gc.isenabled()
    gc.disable()
    try:
        replay(rows[:50], settings=settings)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_replay_leaves_the_caller_s_rows_as_they_were(rows, settings) -> None:
    # it lets go of each row once screened (a 1M-row back-test needed 10 GB) in its own list only
    given = rows[:60]
    before = copy.deepcopy(given)
    replay(given, settings=settings)
    assert given == before
