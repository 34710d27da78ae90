"""Back-test and train: splits, test-rows-only figures, the three systems, the CLI, the model card."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import binomtest

from fraudscreen.config import PACKAGE_DIR, REPO_DIR, Settings
from fraudscreen.errors import ModelError
from fraudscreen.features import FEATURE_NAMES
from fraudscreen.model import ModelBundle, Thresholds
from fraudscreen.rules import RuleHit, RuleSet
from fraudscreen.training.backtest import backtest_report
from fraudscreen.training.backtest_print import print_report
from fraudscreen.training.capacity import combined_decisions
from fraudscreen.training.commands import backtest, train
from fraudscreen.training.jsonl import write_jsonl
from fraudscreen.training.pipeline import ReplayResult, read_jsonl, replay
from fraudscreen.training.retrain import (
    TrainedReplay,
    flagged_by_rules,
    split_indices,
    train_on_replay,
)
from fraudscreen.training.segments import segment_of, wilson_interval
from fraudscreen.training.simulate import simulate_orders
from fraudscreen.training.systems import at_capacity, rules_decision
from fraudscreen.training.train import split_rows, train_model

from helpers import fraudscreen_command, late_labelled_rows

DOC = REPO_DIR / "docs" / "backtest.md"
START = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # orders newer than the shipped sample's (2026-01-05 .. 2026-05-18), as --compare is meant
    # to be used: the shipped bundle never saw them, nor any order of their period
    path = tmp_path_factory.mktemp("data") / "orders.jsonl.gz"
    write_jsonl(simulate_orders(4000, seed=21, start=START), path)
    return path


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("var"))


@pytest.fixture(scope="module")
def replayed(data: Path, settings: Settings) -> ReplayResult:
    return replay(read_jsonl(data), settings=settings)


def _report(replayed: ReplayResult, settings: Settings, **split: Any) -> dict[str, Any]:
    trained = train_on_replay(replayed, version="t", data_sha256="0" * 64, **split)
    return backtest_report(trained, rules=RuleSet.load(settings.resolved_rules_path),
                           data_path=None, data_sha256=None, rows_read=replayed.y.size).report


@pytest.fixture(scope="module")
def trained(replayed: ReplayResult) -> TrainedReplay:
    return train_on_replay(replayed, version="t", data_sha256="0" * 64)


SHIPPED = REPO_DIR / "models" / "default" / "model.joblib"


@pytest.fixture(scope="module")
def report(trained: TrainedReplay, settings: Settings) -> dict[str, Any]:
    # run_backtest itself: the CLI tests below
    return backtest_report(trained, rules=RuleSet.load(settings.resolved_rules_path),
                           data_path=None, data_sha256=None, rows_read=trained.replayed.y.size,
                           compare=(ModelBundle.load(SHIPPED), SHIPPED)).report


def _keys(value: Any, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            name = f"{prefix}.{k}" if prefix else k
            keys.add(name)
            keys |= _keys(v, name)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        keys |= _keys(value[0], f"{prefix}[]")
    return keys


def test_every_report_key_is_documented(report) -> None:
    documented = set(re.findall(r"^\| `([^`]+)` \|", DOC.read_text(), flags=re.MULTILINE))
    systems = {k for k in _keys(report) if re.match(r"^(money\.)?systems\.|^compare\.systems\.", k)}
    generic = {re.sub(r"^(compare\.|money\.)?systems\.(rules|model|combined)", r"\1systems.<system>", k)
               for k in systems}
    generic = {re.sub(r"^compare\.(systems\.<system>\.)", r"\1", k) for k in generic}
    generic = {re.sub(r"\.intervals\.\w+$", ".intervals.<figure>", k) for k in generic}
    difference = {k for k in _keys(report) if k.startswith("compare.difference.")}
    generic |= {re.sub(r"^compare\.difference\.(model|combined)(\.\w+)?",
                       lambda m: "compare.difference.<system>" + (".<figure>" if m[2] else ""), k)
                for k in difference}
    segments = {k for k in _keys(report) if re.match(r"^(compare\.)?segments\.", k)}
    generic |= {re.sub(r"\.systems\.(rules|model|combined)", ".systems.<system>",
                       re.sub(r"^segments\.\w+", "segments.<segment>", k)) for k in segments
                if not k.startswith("compare.")}  # compare.segments has the keys of segments
    compared_calibration = {k for k in _keys(report)
                            if k.startswith(("compare.calibration.", "compare.money."))}  # as ours
    actual = (_keys(report) - systems - difference - segments - compared_calibration) | generic
    assert actual - documented == set(), "undocumented keys"
    assert documented - actual == set(), "documented keys the report lacks"


def test_the_report_says_what_the_reject_threshold_rests_on(replayed: ReplayResult, report) -> None:
    from fraudscreen.training.backtest import reject_support
    from fraudscreen.training.backtest_print import reject_support_text
    from fraudscreen.training.train import MIN_REJECT_SUPPORT

    # these 800 test rows' model rejects nothing at 0.95; one asked for 0.25 does (its 800
    # calibration rows hold a few dozen frauds: too few for a stricter reject threshold)
    assert report["thresholds"]["reject"] == 1.0
    assert report["thresholds"]["reject_support"] == {"rows": 0, "frauds": 0, "precision": None,
                                                      "precision_interval": None}
    assert "the model rejects nothing" in reject_support_text(report["thresholds"]["reject_support"])
    lenient = train_on_replay(replayed, version="r", data_sha256="0" * 64, min_reject_precision=0.25)
    result = lenient.result
    p = result.bundle.predict_proba(replayed.X[result.calibration_rows])
    support = reject_support(lenient, p)
    above = p >= result.bundle.thresholds.reject
    assert support["rows"] == int(above.sum()) >= MIN_REJECT_SUPPORT
    assert support["frauds"] == int(replayed.y[result.calibration_rows][above].sum())
    assert support["precision"] >= 0.25
    low, high = support["precision_interval"]
    assert low < support["precision"] <= high
    assert f"rests on {support['rows']} calibration orders" in reject_support_text(support)


def test_importance_is_measured_on_the_test_rows(report) -> None:
    importance = report["importance"]
    assert importance["rows"] == report["test"]["rows"]  # all of them: fewer than 5,000
    # the same model on the same rows as the model system's figure
    assert importance["average_precision"] == pytest.approx(report["systems"]["model"]["average_precision"])
    assert sorted(f["feature"] for f in importance["features"]) == sorted(FEATURE_NAMES)
    drops = [f["drop"] for f in importance["features"]]
    assert drops == sorted(drops, reverse=True) and drops[0] > 0.01


def test_figures_come_with_intervals_that_hold_them(report) -> None:
    assert report["intervals"]["resamples"] == 1000 and report["intervals"]["confidence"] == 0.95
    for name in ("model", "combined"):
        system = report["systems"][name]
        for figure in ("roc_auc", "average_precision", "recall_at_capacity", "flagged_recall"):
            low, high = system["intervals"][figure]
            assert low <= system[figure] <= high and low < high, (name, figure)
        compared = report["compare"]["systems"][name]
        low, high = compared["intervals"]["roc_auc"]
        assert low <= compared["roc_auc"] <= high
        difference = report["compare"]["difference"][name]["roc_auc"]
        assert difference["value"] == pytest.approx(system["roc_auc"] - compared["roc_auc"])
        low, high = difference["interval"]
        assert low <= difference["value"] <= high


def test_figures_are_computed_on_the_latest_rows_only(report, replayed, settings) -> None:
    n = replayed.y.size
    assert report["data"]["rows_replayed"] == n
    assert report["split"]["test_rows"] == round(0.2 * n)
    assert report["split"]["train_rows"] + report["split"]["test_rows"] == n
    test_times = replayed.event_times[-report["split"]["test_rows"]:]
    train_last = replayed.event_times[: report["split"]["train_rows"]].max()
    assert test_times.min() >= train_last
    assert report["split"]["test_from"] == datetime.fromtimestamp(test_times.min(), UTC) \
        .isoformat().replace("+00:00", "Z")
    test_y = replayed.y[-report["split"]["test_rows"]:]
    assert report["test"]["frauds"] == int(test_y.sum()) > 0
    # the rules' figures, recomputed from the replay's hits on the test rows
    hits = replayed.rule_hits[-report["split"]["test_rows"]:]
    decisions = [rules_decision(h) for h in hits]
    rules = report["systems"]["rules"]
    assert rules["decision_mix"]["review"] == pytest.approx(decisions.count("review") / len(hits))
    flagged = np.array([d != "accept" for d in decisions])
    assert rules["flagged_recall"] == pytest.approx((flagged & (test_y == 1)).sum() / test_y.sum())
    by_id = {r["id"]: r for r in report["rules"]}
    assert list(by_id) == [r.id for r in RuleSet.load(settings.resolved_rules_path).rules if r.enabled]
    for rule_id, row in by_id.items():
        mask = np.array([any(h.rule_id == rule_id for h in hs) for hs in hits])
        assert row["hits"] == mask.sum() and row["frauds"] == int(test_y[mask].sum())
        if not row["hits"]:
            assert row["precision"] is None and row["precision_interval"] is None
            continue
        # the precision's 95% Wilson interval, as scipy gives it
        ci = binomtest(row["frauds"], row["hits"]).proportion_ci(method="wilson")
        assert row["precision_interval"] == pytest.approx([ci.low, ci.high])
        low, high = row["precision_interval"]
        assert low <= row["precision"] <= high
    shown = _printed(report)
    for row in report["rules"]:
        if row["hits"]:
            low, high = row["precision_interval"]
            assert f"{100 * row['precision']:.1f}% ({100 * low:.1f}–{100 * high:.1f})" in shown


def test_intervals_resample_the_test_rows_accounts(report, trained, data) -> None:
    """The replay numbers each row's account; the intervals draw those accounts, each with all
    its test rows."""
    replayed = trained.replayed
    users = [row["account"]["user_id"] for row in read_jsonl(data)]
    pairs = {(users[source], number) for source, number in zip(replayed.source_rows, replayed.accounts, strict=True)}
    assert len(pairs) == len({u for u, _ in pairs}) == len({n for _, n in pairs}) < replayed.y.size
    test_accounts = np.unique(replayed.accounts[trained.test_idx])
    assert report["intervals"]["resampled"] == "accounts"
    assert report["intervals"]["accounts"] == test_accounts.size < trained.test_idx.size
    assert "resampling the test rows' " in _printed(report)


def test_rules_share_the_review_capacity_with_the_model(report, trained) -> None:
    replayed, bundle = trained.replayed, trained.result.bundle
    th = report["thresholds"]
    n_cal = report["model"]["calibration_rows"]
    cal = np.arange(report["split"]["train_rows"])[-n_cal:]  # time split: the latest train rows
    forced = flagged_by_rules([replayed.rule_hits[i] for i in cal])
    assert th["rules_flagged_share"] == pytest.approx(forced.mean()) and forced.any()
    # on the threshold rows, rules and model together fill the capacity, not the model alone
    p_cal = bundle.predict_proba(replayed.X[cal])
    assert abs(np.mean(forced | (p_cal >= th["review"])) - th["review_capacity"]) <= 0.01
    assert np.mean(p_cal >= th["review"]) < th["review_capacity"]
    # what each rule adds beyond the model, recomputed from the test rows
    idx = trained.test_idx
    test_y = replayed.y[idx]
    model_flagged = bundle.predict_proba(replayed.X[idx]) >= th["review"]
    for row in report["rules"]:
        fired = np.array([any(h.rule_id == row["id"] for h in replayed.rule_hits[i]) for i in idx])
        beyond = fired & ~model_flagged
        assert row["beyond_model_hits"] == beyond.sum()
        assert row["beyond_model_frauds"] == int(test_y[beyond].sum())


def test_compare_measures_another_bundle_on_the_same_rows(report, trained) -> None:
    other = ModelBundle.load(SHIPPED)
    compare = report["compare"]
    assert compare["version"] == other.version and compare["path"] == str(SHIPPED)
    assert set(compare["systems"]) == {"model", "combined"}
    idx = trained.test_idx
    p = other.predict_proba(trained.replayed.X[idx])
    from sklearn.metrics import roc_auc_score

    y = trained.replayed.y[idx]
    assert compare["systems"]["model"]["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert compare["systems"]["model"]["flagged_share"] == pytest.approx(np.mean(p >= other.thresholds.review))
    assert compare["thresholds"]["review"] == other.thresholds.review
    assert compare["trained_on_this_data"] is False  # the shipped bundle saw older orders
    assert compare["test_rows_in_training_period"] == (None if other.training_period is None else 0)


def _printed(report: dict[str, Any]) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200)
    print_report(report, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _compare(trained: TrainedReplay, settings: Settings, bundle: ModelBundle, sha: str) -> dict[str, Any]:
    return backtest_report(trained, rules=RuleSet.load(settings.resolved_rules_path), data_path=None,
                           data_sha256=sha, rows_read=trained.replayed.y.size, compare=(bundle, None)).report


@pytest.mark.parametrize(("psi", "p", "words"), [
    (0.03, 0.5, "stable"), (0.18, 1e-9, "a moderate shift"), (1.056, 0.0, "a large shift"),
    (1.056, 0.2, "a large shift, within noise"), (None, None, "unknown")])
def test_the_printed_drift_names_the_probability_s_index_and_how_it_reads(
    report: dict[str, Any], psi: float | None, p: float | None, words: str
) -> None:
    """An index, not a difference of probabilities (which could never be 1.056), and whether
    sampling alone could have given it."""
    shown = "–" if psi is None else f"{psi:.3f}"
    printed = _printed({**report, "drift": {**report["drift"], "probability_psi": psi,
                                            "probability_p_value": p}})
    p_shown = "–" if p is None else "<0.001" if p < 0.001 else f"{p:.3f}"
    assert (f"The model's probability: PSI {shown}, {words}, p {p_shown} (test rows against the "
            "calibration rows).") in printed
    assert "moved by" not in printed


def test_compare_flags_a_bundle_trained_on_the_same_file(trained, settings) -> None:
    report = _compare(trained, settings, trained.result.bundle, "0" * 64)  # its sha256 is "0" * 64
    assert report["compare"]["trained_on_this_data"] is True
    # the same time split: every test row is later than the rows it was fitted and calibrated on
    assert report["compare"]["test_rows_in_training_period"] == 0
    assert "none of these test rows falls in that period" in _printed(report)


def test_compare_flags_test_rows_in_the_bundle_s_training_period_from_any_file(
    replayed, trained, settings
) -> None:
    """The same rows in another file (un-gzipped, exported) have another SHA-256: the period counts."""
    bundle = trained.result.bundle  # time split: fitted and calibrated on the first 80 % of rows
    train_rows = replayed.y.size - trained.test_idx.size
    times = replayed.event_times
    assert bundle.training_period_seconds() == (times[0], times[train_rows - 1])
    shuffled = train_on_replay(replayed, split="random", seed=3, version="r", data_sha256="1" * 64)
    report = _compare(shuffled, settings, bundle, "1" * 64)
    compare = report["compare"]
    test_times = times[shuffled.test_idx]
    inside = int(np.sum(test_times <= times[train_rows - 1]))
    assert 0.7 * test_times.size < inside < test_times.size  # about 80 % of random test rows
    assert compare["test_rows_in_training_period"] == inside and compare["trained_on_this_data"] is True
    assert (compare["training_from"], compare["training_to"]) == (
        bundle.training_period["from"], bundle.training_period["to"])  # type: ignore[index]
    printed = _printed(report)
    assert f"{inside} of these {test_times.size} test rows fall in that period" in printed
    # the same time split on another file: no test row in the period, no warning
    later = _compare(trained, settings, bundle, "1" * 64)
    assert later["compare"]["test_rows_in_training_period"] == 0
    assert later["compare"]["trained_on_this_data"] is False
    assert "Warning" not in _printed(later) and "Note" not in _printed(later)


def test_compare_falls_back_to_the_file_hash_for_a_bundle_without_its_period(
    replayed, trained, settings
) -> None:
    older = dataclasses.replace(trained.result.bundle, training_period=None)  # an older bundle
    shuffled = train_on_replay(replayed, split="random", seed=3, version="r", data_sha256="1" * 64)
    other_file = _compare(shuffled, settings, older, "1" * 64)["compare"]
    assert other_file["trained_on_this_data"] is False
    assert other_file["test_rows_in_training_period"] is other_file["training_from"] is None
    same_file = _compare(shuffled, settings, older, "0" * 64)
    assert same_file["compare"]["trained_on_this_data"] is True
    assert "was trained on this same file" in _printed(same_file)


def test_the_shipped_bundle_records_the_period_it_was_trained_on() -> None:
    """``make model`` writes it; a bundle without it is compared by its file's SHA-256 only."""
    bundle = ModelBundle.load(SHIPPED)
    card = json.loads((SHIPPED.parent / "model_card.json").read_text())
    assert bundle.training_period is not None, "regenerate models/default with `make model`"
    assert card["data"]["training_period"] == bundle.training_period
    assert bundle.training_period["to"] < card["backtest"]["split"]["test_from"]


def test_three_systems_are_consistent(report) -> None:
    model, combined, rules = (report["systems"][s] for s in ("model", "combined", "rules"))
    for system in (model, combined, rules):
        assert sum(system["decision_mix"].values()) == pytest.approx(1.0)
        assert system["flagged_share"] == pytest.approx(
            system["decision_mix"]["review"] + system["decision_mix"]["reject"])
    # 800 test rows hold about 35 frauds: a random ranking's average precision is their share
    # (about 0.03), and one fraud more or less moves the model's by several points
    assert model["roc_auc"] > 0.8 and model["average_precision"] > 0.15
    assert rules["ranked_by"] == "decision" and model["ranked_by"] == "probability"
    th = report["thresholds"]
    assert 0 <= th["review"] < th["reject"] <= 1
    assert (th["review_capacity"], th["min_reject_precision"]) == (0.05, 0.95)


def test_random_split_is_stratified_and_seeded(replayed, settings) -> None:
    first = _report(replayed, settings, split="random", seed=4, test_fraction=0.3)
    again = _report(replayed, settings, split="random", seed=4, test_fraction=0.3)
    assert first["split"]["method"] == "random"
    assert first["systems"] == again["systems"] and first["test"] == again["test"]
    y = replayed.y
    assert abs(first["test"]["frauds"] - 0.3 * y.sum()) <= 1
    _, test_idx = split_indices(y, replayed.event_times, split="random", test_fraction=0.3, seed=4)
    assert test_idx.size == first["split"]["test_rows"]
    assert test_idx.max() > y.size * 0.7 and test_idx.min() < y.size * 0.3  # spread over time
    other = _report(replayed, settings, split="random", seed=5, test_fraction=0.3)
    assert abs(other["test"]["frauds"] - first["test"]["frauds"]) <= 1  # stratified
    assert other["systems"] != first["systems"]


def test_the_test_rows_are_broken_down_by_the_scenario_each_row_names(report, trained, data) -> None:
    """Every test row is in its own scenario's entry, and the entries add up to the overall
    figures of each system."""
    rows = read_jsonl(data)
    test = trained.replayed.source_rows[trained.test_idx]
    expected = Counter(rows[i]["scenario"] for i in test)
    assert report["segment_by"] == "scenario"
    scenarios = report["segments"]
    assert {name: entry["rows"] for name, entry in scenarios.items()} == expected
    assert sum(e["frauds"] for e in scenarios.values()) == report["test"]["frauds"]
    for entry in scenarios.values():  # the simulator's scenarios are all fraud or all legit
        assert entry["label"] == ("fraud" if entry["frauds"] == entry["rows"] else "legit")
    labels = [entry["label"] for entry in scenarios.values()]
    assert labels == sorted(labels, key=["fraud", "mixed", "legit"].index)  # fraud patterns first
    frauds = report["test"]["frauds"]
    for name, system in report["systems"].items():
        caught = sum(e["systems"][name]["flagged_share"] * e["rows"]
                     for e in scenarios.values() if e["label"] == "fraud")
        flagged = sum(e["systems"][name]["flagged_share"] * e["rows"] for e in scenarios.values())
        rejected = sum(e["systems"][name]["reject_share"] * e["rows"] for e in scenarios.values())
        assert caught == pytest.approx(system["flagged_recall"] * frauds)
        assert flagged == pytest.approx(system["flagged_share"] * report["test"]["rows"])
        assert rejected == pytest.approx(system["reject_share"] * report["test"]["rows"])
        for entry in scenarios.values():
            figures = entry["systems"][name]
            low, high = figures["flagged_interval"]
            assert 0.0 <= low <= figures["flagged_share"] <= high <= 1.0
            pure = "flagged_recall" if entry["label"] == "fraud" else "legit_flagged_share"
            other = "legit_flagged_share" if entry["label"] == "fraud" else "flagged_recall"
            assert figures[pure] == figures["flagged_share"] and figures[other] is None
    # the model tells the patterns apart: some it catches almost always, friendly fraud
    # (an honest-looking customer's own order) hardly ever. Each pattern has a few test rows
    # only, often of one attack, so no one pattern is named as the one caught.
    model = {name: e["systems"]["model"]["flagged_share"] for name, e in scenarios.items()
             if e["label"] == "fraud" and e["rows"] >= 2}
    assert max(model.values()) > 0.6 and model.get("friendly_fraud", 0.0) < 0.3
    # each scenario's accounts: a card-testing run is many orders from one account
    test_idx = trained.test_idx
    for name, entry in scenarios.items():
        mine = [trained.replayed.accounts[i] for i in test_idx if trained.replayed.segments[i] == name]
        assert entry["accounts"] == len(set(mine)) <= entry["rows"]
    if "card_testing" in scenarios:
        assert scenarios["card_testing"]["accounts"] < scenarios["card_testing"]["rows"]
    assert "accounts: the accounts among the rows" in _printed(report)
    # the compared bundle, on the same rows, by the same scenarios
    theirs = report["compare"]["segments"]
    assert list(theirs) == list(scenarios) and set(theirs["stolen_card"]["systems"]) == {"model", "combined"}
    for name, system in report["compare"]["systems"].items():
        caught = sum(e["systems"][name]["flagged_share"] * e["rows"]
                     for e in theirs.values() if e["label"] == "fraud")
        assert caught == pytest.approx(system["flagged_recall"] * frauds)


def test_a_mixed_scenario_gives_frauds_caught_and_good_orders_stopped_apart(replayed, settings) -> None:
    """Segments of one's own (here: odd and even rows) hold both labels."""
    from rich.console import Console

    halves = dataclasses.replace(replayed, segments=["odd" if i % 2 else "even" for i in range(replayed.y.size)])
    report = _report(halves, settings)
    assert set(report["segments"]) == {"odd", "even"}
    frauds = report["test"]["frauds"]
    for name, system in report["systems"].items():
        caught = 0.0
        for entry in report["segments"].values():
            figures = entry["systems"][name]
            assert entry["label"] == "mixed" and 0 < entry["frauds"] < entry["rows"]
            caught += figures["flagged_recall"] * entry["frauds"]
            stopped = figures["legit_flagged_share"] * (entry["rows"] - entry["frauds"])
            assert figures["flagged_share"] * entry["rows"] == pytest.approx(
                figures["flagged_recall"] * entry["frauds"] + stopped)
        assert caught == pytest.approx(system["flagged_recall"] * frauds)
    out = io.StringIO()
    print_report(report, Console(file=out, width=120))
    odd = report["segments"]["odd"]
    caught, stopped = (f"{100 * odd['systems']['combined'][k]:.1f}%"
                       for k in ("flagged_recall", "legit_flagged_share"))
    row = next(line for line in out.getvalue().splitlines() if line.startswith("│ odd "))
    assert re.search(rf"│\s+{re.escape(caught)} │\s+{re.escape(stopped)} │", row), row


def test_text_from_the_data_prints_as_it_is_never_as_markup(replayed, settings) -> None:
    """Segments, rule and model versions come from files: rich must not read them as tags."""
    odd = ["[/]", "[bold red]promo[/bold red]", "ends in a backslash\\"]
    tagged = dataclasses.replace(replayed, segments=[odd[i % 3] for i in range(replayed.y.size)],
                                 rules_version="[/]v1\\")
    report = _report(tagged, settings)
    report["model"]["version"] = "[red]m[/red]"
    printed = _printed(report)
    for text in (*odd, "rules [/]v1\\", "Model [red]m[/red]"):
        assert text in printed
    assert "backslash\\\\" not in printed and "v1\\\\" not in printed  # one backslash, as written


def test_rows_without_a_scenario_give_no_scenario_table(replayed, settings) -> None:
    anonymous = dataclasses.replace(replayed, segments=[None] * replayed.y.size)
    assert "segments" not in _report(anonymous, settings) and "segment_by" not in _report(anonymous, settings)
    order, prepared = None, None  # the scenario is read from the row alone
    assert segment_of("scenario", {"scenario": "traveller"}, order, prepared) == "traveller"  # type: ignore[arg-type]
    assert segment_of("scenario", {"scenario": "order 2026-01-05"}, order, prepared) == "order 2026-01-05"  # type: ignore[arg-type]
    # counts as none, never skips the row; nor is personal data printed as a segment
    for odd in (7, "", "x" * 101, None, ["card_testing"], "4111111111111111", "promo 4111 1111 1111 1111",
                "john.doe@example.com", "jane＠example.org"):
        assert segment_of("scenario", {"scenario": odd}, order, prepared) is None  # type: ignore[arg-type]


def test_the_test_rows_are_broken_down_by_an_order_field(data, settings, tmp_path) -> None:
    """Your own history has no scenarios: --segment-by takes a field of the order instead."""
    rows = read_jsonl(data)
    by_country = replay(rows, settings=settings, segment_by="billing-country")
    assert by_country.segment_by == "billing-country"
    assert by_country.segments == [rows[i]["billing"]["country"] for i in by_country.source_rows]
    by_method = replay(rows, settings=settings, segment_by="payment-method", workers=0)
    assert by_method.segments == [rows[i]["payment"]["method"] for i in by_method.source_rows]
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        backtest, ["--data", str(data), "--json", str(out), "--no-progress", "--segment-by", "ip-country"],
        obj=settings, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["segment_by"] == "ip-country" and "Test rows by ip country" in result.output
    assert all(re.fullmatch(r"[A-Z]{2}", country) for country in written["segments"])
    assert sum(e["rows"] for e in written["segments"].values()) <= written["test"]["rows"]
    export = tmp_path / "training.jsonl"
    write_jsonl([{"format": "fraudscreen-logged-features", "order_id": "1"}], export)
    refused = CliRunner().invoke(backtest, ["--data", str(export), "--segment-by", "billing-country"],
                                 obj=settings)
    assert refused.exit_code == 2 and "export-training" in refused.output, refused.output


def test_a_scenario_s_interval_is_the_wilson_score_interval() -> None:
    # 0 of n: the upper bound is z² / (n + z²) in closed form
    z2 = 1.959963984540054 ** 2
    assert wilson_interval(0, 17) == pytest.approx([0.0, z2 / (17 + z2)])
    low, high = wilson_interval(8, 16)
    assert low == pytest.approx(1 - high) and 0.25 < low < 0.5 < high
    assert wilson_interval(0, 0) is None


def test_at_capacity_shares_ties_fairly() -> None:
    y = np.array([1, 0, 1, 0])
    assert at_capacity(y, np.array([2.0, 1.0, 1.0, 0.0]), 0.5) == (0.75, 0.75)
    assert at_capacity(y, np.array([0.9, 0.1, 0.8, 0.2]), 0.5) == (1.0, 1.0)
    assert at_capacity(np.array([0, 0]), np.array([0.5, 0.1]), 0.5) == (None, 0.0)


def test_backtest_command_prints_and_writes_json(data, settings, tmp_path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        backtest, ["--data", str(data), "--json", str(out), "--no-progress",
                   "--review-capacity", "0.04", "--label-delay-days", "10", "--workers", "1"],
        obj=settings, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "combined" in result.output and "prior_fraud" in result.output
    assert "Test rows by scenario" in result.output and "stolen_card" in result.output
    written = json.loads(out.read_text())
    assert "What the model relies on" in result.output
    assert written["importance"]["features"][0]["feature"] in result.output
    assert "compare" not in written
    assert written["thresholds"]["review_capacity"] == 0.04
    assert written["replay"]["label_delay_days"] == 10
    assert written["replay"]["workers"] == 1  # --workers reached the replay
    bad = CliRunner().invoke(backtest, ["--data", str(data), "--split", "sideways"], obj=settings)
    assert bad.exit_code == 2


def test_backtest_json_is_written_even_when_the_terminal_is_gone(data, tmp_path) -> None:
    """`fraudscreen backtest ... | head`: the report file is there though the table could not be
    printed (stdout is a pipe whose reader has gone)."""
    out = tmp_path / "report.json"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [*fraudscreen_command(), "backtest", "--data", str(data), "--json", str(out), "--no-progress"],
            check=False, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300,
            env={**os.environ, "FRAUDSCREEN_DATA_DIR": str(tmp_path / "var")},
        )
    finally:
        os.close(write_end)
    assert done.returncode != 0  # the table was not printed
    assert json.loads(out.read_text())["data"]["rows_replayed"] == 4000
    assert "Traceback" not in done.stderr, done.stderr


CANDIDATE_RULE = """
[[rule]]
id = "candidate_new_account_high_value"
code = "CANDIDATE"
action = "review"
expression = "account.age_days >= 0.0 && account.age_days < 0.01 && order.amount_usd > 200.0"
message = "The signal new_account_high_value, tried as a review rule."
"""


def test_backtest_of_a_candidate_rules_file(data, settings, report, tmp_path) -> None:
    """A rule is back-tested before it goes live: replayed with --rules, it is counted like
    the configured ones (the same expression as a default signal: the same hits)."""
    candidate = tmp_path / "candidate.toml"
    default = (PACKAGE_DIR / "rules" / "default.toml").read_text()
    candidate.write_text(default.replace('version = "', 'version = "candidate-', 1) + CANDIDATE_RULE)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        backtest, ["--data", str(data), "--rules", str(candidate), "--json", str(out), "--no-progress"],
        obj=settings, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["rules_version"] == "candidate-" + report["rules_version"]
    rules = {rule["id"]: rule for rule in written["rules"]}
    assert "candidate_new_account_high_value" not in {rule["id"] for rule in report["rules"]}
    tried, signal = rules["candidate_new_account_high_value"], rules["new_account_high_value"]
    assert tried["action"] == "review" and tried["hits"] == signal["hits"] > 0
    assert tried["frauds"] == signal["frauds"]
    # the orders it sends to review, which the signal did not, show in the rules' decisions
    assert written["systems"]["rules"]["decision_mix"]["review"] > report["systems"]["rules"]["decision_mix"]["review"]


FAILING_RULE = """
[[rule]]
id = "overflowing_amount_check"
code = "OVERFLOWING_AMOUNT_CHECK"
action = "review"
expression = "int(order.amount_usd * 1e17) < 0"
message = "Compiles, and fails at run time on orders over about $92 (an int overflow)."
"""


def test_a_rule_that_fails_at_run_time_reviews_its_orders_as_the_service_does(
    data, settings, report, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """A rule that compiles but fails on some orders is not 'never fired': the service reviews
    an order whose review rule fails, and so must the back-test; the failures are counted."""
    import csv
    import logging

    candidate = tmp_path / "failing.toml"
    candidate.write_text((PACKAGE_DIR / "rules" / "default.toml").read_text() + FAILING_RULE)
    out, rows, saved = tmp_path / "report.json", tmp_path / "rows.csv", tmp_path / "saved.jsonl"
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(
            backtest, ["--data", str(data), "--rules", str(candidate), "--json", str(out), "--no-progress",
                       "--test-orders", str(rows), "--save-replay", str(saved)],
            obj=settings, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert not [r for r in caplog.records if "failed at run time" in r.getMessage()]  # not per order
    written = json.loads(out.read_text())
    entry = next(r for r in written["rules"] if r["id"] == "overflowing_amount_check")
    test_rows = list(csv.DictReader(rows.open()))
    over = [r for r in test_rows if r["amount_usd"] and float(r["amount_usd"]) * 1e17 > 2**63]
    assert entry["hits"] == 0 and entry["errors"] == len(over) > 0
    assert written["test"]["rows_with_rule_errors"] == len(over)
    assert {r["decision"] for r in over} <= {"review", "reject"}
    assert {r["rules_decision"] for r in over} == {"review"}
    assert report["test"]["rows_with_rule_errors"] == 0
    assert all(r["errors"] == 0 for r in report["rules"])
    assert f"overflowing_amount_check (review) on {len(over)}" in " ".join(result.output.split())
    # a saved replay keeps which rules failed on which rows
    again = CliRunner().invoke(backtest, ["--data", str(saved), "--json", str(out), "--no-progress"],
                               obj=settings, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    reread = json.loads(out.read_text())
    assert reread["systems"]["combined"] == written["systems"]["combined"]
    assert reread["test"]["rows_with_rule_errors"] == len(over)
    # the configured rules lack the candidate rule: the rows name it, so the table keeps it
    again_entry = next(r for r in reread["rules"] if r["id"] == "overflowing_amount_check")
    assert again_entry["errors"] == len(over) and again_entry["action"] == "review"
    assert f"overflowing_amount_check (review) on {len(over)}" in " ".join(again.output.split())
    # an allow rule that fails simply does not allow: the line says so
    allow = {**written, "rules": [{**entry, "action": "allow"}]}
    printed = " ".join(_printed(allow).split())
    assert "A failed allow rule does not allow the order." in printed and "A failed review" not in printed


def test_a_candidate_rules_file_is_checked_before_any_replay(data, settings, tmp_path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('version = "x"\n' + CANDIDATE_RULE.replace("order.amount_usd > 200.0", "order.amount_usd >"))
    result = CliRunner().invoke(backtest, ["--data", str(data), "--rules", str(broken), "--no-progress"],
                                obj=settings)
    assert result.exit_code == 2 and "--rules" in result.output
    assert "candidate_new_account_high_value" in result.output and "Back-test" not in result.output
    export = tmp_path / "training.jsonl"
    write_jsonl([{"format": "fraudscreen-logged-features", "order_id": "1"}], export)
    candidate = tmp_path / "candidate.toml"
    candidate.write_text('version = "x"\n' + CANDIDATE_RULE)
    for command, out in ((backtest, []), (train, ["--out", str(tmp_path / "m")])):
        result = CliRunner().invoke(command, ["--data", str(export), "--rules", str(candidate), *out],
                                    obj=settings)
        assert result.exit_code == 2 and "export-training" in result.output, result.output


def test_backtest_command_compares_with_a_bundle_folder(data, settings, tmp_path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        backtest, ["--data", str(data), "--json", str(out), "--no-progress",
                   "--compare", str(SHIPPED.parent)],
        obj=settings, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "New model against default-" in result.output
    version = ModelBundle.load(SHIPPED).version
    assert f"compared: what {version} (rules and model) flags" in result.output
    assert "│ stolen_card " in result.output
    assert json.loads(out.read_text())["compare"]["path"] == str(SHIPPED)
    missing = CliRunner().invoke(backtest, ["--data", str(data), "--compare", str(tmp_path / "none")],
                                 obj=settings)
    assert missing.exit_code == 2


def test_train_command_is_quiet_with_no_progress(data, settings, tmp_path) -> None:
    result = CliRunner().invoke(train, ["--data", str(data), "--out", str(tmp_path / "m"), "--no-progress"],
                                obj=settings, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and "written to" in result.stdout


def test_train_command_writes_bundle_and_card_with_backtest(data, settings, tmp_path) -> None:
    out = tmp_path / "models" / "m1"
    result = CliRunner().invoke(
        train, ["--data", str(data), "--out", str(out), "--version", "t-1", "--seed", "2"],
        obj=settings, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "Training on 4000 replayed rows (time split)" in result.stderr  # what comes next
    assert "Measuring the rules and the model on the 800 test rows" in result.stderr
    bundle = ModelBundle.load(out / "model.joblib")
    assert bundle.version == "t-1" and bundle.params["split"] == "time"
    card = json.loads((out / "model_card.json").read_text())
    assert card["version"] == "t-1" and card["data"]["sha256"] == bundle.training_data_sha256
    # the period of its fit and calibration rows: all but the test rows, which are later
    assert card["data"]["training_period"] == bundle.training_period is not None
    assert bundle.training_period["from"] < bundle.training_period["to"] < card["backtest"]["split"]["test_from"]
    assert f"fitted and calibrated on orders from {bundle.training_period['from']}" in \
        (out / "MODEL_CARD.md").read_text()
    # the same rows un-gzipped (another SHA-256), split at random: its training rows are caught
    plain = tmp_path / "orders.jsonl"
    with gzip.open(data, "rb") as src, plain.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    report_path = tmp_path / "compare.json"
    compared = CliRunner().invoke(
        backtest, ["--data", str(plain), "--split", "random", "--compare", str(out), "--no-progress",
                   "--json", str(report_path)], obj=settings, catch_exceptions=False)
    assert compared.exit_code == 0, compared.output
    assert compared.stderr == ""  # --no-progress
    compare = json.loads(report_path.read_text())["compare"]
    assert compare["trained_on_this_data"] is True and compare["test_rows_in_training_period"] > 300
    assert "Warning: t-1 was fitted and calibrated on orders from" in compared.output
    assert card["backtest"]["model"]["version"] == "t-1"
    # the thresholds were chosen with these rules' flags: the bundle and its card name them
    assert bundle.params["rules_version"] == card["backtest"]["rules_version"] == RuleSet.load(
        settings.resolved_rules_path).version
    assert f"the rules (version {bundle.params['rules_version']}) flag" in (out / "MODEL_CARD.md").read_text()
    assert set(card["backtest"]["systems"]) == {"rules", "model", "combined"}
    assert card["backtest"]["systems"]["model"]["roc_auc"] == pytest.approx(bundle.metrics["roc_auc"])
    markdown = (out / "MODEL_CARD.md").read_text()
    assert "## Back-test on the held-out rows" in markdown
    assert "| combined |" in markdown and "`prior_fraud`" in markdown
    assert "By scenario" in markdown and "| `stolen_card` | fraud |" in markdown
    money = card["backtest"]["money"]
    assert f"of the fraud amount (${money['systems']['combined']['fraud_flagged_usd']:,.0f} of " in markdown
    calibration = card["backtest"]["calibration"]
    assert f"the model expected {calibration['expected_frauds']:.1f} frauds" in markdown
    assert markdown.count("% – ") >= len(calibration["bands"])
    top = card["backtest"]["drift"]["features"][0]
    assert f"| `{top['feature']}` | {top['psi']:.4f} |" in markdown
    relied_on = card["backtest"]["importance"]["features"][0]
    assert f"| `{relied_on['feature']}` | {relied_on['drop']:.4f} |" in markdown
    assert "| 5% (this model) |" in markdown  # the capacities table
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "model.joblib", "model_card.json"]


@pytest.mark.parametrize("slice_", ["fit", "calibration"])
def test_a_single_class_fit_or_calibration_slice_is_refused(slice_: str) -> None:
    """A constant model would be shipped with thresholds near 1 and reported with AUC 0.5."""
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.05).astype(int)
    X = rng.normal(size=(3000, len(FEATURE_NAMES)))
    X[:, 0] += 3 * y
    lo, hi = (0, 1800) if slice_ == "fit" else (1800, 2400)  # the first 60 %, then the next 20 %
    y[lo:hi] = 0
    with pytest.raises(ModelError, match=slice_):
        train_model(X, y, FEATURE_NAMES, event_times=np.arange(3000.0), version="v",
                    data_sha256="0" * 64)


def test_the_time_split_keeps_rows_of_one_time_on_one_side() -> None:
    times = np.array([0.0] * 70 + [1.0] * 20 + [2.0] * 10)  # the 80 % cut falls inside time 1.0
    y = np.zeros(100, dtype=int)
    rest, held = split_rows(100, y, 0.2, times, 0)
    assert times[held].min() > times[rest].max()
    assert (rest.size, held.size) == (90, 10)  # as near 20 as 30 would be: the later cut


@pytest.mark.parametrize(("times", "sizes"), [
    ([0.0] * 100 + [1.0] * 100 + [2.0] * 100, (200, 100)),  # date-only days: the last is 33 %
    (list(range(200)) + [500.0] * 100, (200, 100)),  # the latest time holds a third of the rows
    ([0.0] * 50 + [1.0] * 100 + [2.0] * 150, (150, 150)),  # only the earlier change leaves test rows
])
def test_the_time_split_moves_its_cut_to_the_nearest_change_of_time(
    times: list[float], sizes: tuple[int, int]
) -> None:
    """It moved only later, and failed ("too few distinct event times") when the latest time's
    rows held more than the test share."""
    rest, held = split_rows(300, np.zeros(300, dtype=int), 0.2, np.array(times), 0)
    assert (rest.size, held.size) == sizes
    assert np.array(times)[held].min() > np.array(times)[rest].max()
    with pytest.raises(ModelError, match=r"split the train rows by time \(1 among 5 rows\)"):
        split_rows(5, np.zeros(5, dtype=int), 0.2, np.zeros(5), 0, what="the train rows")


def test_the_training_result_names_the_rows_each_step_used(replayed: ReplayResult) -> None:
    # what the notebook plots from: no split recomputed outside train_model
    from fraudscreen.training.train import evaluate

    result = train_model(replayed.X, replayed.y, FEATURE_NAMES, event_times=replayed.event_times,
                         version="t", data_sha256="0" * 64)
    fit, cal, test = result.fit_rows, result.calibration_rows, result.test_rows
    assert sorted(np.concatenate([fit, cal, test]).tolist()) == list(range(replayed.y.size))
    assert [fit.size, cal.size, test.size] == [result.report["rows"][k] for k in ("fit", "calibration", "test")]
    times = replayed.event_times
    assert times[test].min() > times[cal].max() >= times[cal].min() > times[fit].max()
    bundle = result.bundle
    assert evaluate(replayed.y[test], bundle.predict_proba(replayed.X[test]), bundle.thresholds) == bundle.metrics


def test_combined_decisions_are_the_service_s() -> None:
    allow = RuleHit("a", "ALLOW", "allow", "m")
    review, reject = RuleHit("r", "REVIEW", "review", "m"), RuleHit("x", "REJECT", "reject", "m")
    p = np.array([0.99, 0.01, 0.01, 0.5, 0.99, 0.01])
    hits = [(allow,), (review,), (reject,), (), (), (allow, reject)]
    got = combined_decisions(p, Thresholds(review=0.3, reject=0.9), hits)
    # an allow rule accepts a high score; rules flag low ones; the model decides the rest
    assert got.tolist() == [0, 1, 2, 1, 2, 0]


def test_labels_known_at_test_start_are_the_replay_s_label_times(replayed: ReplayResult) -> None:
    from fraudscreen.training.retrain import _labels_known_at_test_start

    train_idx, test_idx = split_indices(replayed.y, replayed.event_times, split="time",
                                        test_fraction=0.2, seed=0)
    y_known, late_count, pending = _labels_known_at_test_start(replayed, "time", train_idx, test_idx)
    test_start = replayed.event_times[test_idx].min()
    late = [i for i in train_idx if replayed.y[i] == 1 and not replayed.label_times[i] <= test_start]
    assert late and late_count == len(late)
    assert np.array_equal(np.flatnonzero(replayed.y != y_known), np.asarray(late))
    assert np.array_equal(y_known[test_idx], replayed.y[test_idx])  # test labels stay true
    # as export-training would have labelled them then: an order younger than the label delay
    # (30 days) has no label yet unless its fraud label was known
    month = 30 * 86_400.0
    young = [i for i in train_idx if replayed.event_times[i] > test_start - month
             and not (replayed.y[i] == 1 and replayed.label_times[i] <= test_start)]
    assert young and np.array_equal(np.flatnonzero(pending), np.asarray(young))
    frauds = replayed.y == 1
    assert np.all(replayed.label_times[frauds] >= replayed.event_times[frauds])
    assert np.all(np.isnan(replayed.label_times[~frauds]))


def test_training_with_labels_known_at_test_start() -> None:
    rows = late_labelled_rows(3, late_share=0.3)  # 30 % of frauds reported much later
    n, X, y, times = rows.y.size, rows.X, rows.y, rows.event_times
    everything = train_on_replay(rows, version="a", data_sha256="0" * 64)
    realistic = train_on_replay(rows, version="k", data_sha256="0" * 64, labels="known_at_test_start")
    test_start = float(n - 600)
    train = np.arange(n - 600)
    expected = int(np.sum((y[train] == 1) & (rows.label_times[train] > test_start)))
    assert expected > 0
    assert realistic.train_frauds_not_yet_known == everything.train_frauds_not_yet_known == expected
    assert (realistic.labels, everything.labels) == ("known_at_test_start", "all")
    assert np.array_equal(realistic.test_idx, everything.test_idx)
    # the rows of the last 300 s before the test rows had no label then, but known frauds
    known_fraud = (y == 1) & (rows.label_times <= test_start)
    unlabelled = train[(train > test_start - 300) & ~known_fraud[train]]
    assert unlabelled.size == realistic.train_rows_not_yet_labelled == everything.train_rows_not_yet_labelled
    fitted = np.concatenate([realistic.result.fit_rows, realistic.result.calibration_rows])
    assert np.array_equal(np.sort(fitted), np.setdiff1d(train, unlabelled))
    assert everything.result.report["rows"]["fit"] + everything.result.report["rows"]["calibration"] == train.size
    assert realistic.warm_up_rows == everything.warm_up_rows == 0
    # the realistic model is the one trained on the labels known then: older late frauds as legit
    known = y.copy()
    known[train[rows.label_times[train] > test_start]] = 0
    mask = np.zeros(n, dtype=bool)
    mask[unlabelled] = True
    by_hand = train_model(X, known, FEATURE_NAMES, event_times=times, version="h",
                          data_sha256="0" * 64, unlabelled=mask)
    np.testing.assert_array_equal(realistic.result.bundle.predict_proba(X),
                                  by_hand.bundle.predict_proba(X))
    assert not np.array_equal(realistic.result.bundle.predict_proba(X),
                              everything.result.bundle.predict_proba(X))
    with pytest.raises(ModelError):
        train_on_replay(rows, split="random", version="r", data_sha256="0" * 64,
                        labels="known_at_test_start")


def _trained_twice(replayed: ReplayResult, flip: str) -> tuple[Any, Any]:
    """A model of the replayed rows, and one trained on the same rows with the labels of its
    ``flip`` rows (``"test_rows"``, ``"calibration_rows"``) flipped. The reject threshold wants
    a precision of 1: flipped, nearly all threshold rows are fraud, and 0.95 would be met by
    rejecting every order (which training refuses)."""
    def trained(y: np.ndarray) -> Any:
        return train_model(replayed.X, y, FEATURE_NAMES, event_times=replayed.event_times,
                           version="t", data_sha256="0" * 64, min_reject_precision=1.0)

    base = trained(replayed.y)
    rows = getattr(base, flip)
    flipped = replayed.y.copy()
    flipped[rows] = 1 - flipped[rows]
    return base, trained(flipped)


def test_the_test_rows_labels_never_reach_the_model(replayed: ReplayResult) -> None:
    # held-out means held out: with the test rows' labels flipped, the same trees, calibration
    # and thresholds; only the reported figures (computed on those rows) change
    base, other = _trained_twice(replayed, "test_rows")
    np.testing.assert_array_equal(other.test_rows, base.test_rows)
    X = replayed.X
    np.testing.assert_array_equal(base.bundle.predict_proba(X), other.bundle.predict_proba(X))
    assert base.bundle.thresholds == other.bundle.thresholds
    assert base.bundle.metrics["roc_auc"] > 0.8 > other.bundle.metrics["roc_auc"]


def test_the_calibration_rows_labels_never_reach_the_trees(replayed: ReplayResult) -> None:
    base, other = _trained_twice(replayed, "calibration_rows")
    raw = [(base.bundle.raw_score(x), other.bundle.raw_score(x)) for x in replayed.X[:300]]
    assert all(a == b for a, b in raw)  # the same trees
    assert base.bundle.calibration != other.bundle.calibration  # fitted on those labels


def _invoke_backtest(rows: list[Any], path: Path, settings: Settings, *extra: str) -> Any:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return CliRunner().invoke(backtest, ["--data", str(path), "--no-progress", *extra], obj=settings)


def test_too_few_rows_says_how_many_were_usable_and_why_the_rest_were_skipped(settings, tmp_path) -> None:
    empty = _invoke_backtest([], tmp_path / "empty.jsonl", settings)
    assert empty.exit_code == 1
    assert "Error: too few rows to split: the file holds no rows" in empty.output
    rows = [dict(r, label="maybe") for r in simulate_orders(12, seed=3, start=START)]
    rows[0]["label_time"] = "soon"
    rows[1]["label"] = "fraud"
    skipped = _invoke_backtest(rows, tmp_path / "skipped.jsonl", settings)
    assert skipped.exit_code == 1
    assert ("too few rows to split: 1 usable row, 11 skipped (11 with a label other than fraud "
            "or legit)") in skipped.output
    logged = _invoke_backtest(
        [{"format": "fraudscreen-logged-features", "event_time": "2026-01-01T00:00:00Z",
          "label": "fraud", "features": {"amount_usd": "x"}}] * 2, tmp_path / "logged.jsonl", settings)
    assert logged.exit_code == 1 and "2 skipped: 2 lacking features" in logged.output


def test_rows_without_fraud_or_legit_labels_are_refused_in_the_analyst_s_terms(
    settings, tmp_path
) -> None:
    rows = list(simulate_orders(300, seed=4, start=START))
    legit = _invoke_backtest([dict(r, label="legit") for r in rows], tmp_path / "legit.jsonl", settings)
    assert legit.exit_code == 1
    assert ("the rows hold no fraud label (300 usable rows, 0 skipped); training needs at least one "
            "fraud and one legit row among the train rows") in legit.output
    latest = sorted(rows, key=lambda r: r["event"]["time"])[-5:]  # frauds only among the test rows
    late = [dict(r, label="fraud" if r in latest else "legit") for r in rows]
    test_only = _invoke_backtest(late, tmp_path / "late.jsonl", settings)
    assert test_only.exit_code == 1
    assert "the 240 train rows hold no fraud label (the file's 5 fraud rows are all among the test rows)" in \
        test_only.output


def test_too_few_fraud_rows_for_early_stopping_are_a_clear_error() -> None:
    """A young installation's export (30 rows, 11 fraud) left one fraud row in the fit slice:
    scikit-learn's stratified validation split raised a ValueError (a traceback in the CLI)."""
    rng = np.random.default_rng(1)
    y = np.zeros(300, dtype=int)
    y[[5, 190, 200, 250, 260]] = 1  # one fraud in the fit slice (the first 60 %), four after it
    X = rng.normal(size=(300, len(FEATURE_NAMES)))
    with pytest.raises(ModelError, match=r"fit rows hold 1 fraud label\(s\).*at least 2 rows of each"):
        train_model(X, y, FEATURE_NAMES, event_times=np.arange(300.0), version="v",
                    data_sha256="0" * 64)


def test_train_breaks_the_card_down_by_a_field_of_the_order(data, settings, tmp_path) -> None:
    out = tmp_path / "by-country"
    result = CliRunner().invoke(
        train, ["--data", str(data), "--out", str(out), "--segment-by", "billing-country",
                "--no-progress", "--workers", "0"], obj=settings, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model_card.json").read_text())
    segments = card["backtest"]["segments"]
    assert card["backtest"]["segment_by"] == "billing-country"
    assert all(len(country) == 2 for country in segments)
    assert sum(entry["rows"] for entry in segments.values()) == card["backtest"]["test"]["rows"]
    markdown = (out / "MODEL_CARD.md").read_text()
    assert "By billing country" in markdown and "By scenario" not in markdown
    country, entry = next(iter(segments.items()))
    service = entry["systems"]["combined"]
    assert f"| `{country}` | {entry['rows']} | {entry['frauds']} | {100 * service['flagged_share']:.1f}% (" in markdown
    export = tmp_path / "training.jsonl"
    write_jsonl([{"format": "fraudscreen-logged-features", "order_id": "1"}], export)
    refused = CliRunner().invoke(train, ["--data", str(export), "--out", str(tmp_path / "m"),
                                         "--segment-by", "currency"], obj=settings)
    assert refused.exit_code == 2 and "export-training" in refused.output, refused.output


def test_a_warm_up_only_builds_profiles(replayed: ReplayResult, settings: Settings) -> None:
    """The first days' rows neither fit, calibrate nor test; a time split tests the same rows."""
    days = 4.0
    start = replayed.event_times.min()
    warm = replayed.event_times < start + days * 86_400
    assert 0 < warm.sum() < 0.5 * warm.size
    plain = train_on_replay(replayed, version="t", data_sha256="0" * 64)
    trained = train_on_replay(replayed, version="t", data_sha256="0" * 64, warm_up_days=days)
    used = np.concatenate([trained.result.fit_rows, trained.result.calibration_rows, trained.test_idx])
    assert not warm[used].any()
    assert np.array_equal(trained.test_idx, plain.test_idx)
    assert trained.warm_up_rows == warm.sum() and trained.result.bundle.params["warm_up_days"] == days
    assert trained.result.bundle.training_period["from"] > plain.result.bundle.training_period["from"]
    report = backtest_report(trained, rules=RuleSet.load(settings.resolved_rules_path), data_path=None,
                             data_sha256=None, rows_read=replayed.y.size).report
    split = report["split"]
    assert (split["warm_up_days"], split["warm_up_rows"]) == (days, warm.sum())
    assert split["train_rows"] + split["test_rows"] + split["warm_up_rows"] == replayed.y.size
    # a random split draws its test rows after the warm-up too
    at_random = train_on_replay(replayed, version="t", data_sha256="0" * 64, split="random",
                                warm_up_days=days)
    assert not warm[at_random.test_idx].any() and at_random.test_idx.size < plain.test_idx.size
    with pytest.raises(ModelError, match="warm-up reaches into the test rows"):
        train_on_replay(replayed, version="t", data_sha256="0" * 64, warm_up_days=365)


def test_the_warm_up_option_reaches_the_report(data: Path, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(backtest, ["--data", str(data), "--warm-up-days", "7", "--json", str(out),
                                           "--no-progress"], obj=settings, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    split = json.loads(out.read_text())["split"]
    assert split["warm_up_days"] == 7.0 and split["warm_up_rows"] > 0
    assert "warm-up" in result.output
    refused = CliRunner().invoke(backtest, ["--data", str(data), "--warm-up-days", "-1"], obj=settings)
    assert refused.exit_code == 2 and "--warm-up-days" in refused.output


def test_the_model_card_names_its_warm_up(data: Path, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "warm"
    result = CliRunner().invoke(train, ["--data", str(data), "--out", str(out), "--warm-up-days", "3",
                                        "--no-progress", "--workers", "0"], obj=settings,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model_card.json").read_text())
    rows = card["backtest"]["split"]["warm_up_rows"]
    assert rows > 0 and card["params"]["warm_up_days"] == 3.0
    assert f"- Warm-up: the first 3 days ({rows} orders) of the data" in (out / "MODEL_CARD.md").read_text()


def test_a_capacity_the_rules_fill_says_the_model_reviews_nothing(report) -> None:
    """At a 0.4 % capacity the rules' reviews filled it: "review at p ≥ 1.0000 (capacity 0%)",
    and "the model's review threshold fills the rest", said the opposite of what happened."""
    full = json.loads(json.dumps(report))
    full["thresholds"].update(review=full["thresholds"]["reject"], review_capacity=0.004)
    assert full["thresholds"]["rules_flagged_share"] is not None
    printed = " ".join(_printed(full).split())
    assert "no review by the model" in printed and "capacity 0.4%" in printed, printed[:600]
    assert "the model sends no order to review" in printed and "fills the rest" not in printed
    assert "fills the rest" in " ".join(_printed(report).split())


def test_a_review_step_too_coarse_for_the_capacity_is_not_called_a_full_queue(report) -> None:
    """Rules flag 1.0% of the rows, the capacity is 1.1%, and the model's highest probability is
    shared by 3% of the rows: reviewing from it would overshoot further than reviewing nothing,
    so the model reviews nothing, though the queue is not full. The report once said the rules
    and the model's rejects "fill the capacity"."""
    from fraudscreen.training.capacity import model_reviews
    from fraudscreen.training.train import choose_thresholds

    n = 1000
    y = np.zeros(n, dtype=int)
    p = np.full(n, 0.01)
    p[:30], y[:10] = 0.3, 1  # one step of 30 rows, a third of them fraud: not rejectable
    rule_flagged = np.zeros(n, dtype=bool)
    rule_flagged[100:110] = True
    th = choose_thresholds(y, p, review_capacity=0.011, rule_flagged=rule_flagged)
    assert not model_reviews(th.review, th.reject)
    assert th.reject == 1.0 and np.mean(rule_flagged | (p >= th.review)) < 0.011  # not full
    shown = json.loads(json.dumps(report))
    shown["thresholds"].update(review=th.review, reject=th.reject, review_capacity=0.011,
                               rules_flagged_share=0.01)
    printed = " ".join(_printed(shown).split())
    assert ("with the model's rejects that leaves the share flagged nearer the capacity than any "
            "review by the model would, so the model sends no order to review") in printed
    assert "fill the capacity" not in printed


def test_printed_tables_lose_no_figure_to_a_long_version_or_segment(report) -> None:
    """Into a file 120 columns wide, as ``backtest > report.txt`` prints: a 64-character model
    version and a 100-character segment name once made rich cut figures to "…" and shrink the
    new model's columns to nothing."""
    from rich.console import Console

    version = "release-2026-12-07-candidate-with-new-velocity-features-and-rule"
    long_name = "manual review: existing customer buying an add-on, " * 2
    segments = dict(report["compare"]["segments"])
    first = next(iter(segments))
    odd = {**report, "compare": {**report["compare"], "version": version,
                                 "segments": {**segments, long_name[:100]: segments[first]}},
           "segments": {**report["segments"], long_name[:100]: report["segments"][first]}}
    console = Console(file=io.StringIO(), width=120)
    print_report(odd, console)
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert not [line for line in printed.splitlines() if line.startswith("│") and "…" in line]
    ours, theirs = report["systems"], report["compare"]["systems"]
    row = next(line for line in printed.splitlines() if line.startswith("│ ROC AUC ") and "(" not in line)
    shown = [cell.strip() for cell in row.strip("│").split("│")[1:]]
    assert shown == [f"{ours['model']['roc_auc']:.3f}", f"{theirs['model']['roc_auc']:.3f}",
                     f"{ours['combined']['roc_auc']:.3f}", f"{theirs['combined']['roc_auc']:.3f}"]
    assert f"New model against {version} (compared)" in " ".join(printed.split())
    rows = str(report["segments"][first]["rows"])
    folded = [line for line in printed.splitlines() if line.startswith("│ manual review: ")]
    assert folded and re.search(rf"│\s+{rows} │", folded[0]), folded


def test_option_values_print_as_given_not_rounded_into_others(report) -> None:
    """--min-reject-precision 0.035 printed as 0.04, and capacities of 0.01% and 0.04% both
    as 0.0%."""
    shown = json.loads(json.dumps(report))
    shown["thresholds"].update(review_capacity=0.0001, min_reject_precision=0.035)
    first, second = shown["capacities"][:2]
    shown["capacities"] = [{**first, "review_capacity": 0.0001}, {**second, "review_capacity": 0.0004}]
    printed = " ".join(_printed(shown).split())
    assert "capacity 0.01%, min reject precision 0.035)" in printed
    assert "recall at 0.01% capacity" in printed
    assert "│ 0.01% * │" in printed and "│ 0.04% │" in printed


def test_a_json_report_named_gz_is_compressed(tmp_path: Path) -> None:
    """As every other output named .gz is; it was written as plain JSON."""
    from fraudscreen.training.commands import _write_report

    for name in ("report.json.gz", "report.json.GZ", "report.json"):
        path = tmp_path / name
        assert _write_report({"rows": 3, "name": "Zoë"}, path) is None
        raw = path.read_bytes()
        text = gzip.decompress(raw) if name != "report.json" else raw
        assert json.loads(text) == {"rows": 3, "name": "Zoë"}


def test_a_compared_bundle_of_another_capacity_is_said_to_differ_by_capacity(report) -> None:
    """The shipped bundle was thresholded for 5%: at 20% the new model flags more of every
    pattern, and the comparison read as if the new model were better."""
    from fraudscreen.training.compare import capacity_warning

    assert report["compare"]["review_capacity"] == 0.05 == report["thresholds"]["review_capacity"]
    assert capacity_warning(report) is None
    assert "thresholded for" not in " ".join(_printed(report).split())
    wider = json.loads(json.dumps(report))
    wider["thresholds"]["review_capacity"] = 0.2
    printed = " ".join(_printed(wider).split())
    assert (f"Warning: {report['compare']['version']} was thresholded for a 5% review capacity, "
            "the new model for 20%.") in printed
    wider["compare"]["review_capacity"] = None  # a bundle that does not say
    assert capacity_warning(wider) is None
