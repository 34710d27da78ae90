"""Retention: ``purge`` drops what is past each period, keeps the rest, and is idempotent."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from fraudscreen.config import Settings
from fraudscreen.errors import ConfigError, NotFoundError
from fraudscreen.logs import log_file_name
from fraudscreen.privacy import PurgeScheduler, purge
from fraudscreen.privacy.commands import purge as purge_command
from fraudscreen.screening import Screener
from fraudscreen.store.retention import PURGED_VALUE
from fraudscreen.store.tables import audit_log, order_entities, orders, outcomes

from helpers import make_settings, order_body

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    return make_settings(tmp_path, store_url, retention_personal_days=180,
                         retention_orders_days=730, retention_audit_days=365, retention_logs_days=30)


@pytest.fixture
def screener(settings: Settings) -> Iterator[Screener]:
    screener = Screener.from_settings(settings)
    yield screener
    screener.store.close()


def screen(screener: Screener, name: str, account: str, age_days: int, ip: str) -> str:
    at = NOW - timedelta(days=age_days)
    body = order_body(event__transaction_id=name, event__time=at.isoformat(),
                      account__user_id=account, device__ip_address=ip, device__id=f"dev-{name}",
                      email__address=f"{name}@example.org", credit_card__token=f"tok-{name}")
    return screener.screen(body, received_at=at).response["id"]


def rows(url: str, table: sa.Table) -> list[dict]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(table))]
    finally:
        engine.dispose()


def test_purge_removes_what_is_past_retention_and_keeps_the_rest(screener, settings) -> None:
    store, url = screener.store, settings.resolved_database_url
    fresh = screen(screener, "fresh", "acct-now", 10, "81.2.69.142")
    aging = screen(screener, "aging", "acct-now", 200, "81.2.69.160")
    ancient = screen(screener, "ancient", "acct-gone", 800, "2.125.160.216")
    labelled = screen(screener, "labelled", "acct-gone", 790, "2.125.160.216")
    store.record_outcome(labelled, "fraud", NOW - timedelta(days=700))
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.insert(audit_log), [
            {"at": NOW - timedelta(days=400), "actor": "t", "action": "old", "target": "x", "details": {}},
            {"at": NOW - timedelta(days=5), "actor": "t", "action": "new", "target": "y", "details": {}},
        ])
    log_dir = settings.resolved_log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    old_log = log_dir / log_file_name((NOW - timedelta(days=31)).date())
    new_log = log_dir / log_file_name((NOW - timedelta(days=29)).date())
    old_log.write_text("{}\n")
    new_log.write_text("{}\n")
    profile_before = store.get_profile("acct-now", at=NOW)

    report = purge(store, settings, now=NOW)
    assert report.counts == {
        "orders_stripped": 3, "entity_links": 5 + 10, "orders_deleted": 1, "orders_anonymised": 1,
        "accounts_deleted": 1, "audit_entries": 1, "audit_list_values": 0, "log_files": 1,
    }

    by_id = {r["order_id"]: r for r in rows(url, orders)}
    assert set(by_id) - {fresh, aging} and ancient not in by_id and labelled not in by_id
    kept = by_id[fresh]
    assert kept["ip"] == "81.2.69.142" and kept["device_id"] == "dev-fresh" and kept["email_hash"]
    assert len(kept["request_digest"]) == 64
    assert kept["response"]["ip_location"]["city"] == "London"
    stripped = by_id[aging]
    personal = ("ip", "device_id", "card_key", "email_hash", "email_domain", "request_digest")
    assert [stripped[c] for c in personal] == [None] * 6
    assert stripped["response"]["ip_location"] == {"country": "GB"}
    assert stripped["amount"] == 119.0 and stripped["decision"] and stripped["account_id"] == "acct-now"
    [anon] = [r for r in by_id.values() if r["order_id"].startswith("anon_")]
    assert (anon["account_id"], anon["transaction_id"], anon["ip"], anon["outcome"]) == (None, None, None, "fraud")
    assert anon["event_time"].time() == datetime.min.time() and anon["amount"] == 119.0
    assert set(anon["response"]) >= {"decision", "risk_score", "profile"}
    assert "id" not in anon["response"] and "order_id" not in anon["response"]
    [label] = rows(url, outcomes)
    assert (label["order_id"], label["account_id"], label["outcome"]) == (anon["order_id"], None, "fraud")
    links = rows(url, order_entities)
    assert {link["order_id"] for link in links} == {fresh}
    assert not old_log.exists() and new_log.exists()
    assert [r["action"] for r in rows(url, audit_log)] == ["new"]

    # Aggregates stay: the account's counters are unchanged; the long-gone account is deleted.
    profile_after = store.get_profile("acct-now", at=NOW)
    assert profile_after.prior_orders == profile_before.prior_orders == 2
    with pytest.raises(NotFoundError, match="no account"):
        store.get_profile("acct-gone", at=NOW)

    again = purge(store, settings, now=NOW)
    assert not any(again.counts.values())


def test_scheduler_claims_one_run_per_interval_across_workers(screener, settings) -> None:
    scheduled = settings.with_overrides(purge_interval_hours=6)
    first, second = PurgeScheduler(screener.store, scheduled), PurgeScheduler(screener.store, scheduled)
    assert first.run_once(NOW) is True
    assert second.run_once(NOW + timedelta(hours=1)) is False
    assert second.run_once(NOW + timedelta(hours=6)) is True
    assert (first.runs, second.runs) == (1, 1)


def test_purge_command_prints_the_counts(settings, screener) -> None:
    screen(screener, "cli", "acct-cli", 10, "81.2.69.142")
    result = CliRunner().invoke(purge_command, [], obj=settings)
    assert result.exit_code == 0, result.output
    assert '"orders_stripped": 0' in result.output and '"personal"' in result.output
    assert '"audit_list_values": 0' in result.output
    for name, days in (("retention_orders_days", 0), ("retention_orders_days", 800_000),
                       ("retention_personal_days", 99_999_999_999), ("retention_logs_days", 36_501)):
        with pytest.raises(ConfigError, match=rf"setting {name} \(FRAUDSCREEN_{name.upper()}\) must "
                                              "be a whole number from 1 to 36,500"):
            settings.with_overrides(**{name: days})
        # settings made in code are not cast: purge checks them itself
        bad = CliRunner().invoke(purge_command, [], obj=dataclasses.replace(settings, **{name: days}))
        assert bad.exit_code == 1 and not isinstance(bad.exception, OverflowError), bad.output
        assert f"{name}' must be a whole number of days from 1 to 36,500" in bad.output


def _age_audit(url: str, days: int, *audit_ids: int) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(audit_log).where(audit_log.c.id.in_(audit_ids))
                         .values(at=NOW - timedelta(days=days)))
    finally:
        engine.dispose()


def _last_audit_id(url: str) -> int:
    return max(r["id"] for r in rows(url, audit_log))


def test_purge_drops_list_values_from_old_audit_entries_unless_still_listed(screener, settings) -> None:
    store, url = screener.store, settings.resolved_database_url
    # Added and removed 200 days ago: the list no longer holds it, so neither entry may.
    store.add_list_entry("block", "ip", "81.2.69.160", actor="staff")
    gone_add = _last_audit_id(url)
    store.remove_list_entry("block", "ip", "81.2.69.160", actor="staff")
    gone_remove = _last_audit_id(url)
    # Added 200 days ago and still listed: the entry saying who added it keeps the value.
    store.add_list_entry("block", "device_id", "dev-evil", actor="staff")
    listed_add = _last_audit_id(url)
    # Same value, other list: being on the review list does not keep a block-list entry.
    store.add_list_entry("block", "email_hash", "ab" * 32, actor="staff")
    other_add = _last_audit_id(url)
    store.remove_list_entry("block", "email_hash", "ab" * 32, actor="staff")
    other_remove = _last_audit_id(url)
    store.add_list_entry("review", "email_hash", "ab" * 32, actor="staff")
    review_add = _last_audit_id(url)
    # Added 200 days ago, removed 10 days ago: the recent removal keeps the value.
    store.add_list_entry("block", "ip", "2.125.160.216", actor="staff")
    recent_add = _last_audit_id(url)
    store.remove_list_entry("block", "ip", "2.125.160.216", actor="staff")
    recent_remove = _last_audit_id(url)
    _age_audit(url, 200, gone_add, gone_remove, listed_add, other_add, other_remove, review_add,
               recent_add)
    _age_audit(url, 10, recent_remove)
    # Other actions keep their details, even with a "value" in them.
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.insert(audit_log), [
            {"at": NOW - timedelta(days=200), "actor": "t", "action": "order.read", "target": "o1",
             "details": {"value": "81.2.69.160"}},
            {"at": NOW - timedelta(days=200), "actor": "t", "action": "profile.read", "target": "a1",
             "details": {"orders": 3}},
        ])
    before = {r["id"]: r for r in rows(url, audit_log)}

    report = purge(store, settings, now=NOW)
    assert report.counts["audit_list_values"] == 5
    assert report.counts["audit_entries"] == 0

    after = {r["id"]: r for r in rows(url, audit_log)}
    assert set(after) == set(before)
    # The 200-day-old add of the value removed 10 days ago goes too: it is off the list now.
    purged = {gone_add, gone_remove, other_add, other_remove, recent_add}
    for audit_id, row in after.items():
        if audit_id in purged:
            assert row["details"] == {"value": PURGED_VALUE}
            assert {k: v for k, v in row.items() if k != "details"} == {
                k: v for k, v in before[audit_id].items() if k != "details"}
        else:
            assert row == before[audit_id]
    assert after[gone_add]["target"] == "block/ip" and after[gone_add]["action"] == "list.add"
    assert after[listed_add]["details"] == {"value": "dev-evil"}
    assert after[review_add]["details"] == {"value": "ab" * 32}
    assert after[recent_remove]["details"] == {"value": "2.125.160.216"}
    assert not any("81.2.69.160" in str(r["details"]) for r in after.values()
                   if r["action"].startswith("list."))

    again = purge(store, settings, now=NOW)
    assert again.counts["audit_list_values"] == 0
    assert {r["id"]: r for r in rows(url, audit_log)} == after


def test_the_privacy_page_names_the_purged_marker() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "privacy.md").read_text()
    assert f"`{PURGED_VALUE}`" in doc and "audit_list_values" in doc


def test_concurrent_purges_change_each_list_audit_value_once(screener, settings) -> None:
    """Two purges at once (cron and a worker's schedule) count each purged value once in all."""
    store, url = screener.store, settings.resolved_database_url
    ids = []
    for i in range(40):
        store.add_list_entry("block", "ip", f"81.2.69.{i}", actor="staff")
        ids.append(_last_audit_id(url))
        store.remove_list_entry("block", "ip", f"81.2.69.{i}", actor="staff")
        ids.append(_last_audit_id(url))
    _age_audit(url, 200, *ids)
    before = NOW - timedelta(days=180)
    with ThreadPoolExecutor(max_workers=3) as pool:
        counts = list(pool.map(lambda _: store.purge_list_audit_values(before), range(3)))
    assert sum(counts) == 80, counts
    assert all(r["details"] == {"value": PURGED_VALUE} for r in rows(url, audit_log)
               if r["action"].startswith("list."))
