"""``backtest --test-orders``: one CSV line per test row, agreeing with the report it came from."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fraudscreen.config import REPO_DIR, Settings
from fraudscreen.features import FEATURE_NAMES
from fraudscreen.model import ModelBundle
from fraudscreen.rules import RuleSet
from fraudscreen.training.backtest import Backtest, backtest_report
from fraudscreen.training.commands import backtest
from fraudscreen.training.decided_orders import OUTCOMES, decided_columns, write_decided_orders
from fraudscreen.training.jsonl import line_numbers
from fraudscreen.training.pipeline import load_labelled
from fraudscreen.training.retrain import train_on_replay
from fraudscreen.training.simulate import simulate_orders

SHIPPED = REPO_DIR / "models" / "default" / "model.joblib"
FORMULA_ID = '=HYPERLINK("http://example.invalid","x")'
EMAIL_ID = "jane.doe@example.org"  # a shop's id built from the buyer's address
LEGACY_EMAIL_ID = "john.roe@example.org"  # one that a saved replay of an earlier release holds
BLANK_EVERY = 97


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 simulated orders after the shipped model's period, with a blank line every 97
    lines (so a row's line is not its index), the latest order's transaction id written as a
    spreadsheet formula and the one before's as an e-mail address (which the service refuses:
    the replay skips that row)."""
    rows = list(simulate_orders(2000, seed=5, start=datetime(2026, 7, 1, tzinfo=UTC)))
    by_time = sorted(range(len(rows)), key=lambda i: rows[i]["event"]["time"])
    rows[by_time[-1]]["event"]["transaction_id"] = FORMULA_ID
    rows[by_time[-2]]["event"]["transaction_id"] = EMAIL_ID
    path = tmp_path_factory.mktemp("data") / "orders.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            if i and i % BLANK_EVERY == 0:
                fh.write("\n")
            fh.write(json.dumps(row) + "\n")
    return path


@pytest.fixture(scope="module")
def done(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    settings = Settings(data_dir=tmp_path_factory.mktemp("var"))
    replayed, rows_read = load_labelled(data, settings=settings)
    assert replayed.skipped == 1  # the order whose transaction id is an e-mail address
    replayed.transaction_ids[-2] = LEGACY_EMAIL_ID  # earlier releases took such ids
    trained = train_on_replay(replayed, version="t", data_sha256="0" * 64)
    return backtest_report(trained, rules=RuleSet.load(settings.resolved_rules_path),
                             data_path=data, data_sha256=None, rows_read=rows_read,
                             compare=(ModelBundle.load(SHIPPED), SHIPPED))


@pytest.fixture(scope="module")
def written(done: Backtest, data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    path = tmp_path_factory.mktemp("out") / "test-orders.csv"
    n = write_decided_orders(path, done, line_numbers(data))
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert n == len(rows)
    return rows


def test_one_line_per_test_row_in_event_time_order(done: Backtest, written: list[dict[str, str]]) -> None:
    report = done.report
    assert len(written) == report["test"]["rows"] > 0
    assert sum(r["label"] == "fraud" for r in written) == report["test"]["frauds"] > 0
    times = [r["event_time"] for r in written]
    assert times == sorted(times)
    assert times[0] == report["split"]["test_from"] and times[-1] == report["split"]["test_to"]
    assert list(written[0]) == decided_columns(done)
    assert "scenario" in written[0] and "compare_decision" in written[0]


def test_each_line_points_at_its_order_in_the_input_file(data: Path, written: list[dict[str, str]]) -> None:
    lines = data.read_text(encoding="utf-8").split("\n")
    assert any(int(r["line"]) > BLANK_EVERY for r in written)  # past a blank line
    for r in written:
        order = json.loads(lines[int(r["line"]) - 1])
        shown = r["transaction_id"].removeprefix("'")
        assert shown == order["event"]["transaction_id"] or (r is written[-2] and shown == "[withheld]")
        assert r["label"] == order["label"] and r["scenario"] == order["scenario"]


def test_the_decisions_add_up_to_the_report(done: Backtest, written: list[dict[str, str]]) -> None:
    report = done.report
    n = len(written)
    for system, column in (("rules", "rules_decision"), ("model", "model_decision"),
                           ("combined", "decision")):
        mix = Counter(r[column] for r in written)
        for decision, share in report["systems"][system]["decision_mix"].items():
            assert mix[decision] / n == pytest.approx(share)
    outcomes = Counter(r["outcome"] for r in written)
    assert set(outcomes) <= set(OUTCOMES)
    frauds = report["test"]["frauds"]
    assert outcomes["fraud_caught"] / frauds == pytest.approx(report["systems"]["combined"]["flagged_recall"])
    assert outcomes["fraud_caught"] + outcomes["fraud_missed"] == frauds
    compared = Counter(r["compare_decision"] for r in written)
    for decision, share in report["compare"]["systems"]["combined"]["decision_mix"].items():
        assert compared[decision] / n == pytest.approx(share)
    for entry in report["rules"]:
        hits = [r for r in written if entry["id"] in r["rules"].split()]
        assert len(hits) == entry["hits"]
        assert sum(r["label"] == "fraud" for r in hits) == entry["frauds"]
        for label, key in (("fraud", "fraud_usd"), ("legit", "legit_usd")):
            amount = sum(float(r["amount_usd"]) for r in hits if r["label"] == label)
            assert entry[key] == pytest.approx(amount, abs=0.005 * len(hits) + 0.01)


def test_the_model_probability_ranks_the_rows_as_the_decisions_do(done: Backtest,
                                                                  written: list[dict[str, str]]) -> None:
    review = done.trained.result.bundle.thresholds.review
    for r in written:
        assert (float(r["probability"]) >= review) == (r["model_decision"] != "accept")


def test_the_probabilities_are_written_in_full(done: Backtest, written: list[dict[str, str]]) -> None:
    """The report's model figures come out again from the file, to the last digit."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    p = np.array([float(r["probability"]) for r in written])
    test = done.trained.test_idx
    np.testing.assert_array_equal(p, done.trained.result.bundle.predict_proba(done.trained.replayed.X[test]))
    y = [r["label"] == "fraud" for r in written]
    model = done.report["systems"]["model"]
    assert roc_auc_score(y, p) == pytest.approx(model["roc_auc"], abs=1e-12)
    assert average_precision_score(y, p) == pytest.approx(model["average_precision"], abs=1e-12)


def test_text_that_a_spreadsheet_would_run_is_written_as_text(written: list[dict[str, str]]) -> None:
    assert written[-1]["transaction_id"] == "'" + FORMULA_ID
    assert all(not r["transaction_id"].startswith("=") for r in written)


def test_an_id_holding_an_e_mail_address_is_withheld(written: list[dict[str, str]]) -> None:
    assert written[-2]["transaction_id"] == "[withheld]"
    assert not any(EMAIL_ID in value or LEGACY_EMAIL_ID in value for r in written for value in r.values())


def test_the_command_writes_it_compressed_beside_the_report(data: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "rows.csv.gz", tmp_path / "report.json"
    result = CliRunner().invoke(
        backtest, ["--data", str(data), "--test-orders", str(out), "--json", str(report),
                   "--no-progress", "--workers", "0", "--segment-by", "billing-country"],
        obj=Settings(data_dir=tmp_path / "var"), catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}." in result.output
    with gzip.open(out, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    test = json.loads(report.read_text())["test"]
    assert len(rows) == test["rows"]
    assert "billing_country" in rows[0] and "compare_decision" not in rows[0]
    assert all(len(r["billing_country"]) == 2 for r in rows)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial file


def test_a_place_that_cannot_be_written_is_refused_before_the_replay(data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        backtest, ["--data", str(data), "--test-orders", str(tmp_path), "--no-progress"],
        obj=Settings(data_dir=tmp_path / "var"),
    )
    assert result.exit_code == 2 and "is a directory" in result.output


def test_a_failed_write_leaves_no_file(done: Backtest, data: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OSError):
        write_decided_orders(tmp_path / "a-file" / "rows.csv", done, line_numbers(data))
    target = tmp_path / "rows.csv"
    with pytest.raises(KeyError):  # fails half-way: a line number the file does not have
        write_decided_orders(target, done, {})  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_the_calibration_and_drift_sections_describe_the_same_rows(done: Backtest,
                                                                  written: list[dict[str, str]]) -> None:
    calibration = done.report["calibration"]
    assert calibration["frauds"] == done.report["test"]["frauds"]
    assert sum(band["rows"] for band in calibration["bands"]) == len(written)
    assert calibration["expected_frauds"] == pytest.approx(sum(float(r["probability"]) for r in written))
    for band in calibration["bands"]:
        inside = [r for r in written if band["from"] <= float(r["probability"]) < band["to"]
                  or (band["to"] == 1.0 and float(r["probability"]) == 1.0)]
        assert len(inside) == band["rows"]
        assert sum(r["label"] == "fraud" for r in inside) == band["frauds"]
    assert done.report["compare"]["calibration"]["expected_frauds"] == pytest.approx(
        sum(float(r["compare_probability"]) for r in written))
    drift = done.report["drift"]
    assert len(drift["features"]) == len(FEATURE_NAMES)
    assert drift["probability_psi"] is not None and drift["probability_psi"] >= 0
    psis = [f["psi"] for f in drift["features"]]
    assert psis == sorted(psis, reverse=True)


def test_the_money_section_adds_up_the_amounts_of_the_lines(done: Backtest, written: list[dict[str, str]]) -> None:
    money = done.report["money"]
    cents = 0.005 * len(written) + 0.01  # each line's amount is rounded to the cent

    def usd(rows: list[dict[str, str]]) -> float:
        return sum(float(r["amount_usd"]) for r in rows)

    assert all(r["amount_usd"] for r in written)  # every simulated order has a USD amount
    assert money["fraud_usd"] == pytest.approx(usd([r for r in written if r["label"] == "fraud"]), abs=cents)
    combined = money["systems"]["combined"]
    assert combined["fraud_flagged_usd"] == pytest.approx(
        usd([r for r in written if r["outcome"] == "fraud_caught"]), abs=cents)
    assert combined["legit_rejected_usd"] == pytest.approx(
        usd([r for r in written if r["label"] == "legit" and r["decision"] == "reject"]), abs=cents)
    compared = done.report["compare"]["money"]["systems"]["combined"]
    assert compared["fraud_flagged_usd"] == pytest.approx(
        usd([r for r in written if r["compare_outcome"] == "fraud_caught"]), abs=cents)
