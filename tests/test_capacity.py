"""The service at other review capacities: thresholds as training chooses them, decisions on the
test rows, in the report, the printed table, the model card and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from fraudscreen.config import Settings
from fraudscreen.rules import RuleHit, RuleSet
from fraudscreen.training.backtest import backtest_report, capacity_section
from fraudscreen.training.backtest_print import print_report
from fraudscreen.training.capacity import DEFAULT_CAPACITIES, capacity_sweep
from fraudscreen.training.card import model_card_texts
from fraudscreen.training.commands import CAPACITIES_SHOWN, backtest
from fraudscreen.training.jsonl import write_jsonl
from fraudscreen.training.pipeline import read_jsonl, replay
from fraudscreen.training.retrain import TrainedReplay, train_on_replay
from fraudscreen.training.simulate import simulate_orders
from fraudscreen.training.train import choose_thresholds

from helpers import late_labelled_rows


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    """Simulated orders in a file, and settings with a data folder of their own."""
    root = tmp_path_factory.mktemp("capacity")
    write_jsonl(simulate_orders(2500, seed=33, start=datetime(2026, 6, 1, tzinfo=UTC)), root / "orders.jsonl.gz")
    return root / "orders.jsonl.gz", Settings(data_dir=root / "var")


@pytest.fixture(scope="module")
def data(simulated: tuple[Path, Settings]) -> Path:
    return simulated[0]


@pytest.fixture(scope="module")
def trained(simulated: tuple[Path, Settings]) -> TrainedReplay:
    path, settings = simulated
    return train_on_replay(replay(read_jsonl(path), settings=settings), version="t", data_sha256="0" * 64,
                           review_capacity=0.04)


@pytest.fixture(scope="module")
def report(trained: TrainedReplay, simulated: tuple[Path, Settings]) -> dict[str, Any]:
    return backtest_report(trained, rules=RuleSet.load(simulated[1].resolved_rules_path), data_path=None,
                           data_sha256=None, rows_read=trained.replayed.y.size,
                           review_capacity=0.04, capacities=(0.2, 0.01, 0.1, 0.01)).report


def test_the_back_test_s_own_capacity_is_the_service_the_report_measures(report: dict[str, Any]) -> None:
    assert [c["review_capacity"] for c in report["capacities"]] == [0.01, 0.04, 0.1, 0.2]  # sorted, once
    own = next(c for c in report["capacities"] if c["review_capacity"] == 0.04)
    service = report["systems"]["combined"]
    assert (own["review_threshold"], own["reject_threshold"]) == (
        report["thresholds"]["review"], report["thresholds"]["reject"])
    for key in ("flagged_share", "flagged_recall", "flagged_precision", "reject_precision", "decision_mix"):
        assert own[key] == service[key], key
    money = report["money"]["systems"]["combined"]
    assert own["fraud_flagged_usd_share"] == money["fraud_flagged_share"]
    assert own["legit_flagged_usd_share"] == money["legit_flagged_share"]
    assert own["frauds_flagged"] == round(service["flagged_recall"] * report["test"]["frauds"])


def test_more_capacity_flags_more_and_catches_at_least_as_much(report: dict[str, Any]) -> None:
    sweep = report["capacities"]
    assert len({c["reject_threshold"] for c in sweep}) == 1  # the minimum reject precision's alone
    for low, high in pairwise(sweep):
        assert high["review_threshold"] <= low["review_threshold"]
        assert high["flagged_share"] >= low["flagged_share"]
        assert high["frauds_flagged"] >= low["frauds_flagged"]
    assert sweep[-1]["flagged_share"] > sweep[0]["flagged_share"]
    assert sweep[-1]["model_reviews"]
    # the queue on the test rows follows the capacity the thresholds were chosen for
    assert abs(sweep[-1]["flagged_share"] - 0.2) < 0.05


def test_rules_that_fill_the_capacity_leave_the_model_nothing_to_review() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    y = (rng.random(n) < 0.05).astype(np.int64)
    p = np.clip(0.04 + 0.5 * y * rng.random(n) + 0.05 * rng.random(n), 0.0, 0.999)
    by_rules = rng.random(n) < 0.03  # the rules alone send 3% of the orders to review
    review = RuleHit("r", "R", "review", "review it")
    hits = [(review,) if flagged else () for flagged in by_rules]
    sweep = capacity_sweep([0.02, 0.1], y_calibration=y, p_calibration=p, rule_flagged_calibration=by_rules,
                           y_test=y, p_test=p, test_hits=hits)
    full, room = sweep
    assert not full["model_reviews"] and room["model_reviews"]
    by_model_reject = p >= full["reject_threshold"]
    assert full["flagged_share"] == pytest.approx(float((by_rules | by_model_reject).mean()))
    assert room["flagged_share"] == pytest.approx(0.1, abs=0.002)  # on the very rows it was chosen on
    assert "fraud_flagged_usd_share" not in full  # no amounts given


def test_a_retrain_on_the_labels_known_then_is_swept_with_those_labels() -> None:
    """With ``known_at_test_start`` the calibration rows' labels are those known at the first
    test order, not the final ones: the sweep chooses its thresholds on the same labels."""
    rows = late_labelled_rows(3, late_share=0.5)  # half the frauds reported much later
    X, y = rows.X, rows.y
    trained = train_on_replay(rows, version="k", data_sha256="0" * 64, labels="known_at_test_start",
                              min_reject_precision=0.6)  # the reject threshold reads the labels
    assert trained.train_labels is not None
    cal = trained.result.calibration_rows
    bundle = trained.result.bundle
    p_cal, p_test = bundle.predict_proba(X[cal]), bundle.predict_proba(X[trained.test_idx])
    final = choose_thresholds(y[cal], p_cal, review_capacity=0.05, min_reject_precision=0.6)
    assert final != bundle.thresholds  # the final labels would choose other thresholds
    hits: list[tuple[RuleHit, ...]] = [() for _ in trained.test_idx]
    sweep = capacity_section(trained, p_cal, p_test, hits, np.full(trained.test_idx.size, np.nan), [0.05], 0.6)
    assert (sweep[0]["review_threshold"], sweep[0]["reject_threshold"]) == (
        bundle.thresholds.review, bundle.thresholds.reject)
    everything = train_on_replay(rows, version="a", data_sha256="0" * 64)
    assert everything.train_labels is None


def test_the_printed_report_and_the_model_card_show_the_capacities(
    report: dict[str, Any], trained: TrainedReplay, data: Path
) -> None:
    from rich.console import Console

    console = Console(width=120, record=True)
    print_report(report, console=console)
    text = console.export_text()
    assert "The service at other review capacities" in text
    assert "4% *" in text and "20% " in text
    card = model_card_texts(trained.result, data_path=data, backtest=report)["MODEL_CARD.md"]
    assert "At other review capacities" in card
    assert "| 4% (this model) |" in card


def test_the_cli_takes_capacities_and_refuses_a_bad_one(data: Path, tmp_path: Path) -> None:
    assert CAPACITIES_SHOWN == ",".join(f"{c:g}" for c in DEFAULT_CAPACITIES)
    out = tmp_path / "report.json"
    runner = CliRunner()
    done = runner.invoke(backtest, ["--data", str(data), "--no-progress", "--capacities", "0.3, 0.15",
                                    "--json", str(out), "--workers", "0"])
    assert done.exit_code == 0, done.output
    saved = json.loads(out.read_text())
    assert [c["review_capacity"] for c in saved["capacities"]] == [0.05, 0.15, 0.3]
    for bad in ("0.1,,0.2", "abc", "1.5", "0"):
        refused = runner.invoke(backtest, ["--data", str(data), "--capacities", bad])
        assert refused.exit_code == 2 and "--capacities" in refused.output, bad
