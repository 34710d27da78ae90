"""The SQLAlchemy store on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import multiprocessing
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url

from fraudscreen.errors import (
    FraudscreenError,
    InvalidRequestError,
    NotFoundError,
)
from fraudscreen.profile import EntityKeys, build_profile
from fraudscreen.store import OrderRecord, Store
from fraudscreen.store.tables import (
    accounts,
    api_keys,
    audit_log,
    metadata,
    order_entities,
    orders,
    outcomes,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
TABLES = {
    "accounts",
    "orders",
    "order_entities",
    "outcomes",
    "api_keys",
    "list_entries",
    "meta",
    "audit_log",
}


def record(
    n: int,
    *,
    account: str | None = "acct-a",
    at: datetime = T0,
    transaction: str | None = None,
    amount_usd: float | None = 20.0,
    decision: str = "accept",
    ip: str | None = "192.0.2.1",
    device: str | None = "dev-1",
    card: str | None = "card-1",
    domain: str | None = "example.com",
    country: str | None = "US",
) -> OrderRecord:
    return OrderRecord(
        order_id=f"ord-{n}",
        transaction_id=transaction if transaction is not None else f"tx-{n}",
        account_id=account,
        event_time=at,
        received_at=at + timedelta(milliseconds=3),
        account_created_at=T0 - timedelta(days=10),
        amount=amount_usd,
        currency="USD",
        amount_usd=amount_usd,
        entities=EntityKeys(
            ip=ip,
            device_id=device,
            card_key=card,
            email_domain=domain,
            email_hash=f"hash-{account}",
        ),
        ip_country=country,
        decision=decision,
        risk_score=1.5,
        response={"id": f"ord-{n}", "decision": decision, "nested": {"x": [1, 2]}},
    )


def count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_migrates_an_empty_database(empty_store_url: str) -> None:
    store = Store(empty_store_url)
    try:
        assert store.ping()
        assert not TABLES & set(inspect(store.engine).get_table_names())
        store.upgrade()
        store.upgrade()  # idempotent
        assert TABLES <= set(inspect(store.engine).get_table_names())
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
        assert store.lists_revision() == 0
    finally:
        store.close()


def _database_of_release(url: str, revision: str, *inserts: str) -> None:
    """The database as the release whose latest migration is ``revision`` left it, holding the
    rows the ``inserts`` (SQL) add."""
    from alembic import command

    from fraudscreen.store.base import alembic_config

    store = Store(url)
    try:
        config = alembic_config()
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            for sql in inserts:
                conn.execute(text(sql))
    finally:
        store.close()


def test_upgrades_a_first_release_database_keeping_its_orders(empty_store_url: str) -> None:
    _database_of_release(
        empty_store_url, "0001",
        "INSERT INTO orders (order_id, event_time, received_at, decision, risk_score, response) "
        "VALUES ('o-old', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 'accept', 1.0, '{}')",
    )
    store = Store(empty_store_url)
    try:
        store.upgrade()
        with store.engine.connect() as conn:
            row = conn.execute(text("SELECT order_id, features, request_digest FROM orders")).one()
        assert row.order_id == "o-old" and row.features is None and row.request_digest is None
    finally:
        store.close()


def test_migration_schema_matches_table_metadata(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'data' / 'fs.db'}")  # creates the missing directory
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
    store.close()


def test_ping_is_false_when_the_database_is_unreachable() -> None:
    store = Store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert store.ping() is False
    store.close()


def test_save_then_find_by_transaction_and_id(store: Store) -> None:
    stored, created = store.save_order(record(1))
    assert created
    found = store.find_by_transaction("tx-1")
    assert found == stored == store.get_order("ord-1")
    assert found is not None
    assert found.response == {"id": "ord-1", "decision": "accept", "nested": {"x": [1, 2]}}
    assert found.event_time == T0 and found.event_time.tzinfo is not None
    assert found.outcome is None
    assert store.find_by_transaction("tx-404") is None
    assert store.get_order("ord-404") is None
    assert count(store, order_entities) == 5  # ip, device, card, email domain, email hash


def test_duplicate_transaction_returns_the_first_and_stores_one(store: Store) -> None:
    first, created = store.save_order(record(1, transaction="tx-same", decision="review"))
    again, created_again = store.save_order(record(2, transaction="tx-same", decision="reject"))
    assert created and not created_again
    assert again == first and again.order_id == "ord-1" and again.decision == "review"
    assert count(store, orders) == 1
    assert count(store, order_entities) == 5
    with store.engine.connect() as conn:
        assert conn.execute(select(accounts.c.order_count)).scalar_one() == 1


def test_orders_without_transaction_id_or_account_are_stored(store: Store) -> None:
    for n in (1, 2):
        rec = record(n, account=None)
        rec = OrderRecord(**{**rec.__dict__, "transaction_id": None})
        assert store.save_order(rec)[1]
    assert count(store, orders) == 2
    assert count(store, accounts) == 0


def test_shared_entities_and_own_windows(store: Store) -> None:
    store.save_order(
        record(
            1,
            account="A",
            at=T0 - timedelta(days=3),
            amount_usd=10.0,
            ip="192.0.2.1",
            device="dev-shared",
            card="card-a",
        )
    )
    store.save_order(
        record(
            2,
            account="A",
            at=T0 - timedelta(minutes=30),
            amount_usd=5.0,
            ip="192.0.2.2",
            device="dev-shared",
            card="card-a",
            country="DE",
        )
    )
    keys_b = EntityKeys(
        ip="198.51.100.1", device_id="dev-shared", card_key="card-b", email_domain="example.com"
    )
    hist_b = store.load_history("B", keys_b, T0)
    assert hist_b is not None and hist_b.prior_orders == 0 and hist_b.account_id == "B"
    assert hist_b.shared["device"] == (1, 1)  # A used it 30 min ago
    assert hist_b.shared["email_domain"] == (1, 1)
    assert hist_b.shared["ip"] == (0, 0) and hist_b.shared["card"] == (0, 0)
    store.save_order(
        record(3, account="B", at=T0, ip="198.51.100.1", device="dev-shared", card="card-b")
    )
    later = T0 + timedelta(days=2)
    profile_b = build_profile(
        store.load_history("B", keys_b, later), at=later, account_created_at=None
    )
    assert (profile_b.device_accounts_1d, profile_b.device_accounts_ever) == (0, 1)
    assert profile_b.prior_orders == 1 and profile_b.orders_24h == 0 and profile_b.orders_30d == 1

    keys_a = EntityKeys(ip="192.0.2.2", device_id="dev-shared", card_key="card-a")
    hist_a = store.load_history("A", keys_a, T0 + timedelta(minutes=10))
    assert hist_a is not None
    profile_a = build_profile(hist_a, at=T0 + timedelta(minutes=10), account_created_at=None)
    assert (profile_a.orders_1h, profile_a.orders_24h, profile_a.orders_30d) == (1, 1, 2)
    assert profile_a.amount_usd_1h == pytest.approx(5.0)
    assert profile_a.amount_usd_30d == pytest.approx(15.0)
    assert profile_a.prior_orders == 2 and profile_a.prior_accepts == 2
    assert profile_a.device_accounts_ever == 1  # B, not A itself
    assert profile_a.distinct_ips_30d == 2 and profile_a.distinct_ip_countries_30d == 2
    assert profile_a.seconds_since_last_order == pytest.approx(40 * 60)
    assert profile_a.account_age_days == pytest.approx(10 + 10 / 1440)


def test_shared_counts_without_account_id_count_every_account(store: Store) -> None:
    store.save_order(record(1, account="A", at=T0 - timedelta(hours=30), device="d"))
    store.save_order(record(2, account="B", at=T0 - timedelta(hours=2), device="d"))
    store.save_order(record(3, account=None, at=T0 - timedelta(hours=1), device="d"))
    hist = store.load_history(None, EntityKeys(device_id="d"), T0)
    assert hist is not None and hist.account_id is None and hist.prior_orders == 0
    assert hist.shared == {"device": (1, 2)}
    assert store.load_history(None, EntityKeys(device_id="never-seen"), T0) is None
    assert store.load_history("nobody", EntityKeys(), T0) is None


def test_history_is_point_in_time(store: Store) -> None:
    store.save_order(record(1, account="A", at=T0 - timedelta(hours=5), decision="accept"))
    store.save_order(record(2, account="A", at=T0 - timedelta(hours=2), decision="review"))
    store.save_order(record(3, account="A", at=T0, decision="reject"))  # exactly at t: excluded
    store.save_order(record(4, account="A", at=T0 + timedelta(hours=1), decision="reject"))
    store.save_order(record(5, account="B", at=T0 + timedelta(minutes=1), device="dev-1"))
    store.record_outcome("ord-1", "chargeback", T0 - timedelta(hours=1))
    store.record_outcome("ord-2", "fraud", T0)  # reported exactly at t: not yet known
    hist = store.load_history("A", EntityKeys(device_id="dev-1"), T0)
    assert hist is not None
    assert hist.prior_orders == 2
    assert dict(hist.prior_decisions) == {"accept": 1, "review": 1, "reject": 0}
    assert hist.first_seen == T0 - timedelta(hours=5)
    assert hist.last_order_time == T0 - timedelta(hours=2)
    assert [o.event_time for o in hist.recent_orders] == [
        T0 - timedelta(hours=5),
        T0 - timedelta(hours=2),
    ]
    assert dict(hist.outcomes) == {"chargeback": 1}
    assert hist.shared["device"] == (0, 0)  # B used the device only after t
    # Before the account's first order nothing of it is known, not even its creation time.
    assert store.load_history("A", EntityKeys(), T0 - timedelta(hours=6)) is None
    now = store.load_history("A", EntityKeys(), T0 + timedelta(days=1))
    assert (
        now is not None
        and now.prior_orders == 4
        and dict(now.outcomes) == {"chargeback": 1, "fraud": 1}
    )


def test_outcomes_label_orders_and_update_counts(store: Store) -> None:
    store.save_order(record(1, account="A", at=T0 - timedelta(days=2)))
    store.save_order(record(2, account="A", at=T0 - timedelta(days=1)))
    labelled = store.record_outcome("ord-1", "fraud", T0 - timedelta(hours=3))
    assert labelled.outcome == "fraud" and labelled.outcome_at == T0 - timedelta(hours=3)
    relabelled = store.record_outcome("ord-1", "not_fraud", T0 - timedelta(hours=1))
    assert relabelled.outcome == "not_fraud"
    late_report_of_older = store.record_outcome("ord-1", "chargeback", T0 - timedelta(hours=2))
    assert late_report_of_older.outcome == "not_fraud"  # the latest report stays the label
    store.record_outcome("ord-2", "refund", T0 - timedelta(hours=1))
    assert count(store, outcomes) == 4
    profile = store.get_profile("A", T0)
    assert (
        profile.fraud_reports,
        profile.not_fraud_reports,
        profile.chargebacks,
        profile.refunds,
    ) == (0, 1, 0, 1)  # per order only its latest report counts: ord-1 is not_fraud
    with pytest.raises(NotFoundError):
        store.record_outcome("ord-404", "fraud", T0)
    with pytest.raises(InvalidRequestError):
        store.record_outcome("ord-1", "stolen", T0)


def test_get_profile(store: Store) -> None:
    store.save_order(record(1, account="A", at=T0 - timedelta(hours=3), device="d-shared"))
    store.save_order(record(2, account="B", at=T0 - timedelta(hours=2), device="d-shared"))
    profile = store.get_profile("A", T0)
    assert profile.prior_orders == 1 and profile.orders_24h == 1
    assert profile.device_accounts_ever == 1 and profile.device_accounts_1d == 1
    assert profile.account_age_days == pytest.approx(10.0)
    assert store.get_profile("A").prior_orders == 1  # default: now
    with pytest.raises(NotFoundError):
        store.get_profile("nobody")


def test_out_of_order_saves_keep_aggregates_right(store: Store) -> None:
    store.save_order(record(1, account="A", at=T0, decision="review"))
    store.save_order(record(2, account="A", at=T0 - timedelta(days=1), decision="reject"))
    with store.engine.connect() as conn:
        row = conn.execute(select(accounts)).one()
    assert row.first_seen == T0 - timedelta(days=1) and row.last_order_time == T0
    assert (row.order_count, row.accepts, row.reviews, row.rejects) == (2, 0, 1, 1)


def test_api_keys(store: Store, store_url: str) -> None:
    record_, key = store.create_api_key("checkout", ["score", "outcomes"], actor="admin@x")
    assert key.startswith("fs_") and len(key) > 40 and record_.prefix == key[:10]
    assert store.authenticate(key) == record_
    assert record_.has_scope("score") and not record_.has_scope("admin")
    assert store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.authenticate("not-a-key") is None
    assert store.authenticate("") is None
    other, other_key = store.create_api_key("ops", ["admin"])
    assert [k.id for k in store.list_api_keys()] == [record_.id, other.id]
    store.revoke_api_key(record_.id, actor="admin@x")
    store.revoke_api_key(record_.id)  # idempotent
    assert store.authenticate(key) is None
    assert store.authenticate(other_key) == other
    revoked = next(k for k in store.list_api_keys() if k.id == record_.id)
    assert not revoked.active and revoked.revoked_at is not None
    with pytest.raises(NotFoundError):
        store.revoke_api_key("key_missing")
    with pytest.raises(InvalidRequestError):
        store.create_api_key("bad", ["root"])
    with pytest.raises(InvalidRequestError):
        store.create_api_key(" ", ["score"])
    with store.engine.connect() as conn:
        rows = [tuple(map(str, r)) for r in conn.execute(select(api_keys))]
        actions = [r.action for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]
    assert not any(key in value or other_key in value for row in rows for value in row)
    assert actions == ["api_key.create", "api_key.create", "api_key.revoke"]
    if store.dialect == "sqlite":
        store.close()
        db = Path(make_url(store_url).database or "")
        raw = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.is_file())
        assert key.encode() not in raw and other_key.encode() not in raw
        assert record_.prefix.encode() in raw  # the check can see what is stored


def test_lists_and_revision(store: Store) -> None:
    assert store.lists_revision() == 0
    row, added = store.add_list_entry("block", "ip", "203.0.113.0/24", "botnet")
    assert added
    assert (row.list_name, row.kind, row.value, row.note) == (
        "block",
        "ip",
        "203.0.113.0/24",
        "botnet",
    )
    store.add_list_entry("allow", "email_domain", "example.com")
    assert store.lists_revision() == 2
    updated, added = store.add_list_entry("block", "ip", "203.0.113.0/24", "botnet, confirmed")
    assert not added
    assert updated.note == "botnet, confirmed" and updated.created_at == row.created_at
    assert store.lists_revision() == 3
    kept, added = store.add_list_entry("block", "ip", "203.0.113.0/24")  # no note: the old one stays
    assert not added and kept.note == "botnet, confirmed" and store.lists_revision() == 3
    assert [(r.list_name, r.value) for r in store.list_entries()] == [
        ("allow", "example.com"),
        ("block", "203.0.113.0/24"),
    ]
    assert [r.value for r in store.list_entries("block")] == ["203.0.113.0/24"]
    assert store.remove_list_entry("block", "ip", "203.0.113.0/24") is True
    assert store.remove_list_entry("block", "ip", "203.0.113.0/24") is False
    assert store.lists_revision() == 4
    assert store.list_entries("block") == []
    with pytest.raises(InvalidRequestError):
        store.add_list_entry("grey", "ip", "192.0.2.1")
    with pytest.raises(InvalidRequestError):
        store.add_list_entry("block", "phone", "123")
    with store.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]
    assert actions == ["list.add", "list.add", "list.add", "list.remove"]


_FAIL_TRIGGER = {
    "sqlite": [
        (
            "CREATE TRIGGER fail_links BEFORE INSERT ON order_entities "
            "WHEN NEW.kind = 'card' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
    ],
    "postgresql": [
        (
            "CREATE FUNCTION fail_links() RETURNS trigger AS $$ BEGIN "
            "IF NEW.kind = 'card' THEN RAISE EXCEPTION 'injected failure'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        ),
        (
            "CREATE TRIGGER fail_links BEFORE INSERT ON order_entities "
            "FOR EACH ROW EXECUTE FUNCTION fail_links()"
        ),
    ],
}


def test_failed_save_leaves_nothing_half_written(store: Store) -> None:
    store.save_order(record(1, account="A", at=T0 - timedelta(hours=1), card="ok"))
    with store.engine.begin() as conn:
        for statement in _FAIL_TRIGGER[store.dialect]:
            conn.exec_driver_sql(statement)
    with pytest.raises(FraudscreenError) as excinfo:
        store.save_order(record(2, account="A", at=T0, card="card-x"))
    assert "card-x" not in str(excinfo.value)
    assert store.get_order("ord-2") is None
    assert count(store, orders) == 1
    assert count(store, order_entities) == 5  # only the first order's links
    with store.engine.connect() as conn:
        assert conn.execute(select(accounts.c.order_count)).scalar_one() == 1
    assert store.save_order(record(3, account="A", at=T0, card=None))[1]  # the store still works


def test_naive_times_and_bad_decisions_are_refused(store: Store) -> None:
    with pytest.raises(InvalidRequestError):
        store.load_history("A", EntityKeys(), datetime(2024, 1, 1))
    with pytest.raises(InvalidRequestError):
        store.save_order(record(1, decision="maybe"))
    assert count(store, orders) == 0


def _concurrent_writer(url: str, worker: int, n: int) -> None:
    store = Store(url)
    for i in range(n):
        # every worker also retries a transaction id shared with the others
        store.save_order(record(worker * 1000 + i, account="A", at=T0 + timedelta(seconds=i)))
        store.save_order(
            record(
                10_000 + worker * 1000 + i,
                account="A",
                transaction=f"race-{i}",
                at=T0 + timedelta(seconds=i),
            )
        )
    store.close()


def test_concurrent_writers_in_processes_serialise(store: Store, store_url: str) -> None:
    store.close()
    workers, n = 4, 25
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_concurrent_writer, args=(store_url, w, n)) for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0] * workers
    assert count(store, orders) == workers * n + n  # each "race-i" stored once
    with store.engine.connect() as conn:
        assert conn.execute(select(accounts.c.order_count)).scalar_one() == workers * n + n


def test_sqlite_checkpoints_run_in_the_background(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'fs.db'}")
    store.upgrade()
    checkpointer = store._checkpointer
    assert checkpointer is not None
    for n in range(150):
        store.save_order(record(n, at=T0 + timedelta(seconds=n)))
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while checkpointer.checkpoints < 2 and datetime.now(UTC) < deadline:
        threading.Event().wait(0.01)
    assert checkpointer.checkpoints >= 2
    store.close()
    assert not any(t.name == "fraudscreen-wal-checkpoint" for t in threading.enumerate())


def test_a_forked_child_does_not_reuse_the_parents_connections(store: Store) -> None:
    store.save_order(record(1))  # the parent now has pooled connections
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_save_in_child, args=(store,))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    assert store.get_order("ord-2") is not None
    assert store.get_order("ord-1") is not None  # the parent's connections still work


def _save_in_child(store: Store) -> None:
    store.save_order(record(2))
    assert store.load_history("acct-a", EntityKeys(), T0 + timedelta(seconds=1)) is not None


def test_accounts_made_before_generations_work_and_their_erasure_is_still_noticed(
    empty_store_url: str, tmp_path: Path
) -> None:
    """A 0002 database's account rows have no generation (null) after the upgrade: screening
    still reads their history, and an order screened on one that is erased before it is
    stored is refused as stale (the row made again has a generation)."""
    from fraudscreen.errors import StaleHistoryError
    from fraudscreen.schema import parse_order
    from fraudscreen.screening import Screener

    from helpers import make_settings, order_body

    _database_of_release(
        empty_store_url, "0002",
        "INSERT INTO accounts (account_id, first_seen, last_order_time, order_count, accepts, reviews, "
        "rejects, outcome_count) VALUES ('acct-a', '2026-11-20 09:00:00.000000', "
        "'2026-11-20 09:00:00.000000', 1, 1, 0, 0, 0)",
        "INSERT INTO orders (order_id, account_id, event_time, received_at, decision, risk_score, "
        "response) VALUES ('o-old', 'acct-a', '2026-11-20 09:00:00.000000', "
        "'2026-11-20 09:00:00.000000', 'accept', 1.0, '{}')",
    )
    upgraded = Store(empty_store_url)
    upgraded.upgrade()
    upgraded.close()
    screener = Screener.from_settings(make_settings(tmp_path, empty_store_url))
    try:
        order, warnings = parse_order(order_body(event__transaction_id="new", event__time="2026-11-20T11:00:00Z"))
        evaluation = screener.evaluate(order, warnings)
        assert evaluation.record.history_orders == 1 and evaluation.record.history_generation is None
        screener.sql_store.erase_account("acct-a")
        screener.screen(order_body(event__transaction_id="other", event__time="2026-11-20T10:00:00Z"))
        with pytest.raises(StaleHistoryError):
            screener.store.save_order(evaluation.record)
        answer = screener.screen(order_body(event__transaction_id="new", event__time="2026-11-20T11:00:00Z"))
        assert answer.response["profile"]["prior_orders"] == 1  # "other", not the erased o-old
    finally:
        screener.store.close()


def test_a_database_of_a_newer_release_is_named_as_such(store_url: str) -> None:
    """An operator who rolled the code back gets what happened and what to do, not alembic's
    traceback or "no fraudscreen tables"."""
    from fraudscreen.errors import StoreError
    from fraudscreen.store import has_schema

    with Store(store_url).engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    store = Store(store_url)
    try:
        for call in (store.upgrade, lambda: has_schema(store_url)):
            with pytest.raises(StoreError, match=r"at migration 0099, newer than this release knows "
                                                 r"\(its latest is 0004\).*db downgrade 0004"):
                call()
    finally:
        store.close()


def test_downgrade_moves_the_schema_back_and_upgrade_forward_again(store: Store) -> None:
    store.save_order(OrderRecord(
        order_id="o1", transaction_id="t1", account_id="a", event_time=T0, received_at=T0,
        account_created_at=None, amount=1.0, currency="USD", amount_usd=1.0, entities=EntityKeys(),
        ip_country=None, decision="accept", risk_score=1.0))
    store.downgrade("0002")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        assert "generation" not in {c["name"] for c in inspect(conn).get_columns("accounts")}
        assert conn.execute(text("SELECT count(*) FROM orders")).scalar() == 1
    store.upgrade()
    assert store.get_order("o1") is not None


def test_downgrading_to_the_first_release_keeps_links_and_outcomes(store: Store) -> None:
    """Dropping ``orders.features`` must not copy the orders table: on SQLite dropping the old
    copy would cascade to the entity links and outcomes."""
    store.save_order(OrderRecord(
        order_id="o1", transaction_id="t1", account_id="a", event_time=T0, received_at=T0,
        account_created_at=None, amount=1.0, currency="USD", amount_usd=1.0,
        entities=EntityKeys(ip="10.0.0.1"), ip_country=None, decision="accept", risk_score=1.0))
    store.record_outcome("o1", "fraud", T0)
    store.downgrade("0001")
    with store.engine.connect() as conn:
        counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("orders", "order_entities", "outcomes", "accounts")]
    assert counts == [1, 1, 1, 1]


def test_a_database_folder_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    from fraudscreen.errors import StoreError

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"cannot create the database.s folder \(Not a directory\)"):
        Store(f"sqlite:///{blocker}/var/fraudscreen.db")


@pytest.mark.parametrize("opening", ["upgrade", "schema_revision"])
def test_a_postgresql_server_that_never_answers_fails_the_connection_in_time(
    monkeypatch: pytest.MonkeyPatch, opening: str
) -> None:
    """A server that takes the connection and says nothing hung `db upgrade` and every worker's
    start without end; now the connection gives up after CONNECT_TIMEOUT_SECONDS. The check every
    other command makes first (`schema_revision`) hung too, until it took the same options."""
    import socket
    import threading

    from fraudscreen.errors import StoreError
    from fraudscreen.store import location, schema_revision

    monkeypatch.setattr(location, "CONNECT_TIMEOUT_SECONDS", 1)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever answers
    port = silent.getsockname()[1]
    failed: list[BaseException] = []

    def connect() -> None:
        url = f"postgresql+psycopg://fraud@127.0.0.1:{port}/fraudscreen"
        try:
            Store(url).upgrade() if opening == "upgrade" else schema_revision(url)
        except BaseException as exc:  # noqa: BLE001 - whatever it is, it must come
            failed.append(exc)

    try:
        attempt = threading.Thread(target=connect, daemon=True)
        attempt.start()
        attempt.join(30)
        assert not attempt.is_alive(), "the connection still waits for the server"
        assert isinstance(failed[0], StoreError), failed
    finally:
        silent.close()


@pytest.mark.postgres
@pytest.mark.parametrize("query", ["", "?tcp_user_timeout=4000&keepalives_idle=5"])
def test_postgresql_connections_give_up_on_a_server_gone_from_the_network(
    postgres_url: str, query: str
) -> None:
    """A server that drops off the network acknowledges nothing and runs no statement timeout: a
    worker waited for the kernel's retransmissions (about 15 minutes) or, idle, two hours. The
    pool's connections now carry libpq's ``tcp_user_timeout`` and keepalives, unless the URL sets
    them; read back here from the live socket's kernel options."""
    import socket

    from fraudscreen.store.location import KEEPALIVES, TCP_USER_TIMEOUT_MS

    store = Store(postgres_url + query)
    try:
        with store.engine.connect() as conn:
            fd = conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
            sock = socket.socket(fileno=os.dup(fd))  # closing the duplicate leaves the connection
            try:
                user_timeout = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                idle = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == KEEPALIVES["keepalives_interval"]
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == KEEPALIVES["keepalives_count"]
            finally:
                sock.close()
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1  # the connection still works
    finally:
        store.close()
    if query:
        assert (user_timeout, idle) == (4000, 5)
    else:
        assert (user_timeout, idle) == (TCP_USER_TIMEOUT_MS, KEEPALIVES["keepalives_idle"])
