"""Erasure and retention edges: an order logged during an erasure, a repeated erasure's report,
retention periods, cut-offs and the purge scheduler's interval."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from fraudscreen.config import Settings
from fraudscreen.errors import ConfigError
from fraudscreen.logs import log_files
from fraudscreen.privacy.retention import PurgeScheduler, purge, start_purge_scheduler
from fraudscreen.store import Store

from helpers import auth, make_settings, order_body


def _log_lines(settings: Settings) -> list[bytes]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return b"".join(p.read_bytes() for p in log_files(settings.resolved_log_dir)).splitlines()


# erasure.erase_account: the second pass also looks for identifiers found by the erasure
def test_an_order_scored_between_the_first_pass_and_the_erasure_leaves_no_log_line(
    client: FlaskClient, keys: dict[str, str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraudscreen.privacy import erasure

    client.post("/v1/score", json=order_body(event__transaction_id="t-old", account__user_id="acct-late"),
                headers=auth(keys["score"]))
    rewrite, late = erasure.rewrite_logs, []

    def first_pass_then_a_new_order(directory: Path, identifiers: Iterable[str]):
        answer = rewrite(directory, identifiers)
        if not late:  # a new order of the account commits and logs after the first pass
            scored = client.post("/v1/score", json=order_body(event__transaction_id="t-late",
                                                              account__user_id="acct-late"),
                                 headers=auth(keys["score"]))
            assert scored.status_code == 200
            late.append(scored.get_json()["id"])
            assert any(late[0].encode() in line for line in _log_lines(settings))
        return answer

    monkeypatch.setattr(erasure, "rewrite_logs", first_pass_then_a_new_order)
    store = client.application.extensions["fraudscreen"].sql_store
    report = erasure.erase_account(store, settings, "acct-late", actor="test")
    assert report.removed["orders"] == 2
    assert not any(late[0].encode() in line for line in _log_lines(settings))


# retention._days: zero days is refused, not only negative ones
def test_a_retention_period_of_zero_days_is_refused(tmp_path: Path, store: Store) -> None:
    settings = dataclasses.replace(make_settings(tmp_path, "sqlite://"), retention_logs_days=0)  # not cast
    with pytest.raises(ConfigError, match="retention_logs_days"):
        purge(store, settings)


# retention.purge: list-change audit values are purged after the *personal* period
# retention.purge: log files follow retention_logs_days
def test_purge_cutoffs_follow_their_own_settings(tmp_path: Path, store: Store) -> None:
    settings = make_settings(tmp_path, "sqlite://", retention_personal_days=10, retention_orders_days=100,
                             retention_audit_days=1000, retention_logs_days=3)
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    calls: dict[str, datetime] = {}
    original = store.purge_list_audit_values

    def spy(before: datetime) -> int:
        calls["list_audit"] = before
        return original(before)

    store.purge_list_audit_values = spy  # type: ignore[method-assign]
    report = purge(store, settings, now=now)
    assert calls["list_audit"] == now - timedelta(days=10)
    assert report.logs_before == now - timedelta(days=3)
    assert report.to_dict()["cutoffs"]["logs"] == "2026-05-29"


# PurgeScheduler.run_once: the claim's interval is in seconds
def test_a_second_scheduler_within_the_interval_does_not_purge(tmp_path: Path, store: Store) -> None:
    settings = make_settings(tmp_path, "sqlite://", purge_interval_hours=24.0)
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    first, second = PurgeScheduler(store, settings), PurgeScheduler(store, settings)
    assert first.run_once(now) is True
    assert second.run_once(now + timedelta(hours=2)) is False
    assert second.run_once(now + timedelta(hours=25)) is True


# start_purge_scheduler: 0 hours means no scheduler
def test_no_scheduler_when_the_interval_is_zero(tmp_path: Path, store: Store) -> None:
    assert start_purge_scheduler(store, make_settings(tmp_path, "sqlite://", purge_interval_hours=0)) is None


# erasure.erase_account: the report claims kept audit entries only when there are some
def test_a_repeated_erasure_reports_only_the_erasure_record_as_kept(
    client: FlaskClient, keys: dict[str, str], settings: Settings
) -> None:
    from fraudscreen.privacy.erasure import erase_account

    client.post("/v1/score", json=order_body(event__transaction_id="t-kept", account__user_id="acct-kept"),
                headers=auth(keys["score"]))
    store = client.application.extensions["fraudscreen"].sql_store
    erase_account(store, settings, "acct-kept", actor="test")
    again = erase_account(store, settings, "acct-kept", actor="test")
    assert not any(again.removed.values()), again.removed
    assert [k["what"] for k in again.kept] == [
        f"the record of this erasure ({again.erasure_id}): time, actor and counts"]
