"""Training rows from the live store: logged features equal the replay's, labels, export CLI."""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from fraudscreen.config import Settings
from fraudscreen.errors import ModelError
from fraudscreen.features import FEATURE_NAMES, FEATURE_SCHEMA
from fraudscreen.screening import Screener
from fraudscreen.store import Store
from fraudscreen.training.commands import backtest, export_training
from fraudscreen.training.jsonl import iter_jsonl
from fraudscreen.training.logged import FORMAT, export_labelled, label_of, read_logged
from fraudscreen.training.pipeline import load_labelled, replay
from fraudscreen.training.prepare import LABEL_FIELDS
from fraudscreen.training.simulate import simulate_orders

from helpers import make_settings, screen_live

START = datetime(2026, 3, 2, tzinfo=UTC)
DELAY = timedelta(days=30)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return list(simulate_orders(400, seed=7, start=START))


def test_logged_features_equal_the_replay_of_the_same_requests(
    rows: list[dict[str, Any]], store_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, store_url)
    screener, ids = screen_live(settings, rows)
    out = tmp_path / "export.jsonl"
    last = max(datetime.fromisoformat(r["event"]["time"]) for r in rows)
    summary = export_labelled(screener.store, out, now=last + DELAY, label_delay=DELAY)
    screener.store.close()
    exported = list(iter_jsonl(out))
    assert summary.rows == len(exported) == len(rows) and summary.too_recent == 0
    assert all(r["format"] == FORMAT for r in exported)
    logged = read_logged(exported)
    replayed = replay(rows, settings=settings)
    by_tx = {tx: i for i, tx in enumerate(replayed.transaction_ids)}
    order = [by_tx[ids[order_id]] for order_id in logged.order_ids]
    # the features the live service logged are exactly those the replay computes
    np.testing.assert_array_equal(logged.X, replayed.X[order])
    np.testing.assert_array_equal(logged.y, replayed.y[order])
    np.testing.assert_array_equal(logged.event_times, replayed.event_times[order])
    live_hits = [sorted(h.rule_id for h in hits) for hits in logged.rule_hits]
    assert live_hits == [sorted(h.rule_id for h in replayed.rule_hits[i]) for i in order]
    assert summary.fraud == int(replayed.y.sum()) > 0
    # no identifiers in the file: only order ids, times, labels, numbers and rule ids
    text = out.read_text()
    for row in rows[:50]:
        for value in (row["email"].get("address"), row["device"]["ip_address"],
                      row["account"]["user_id"], row["device"].get("id")):
            if value:
                assert value not in text


def test_labels_come_from_outcomes_and_time(store: Store, tmp_path: Path) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert label_of("fraud", now, now=now, label_delay=DELAY) == "fraud"
    assert label_of("chargeback", now, now=now, label_delay=DELAY) == "fraud"
    assert label_of("not_fraud", now, now=now, label_delay=DELAY) == "legit"
    assert label_of("refund", now, now=now, label_delay=DELAY) == "legit"
    assert label_of(None, now - DELAY, now=now, label_delay=DELAY) == "legit"
    assert label_of(None, now - DELAY + timedelta(seconds=1), now=now, label_delay=DELAY) is None


def test_export_leaves_out_unlabelled_recent_and_foreign_schema_orders(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/fs.db")
    Store(settings.resolved_database_url).upgrade()
    screener = Screener.from_settings(settings)
    answers = [screener.screen({k: v for k, v in r.items() if k not in LABEL_FIELDS},
                               received_at=datetime.fromisoformat(r["event"]["time"])).response
               for r in rows[:30]]
    times = sorted(datetime.fromisoformat(r["event"]["time"]) for r in rows[:30])
    now = times[14] + DELAY  # orders after the 15th are too recent unless labelled
    late = next(a for a, r in zip(answers, rows[:30], strict=True)
                if datetime.fromisoformat(r["event"]["time"]) > times[14])
    screener.store.record_outcome(late["id"], "fraud", now)
    with screener.sql_store.engine.begin() as conn:  # one order logged by another feature set
        from sqlalchemy import update

        from fraudscreen.store.tables import orders

        conn.execute(update(orders).where(orders.c.order_id == answers[0]["id"])
                     .values(features={"schema": "0" * 16, "x": [1.0], "rules": []}))
    summary = export_labelled(screener.store, tmp_path / "e.jsonl", now=now, label_delay=DELAY)
    screener.store.close()
    exported = {r["order_id"]: r for r in iter_jsonl(tmp_path / "e.jsonl")}
    assert summary.other_schema == 1 and answers[0]["id"] not in exported
    assert exported[late["id"]]["label"] == "fraud"
    assert summary.too_recent == 15 - 1  # 15 after the cut, one of them labelled
    assert summary.rows == 30 - 1 - summary.too_recent
    assert set(exported[late["id"]]["features"]) == set(FEATURE_NAMES)


def test_rules_that_failed_live_are_logged_exported_and_read_back(
    rows: list[dict[str, Any]], store_url: str, tmp_path: Path
) -> None:
    """An order whose review rule failed was reviewed live: the export says which rule failed,
    so a back-test of the export decides as the service did, as the replay does."""
    from fraudscreen.config import PACKAGE_DIR

    rules = tmp_path / "failing.toml"
    rules.write_text((PACKAGE_DIR / "rules" / "default.toml").read_text() + (
        '\n[[rule]]\nid = "overflowing_amount_check"\ncode = "OVERFLOWING_AMOUNT_CHECK"\naction = "review"\n'
        'expression = "int(order.amount_usd * 1e17) < 0"\nmessage = "Fails on orders over about $92."\n'))
    settings = make_settings(tmp_path, store_url, rules_path=rules)
    screener, ids = screen_live(settings, rows)
    out = tmp_path / "export.jsonl"
    last = max(datetime.fromisoformat(r["event"]["time"]) for r in rows)
    export_labelled(screener.store, out, now=last + DELAY, label_delay=DELAY)
    screener.store.close()
    logged = read_logged(iter_jsonl(out))
    replayed = replay(rows, settings=settings)
    by_tx = {tx: i for i, tx in enumerate(replayed.transaction_ids)}
    order = [by_tx[ids[order_id]] for order_id in logged.order_ids]
    failed_live = [[f.rule_id for f in row] for row in logged.rule_errors]
    assert failed_live == [[f.rule_id for f in replayed.rule_errors[i]] for i in order]
    assert sum(map(bool, failed_live)) > 10  # the orders over about $92
    assert [[h.rule_id for h in row] for row in logged.deciding_hits()] == \
        [[h.rule_id for h in replayed.deciding_hits()[i]] for i in order]


def test_rows_logged_before_a_feature_existed_are_skipped_with_a_reason() -> None:
    row = {"format": FORMAT, "order_id": "o", "event_time": "2026-01-01T00:00:00Z",
           "label": "legit", "features": {"amount_usd": 1.0}, "rules": []}
    with pytest.raises(ModelError, match="lack the features"):
        read_logged([row])
    full = {**row, "features": dict.fromkeys(FEATURE_NAMES, 0.0)}
    result = read_logged([row, full, {**full, "label": "maybe"}])
    assert result.skipped == 2 and result.X.shape == (1, len(FEATURE_NAMES))
    assert FEATURE_SCHEMA and result.logged
    assert np.isnan(read_logged([{**full, "features": {**full["features"], "amount_usd": None}}]).X[0, 0])
    with pytest.raises(ModelError, match="1 with a feature value that is not a number or null, negative, or beyond"):
        read_logged([{**full, "features": {**full["features"], "amount_usd": "much"}}])


def test_a_row_read_twice_counts_once() -> None:
    """Two overlapping exports, or a saved replay, concatenated: the test rows once each."""
    rows = _logged_rows()
    result = read_logged([*rows, *rows[:10]])
    assert result.y.size == 40 and result.skipped_why == {"repeating an order_id": 10}


def _logged_rows(n: int = 40) -> list[dict[str, Any]]:
    """A small export: every current feature (``amount_usd`` = the row number), one fraud in four."""
    return [{"format": FORMAT, "order_id": f"o{i}", "event_time": f"2026-01-{1 + i % 28:02d}T00:00:{i:02d}Z",
             "label": "fraud" if i % 4 == 0 else "legit", "label_time": f"2026-03-{1 + i % 28:02d}T00:00:00Z",
             "features": {**dict.fromkeys(FEATURE_NAMES, 0.0), "amount_usd": float(i)}, "rules": []}
            for i in range(n)]


@pytest.mark.parametrize("block_rows", [8192, 4])
def test_a_row_with_a_value_that_is_not_a_number_is_skipped_and_counted(
    block_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bad value used to stop the whole back-test, naming neither file nor line."""
    monkeypatch.setattr("fraudscreen.training.logged._BLOCK_ROWS", block_rows)
    rows = _logged_rows()
    rows[3]["features"]["amount_usd"] = "abc"
    rows[9]["features"]["ip_found"] = {"nested": 1}
    rows[38]["features"]["card_present"] = [1.0]  # in the last, partial block
    # numbers only: not a number in a string, a boolean, nor a value no order can have
    rows[5]["features"]["amount_usd"] = "12.5"
    rows[6]["features"]["card_present"] = True
    rows[7]["features"]["amount_usd"] = math.inf
    rows[8]["features"]["amount_usd"] = -1e300
    rows[10]["features"]["amount_usd"] = 10**400
    rows[11]["features"]["amount_usd"] = -5.0  # made the report's money figures negative
    rows[12]["features"]["profile_orders_1h"] = -1
    odd = (3, 5, 6, 7, 8, 9, 10, 11, 12, 38)
    result = read_logged(rows)
    assert result.skipped == len(odd) and result.y.size == 40 - len(odd)
    assert result.skipped_why == {
        "with a feature value that is not a number or null, negative, or beyond 1e15": len(odd)}
    assert np.isfinite(result.X[:, 0]).all()
    assert sorted(result.order_ids) == sorted(f"o{i}" for i in range(40) if i not in odd)
    # every row kept its own values, labels and times
    kept = {int(oid[1:]): k for k, oid in enumerate(result.order_ids)}
    assert all(result.X[k, 0] == i for i, k in kept.items())
    assert all(result.y[k] == (i % 4 == 0) for i, k in kept.items())
    assert np.all(np.diff(result.event_times) >= 0) and not np.isnan(result.X).any()


def test_a_fraud_without_label_time_is_known_after_the_label_delay() -> None:
    rows = _logged_rows()
    del rows[0]["label_time"]
    rows[4]["label_time"] = None
    result = read_logged(rows, label_delay=timedelta(days=10))
    for oid in ("o0", "o4"):
        i = result.order_ids.index(oid)
        assert result.label_times[i] == result.event_times[i] + 10 * 86400
    assert read_logged(rows).label_times[result.order_ids.index("o0")] == \
        result.event_times[result.order_ids.index("o0")] + 30 * 86400  # the default delay
    i = result.order_ids.index("o8")  # a label_time that is given is kept
    assert result.label_times[i] == datetime(2026, 3, 9, tzinfo=UTC).timestamp()
    assert np.isnan(result.label_times[result.order_ids.index("o1")])  # legit
    rows[5]["label_time"] = "yesterday"  # invalid, on a legit row too: skipped, as in the replay
    rows[8]["label_time"] = 20260301
    bad = read_logged(rows)
    assert bad.skipped == 2 and bad.skipped_why == {"with an invalid label_time": 2}


def test_logged_times_are_read_as_the_score_endpoint_reads_them() -> None:
    rows = _logged_rows(8)
    rows[1]["event_time"] = "2026-01-02t00:00:01z"  # RFC 3339 allows lower case: read
    rows[2]["event_time"] = "20260103"  # not RFC 3339 (the score endpoint refuses it): skipped
    rows[4]["label_time"] = "2026-03-05 00:00:00+01:00"
    result = read_logged(rows)
    assert result.skipped_why == {"without a valid event time": 1}
    assert "o1" in result.order_ids and "o2" not in result.order_ids
    i = result.order_ids.index("o4")
    assert result.label_times[i] == datetime(2026, 3, 4, 23, tzinfo=UTC).timestamp()


def test_the_label_delay_reaches_logged_rows_in_a_back_test(tmp_path: Path) -> None:
    """--labels known-at-test-start: a fraud without label_time is late only with a delay."""
    rng = np.random.default_rng(5)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(1000):  # one an hour; the test rows are the last 200
        fraud = i % 12 == 0 or i in range(700, 790, 18)
        at = start + timedelta(hours=i)
        features = {**dict.fromkeys(FEATURE_NAMES, 0.0),
                    "amount_usd": float(rng.normal(8.0 if fraud else 5.0)),  # no feature is negative
                    "item_count": float(abs(rng.normal()))}
        rows.append({"format": FORMAT, "order_id": f"o{i}", "event_time": at.isoformat(),
                     "label": "fraud" if fraud else "legit", "features": features, "rules": [],
                     "label_time": (at + timedelta(hours=1)).isoformat()})
    no_label_time = list(range(700, 790, 18))
    for i in no_label_time:
        del rows[i]["label_time"]
    data = tmp_path / "export.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings = Settings(data_dir=tmp_path / "var")
    late = {}
    for days in ("0", "5"):
        out = tmp_path / f"report-{days}.json"
        result = CliRunner().invoke(
            backtest, ["--data", str(data), "--no-progress", "--labels", "known-at-test-start",
                       "--label-delay-days", days, "--json", str(out)],
            obj=settings, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        report = json.loads(out.read_text())
        assert report["replay"]["method"] == "logged" and report["replay"]["label_delay_days"] == float(days)
        late[days] = report["split"]["train_frauds_not_yet_known"]
        split = report["split"]
        assert split["train_rows"] + split["test_rows"] + split["warm_up_rows"] \
            + split["train_rows_not_yet_labelled"] == report["data"]["rows_replayed"] == 1000
        assert f"the {split['train_rows_not_yet_labelled']} train orders of the {days} days before" \
            in " ".join(result.output.split())
    # with 1 hour between order and label only the last train hour can be late
    assert late["0"] <= 1 and late["5"] == late["0"] + len(no_label_time)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """4,000 simulated orders (about 20 frauds among the test rows) screened live (SQLite, bundled
    GeoIP) and exported with the CLI."""
    tmp = tmp_path_factory.mktemp("live")
    settings = Settings(data_dir=tmp / "var")
    Store(settings.resolved_database_url).upgrade()
    many = list(simulate_orders(4000, seed=11, start=START))
    screener, _ = screen_live(settings, many)
    screener.store.close()
    out = tmp / "training.jsonl.gz"
    result = CliRunner().invoke(export_training, ["--out", str(out)], obj=settings,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "labelled orders" in result.output
    return settings, out


def test_backtest_reads_an_export_without_replaying(exported: tuple[Settings, Path],
                                                    tmp_path: Path) -> None:
    settings, out = exported
    replayed, n = load_labelled(out, settings=settings)
    assert replayed.logged and n == replayed.y.size + replayed.skipped
    report_path, rows_path = tmp_path / "report.json", tmp_path / "rows.csv"
    result = CliRunner().invoke(
        backtest, ["--data", str(out), "--json", str(report_path), "--test-orders", str(rows_path),
                   "--no-progress"],
        obj=settings, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["replay"]["method"] == "logged"
    assert report["test"]["rows"] == round(0.2 * replayed.y.size)
    # an export names no account: its intervals resample rows
    assert replayed.accounts.size == 0
    assert report["intervals"]["resampled"] == "rows" and report["intervals"]["accounts"] is None
    assert report["systems"]["model"]["roc_auc"] > 0.8, report["test"]
    # one line per test row, naming the stored order (an export holds no transaction id)
    with rows_path.open(newline="") as fh:
        decided = list(csv.DictReader(fh))
    exported_rows = list(iter_jsonl(out))
    assert len(decided) == report["test"]["rows"]
    for line in decided:
        row = exported_rows[int(line["line"]) - 1]
        assert line["order_id"] == row["order_id"] != "" and line["transaction_id"] == ""
        assert line["label"] == row["label"] and line["rules"].split() == [h["id"] for h in row["rules"]]


def test_export_command_checks_its_times(exported: tuple[Settings, Path], tmp_path: Path) -> None:
    settings, _ = exported
    bad = CliRunner().invoke(export_training, ["--out", str(tmp_path / "x.jsonl"),
                                               "--since", "yesterday"], obj=settings)
    assert bad.exit_code == 2 and "'--since': must be an RFC 3339 time such as" in bad.output
    assert bad.output.count("2026-01-05") == 1  # one example, not two
    window = CliRunner().invoke(
        export_training, ["--out", str(tmp_path / "w.jsonl"), "--since", "2026-03-03T00:00:00Z",
                          "--until", "2026-03-04T00:00:00Z"], obj=settings, catch_exceptions=False)
    assert window.exit_code == 0
    times = [r["event_time"] for r in iter_jsonl(tmp_path / "w.jsonl")]
    assert times and all("2026-03-03" <= t < "2026-03-04" for t in times)


def test_anonymised_labelled_orders_stay_training_rows(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    from fraudscreen.privacy.retention import purge

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/fs.db")
    Store(settings.resolved_database_url).upgrade()
    screener = Screener.from_settings(settings)
    at = datetime.fromisoformat(rows[0]["event"]["time"])
    answer = screener.screen({k: v for k, v in rows[0].items() if k not in LABEL_FIELDS},
                             received_at=at).response
    screener.store.record_outcome(answer["id"], "fraud", at + timedelta(days=3))
    before = read_logged(list(_export(screener.store, tmp_path / "before.jsonl", at)))
    report = purge(screener.store, settings, now=at + timedelta(days=800))
    assert report.counts["orders_anonymised"] == 1
    after = read_logged(list(_export(screener.store, tmp_path / "after.jsonl", at)))
    screener.store.close()
    assert after.order_ids[0].startswith("anon_") and after.order_ids != before.order_ids
    np.testing.assert_array_equal(after.X, before.X)
    assert after.y.tolist() == before.y.tolist() == [1]


def _export(store: Store, path: Path, at: datetime) -> list[dict[str, Any]]:
    export_labelled(store, path, now=at + timedelta(days=900), label_delay=DELAY)
    return list(iter_jsonl(path))


def test_logged_rows_come_back_in_time_order_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fraudscreen.training.logged._BLOCK_ROWS", 2)
    base = dict.fromkeys(FEATURE_NAMES, 0.0)
    rows = [
        {"format": FORMAT, "order_id": f"o{i}", "event_time": f"2026-01-0{day}T00:00:00Z",
         "label": "fraud" if i == 3 else "legit", "features": {**base, "amount_usd": float(i)},
         "rules": [{"id": "cvv_mismatch", "action": "signal"}] if i == 1 else []}
        for i, day in enumerate((5, 2, 9, 1, 2))
    ]
    result = read_logged(iter(rows))
    assert result.order_ids == ["o3", "o1", "o4", "o0", "o2"]  # by time, ties in file order
    assert result.X[:, 0].tolist() == [3.0, 1.0, 4.0, 0.0, 2.0]
    assert result.y.tolist() == [1, 0, 0, 0, 0]
    assert [h.rule_id for h in result.rule_hits[1]] == ["cvv_mismatch"]
    assert result.source_rows.tolist() == [3, 1, 4, 0, 2]
