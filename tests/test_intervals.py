"""Bootstrap intervals of the back-test: the resampled figures are the report's figures, the
intervals cover what they claim to, and paired differences are paired."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudscreen.training.intervals import (
    FIGURES,
    SystemRows,
    bootstrap,
    interval,
    weighted_figures,
)
from fraudscreen.training.systems import system_metrics


def _rows(n: int, seed: int, *, ties: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.06).astype(np.int64)
    score = rng.random(n) + 0.5 * y
    if ties:
        score = np.round(score, 1)  # a handful of distinct scores: large tied groups
    decisions = np.where(score >= 1.1, 2, np.where(score >= 0.9, 1, 0))
    return y, decisions, score


@pytest.mark.parametrize("ties", [False, True])
def test_each_row_once_gives_the_report_s_figures(ties: bool) -> None:
    y, decisions, score = _rows(3000, 1, ties=ties)
    figures = weighted_figures(SystemRows.of(y, decisions, score), np.ones(y.size, dtype=np.int64), 0.05)
    expected = system_metrics(y, decisions, score, capacity=0.05, ranked_by="score")
    assert figures == pytest.approx({f: expected[f] for f in FIGURES}, abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_counted_rows_give_scikit_learn_s_weighted_figures(ties: bool) -> None:
    y, decisions, score = _rows(3000, 2, ties=ties)
    counts = np.random.default_rng(3).integers(0, 4, y.size)
    figures = weighted_figures(SystemRows.of(y, decisions, score), counts, 0.05)
    assert figures["roc_auc"] == pytest.approx(roc_auc_score(y, score, sample_weight=counts), abs=1e-12)
    assert figures["average_precision"] == pytest.approx(
        average_precision_score(y, score, sample_weight=counts), abs=1e-12)
    flagged = decisions >= 1
    assert figures["flagged_recall"] == pytest.approx(counts[flagged & (y == 1)].sum() / counts[y == 1].sum())


def test_a_95_percent_interval_covers_the_true_auc_about_95_times_in_100() -> None:
    """Scores of legit orders ~ N(0, 1) and of frauds ~ N(1, 1): the AUC of the population is
    Phi(1 / sqrt 2) = 0.760. Each of 60 samples of 1,500 orders gets its interval."""
    true_auc = 0.5 * (1 + math.erf(0.5))  # Phi(1/sqrt(2)) = (1 + erf(1/2)) / 2
    rng = np.random.default_rng(7)
    covered, widths = 0, []
    for trial in range(60):
        y = (rng.random(1500) < 0.1).astype(np.int64)
        score = rng.normal(size=y.size) + y
        rows = {"model": SystemRows.of(y, (score > 1).astype(np.int64), score)}
        low, high = interval(bootstrap(rows, capacity=0.05, seed=trial, resamples=300)["model"]["roc_auc"])
        covered += low <= true_auc <= high
        widths.append(high - low)
    assert covered >= 51, covered  # expected 57; 51 is more than three standard deviations below
    assert 0.05 < float(np.median(widths)) < 0.15  # 150 frauds: about +-0.04


def test_four_times_the_rows_halve_the_interval() -> None:
    rng = np.random.default_rng(11)
    widths = []
    for n in (2000, 8000):
        y = (rng.random(n) < 0.1).astype(np.int64)
        score = rng.normal(size=n) + y
        rows = {"model": SystemRows.of(y, (score > 1).astype(np.int64), score)}
        low, high = interval(bootstrap(rows, capacity=0.05, seed=0, resamples=400)["model"]["roc_auc"])
        widths.append(high - low)
    assert 0.35 < widths[1] / widths[0] < 0.65


def test_differences_are_paired_and_seeded() -> None:
    y, decisions, score = _rows(4000, 5, ties=False)
    noise = np.random.default_rng(6).normal(scale=0.02, size=y.size)
    systems = {"new": SystemRows.of(y, decisions, score + noise), "old": SystemRows.of(y, decisions, score),
               "same": SystemRows.of(y, decisions, score)}
    samples = bootstrap(systems, capacity=0.05, seed=1, resamples=300)
    assert interval(samples["old"]["roc_auc"] - samples["same"]["roc_auc"]) == [0.0, 0.0]
    # each model's own interval is wide; their difference, on the same resamples, is narrow
    own = interval(samples["old"]["roc_auc"])
    paired = interval(samples["new"]["roc_auc"] - samples["old"]["roc_auc"])
    assert own is not None and paired is not None
    assert paired[1] - paired[0] < (own[1] - own[0]) / 3
    again = bootstrap(systems, capacity=0.05, seed=1, resamples=300)
    assert all(np.array_equal(samples[s][f], again[s][f]) for s in systems for f in FIGURES)


def test_a_figure_some_resamples_leave_undefined_gets_no_interval() -> None:
    y, _, score = _rows(2000, 8, ties=False)
    decisions = np.zeros(y.size, dtype=np.int64)
    decisions[int(np.argmax(score))] = 2  # a single rejected order: most resamples miss it
    samples = bootstrap({"model": SystemRows.of(y, decisions, score)}, capacity=0.05, seed=0, resamples=200)
    assert interval(samples["model"]["reject_precision"]) is None
    assert interval(samples["model"]["roc_auc"]) is not None
    with pytest.raises(ValueError, match="same rows"):
        bootstrap({"a": SystemRows.of(y, decisions, score), "b": SystemRows.of(y[:10], decisions[:10], score[:10])},
                  capacity=0.05, seed=0)


def test_resampling_every_row_as_its_own_cluster_is_resampling_the_rows() -> None:
    y, decisions, score = _rows(2000, 5, ties=False)
    systems = {"s": SystemRows.of(y, decisions, score)}
    by_row = bootstrap(systems, capacity=0.05, seed=3, resamples=50)
    by_cluster = bootstrap(systems, capacity=0.05, seed=3, resamples=50, clusters=np.arange(y.size))
    for figure in FIGURES:
        np.testing.assert_array_equal(by_row["s"][figure], by_cluster["s"][figure])


def test_orders_of_one_account_widen_the_interval_as_they_should() -> None:
    """400 accounts of ten identical orders each: 400 independent draws, not 4,000. Resampled as
    rows, the interval is about sqrt(10) times too narrow; resampled by account it is as wide
    as that of the 400 accounts' single orders."""
    y1, d1, s1 = _rows(400, 8, ties=False)
    y, decisions, score = (np.repeat(a, 10) for a in (y1, d1, s1))
    accounts = np.repeat(np.arange(400), 10)
    systems = {"s": SystemRows.of(y, decisions, score)}
    rows = bootstrap(systems, capacity=0.05, seed=1, resamples=400)["s"]["roc_auc"]
    drawn = bootstrap(systems, capacity=0.05, seed=1, resamples=400, clusters=accounts)["s"]["roc_auc"]
    single = bootstrap({"s": SystemRows.of(y1, d1, s1)}, capacity=0.05, seed=1, resamples=400)["s"]["roc_auc"]
    width = {name: np.diff(interval(v))[0] for name, v in [("rows", rows), ("drawn", drawn), ("single", single)]}
    assert 2.2 < width["drawn"] / width["rows"] < 4.5
    assert 0.75 < width["drawn"] / width["single"] < 1.33
    with pytest.raises(ValueError, match="one number per row"):
        bootstrap(systems, capacity=0.05, seed=1, resamples=2, clusters=accounts[:-1])
