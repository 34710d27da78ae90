"""Population stability (drift) and calibration bands, on distributions with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from fraudscreen.training.drift import (
    NOISE_P,
    drift_table,
    homogeneity_p_value,
    population_stability,
    shift_of,
)
from fraudscreen.training.reliability import PROBABILITY_BANDS, percent, reliability

N = 200_000


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(20261207)


def test_the_same_distribution_has_an_index_near_zero(rng: np.random.Generator) -> None:
    assert population_stability(rng.normal(size=N), rng.normal(size=N)) < 0.002


@pytest.mark.parametrize(("shift", "low", "high"), [(0.5, 0.21, 0.26), (1.0, 0.85, 1.0)])
def test_a_shifted_normal_has_an_index_near_the_shift_squared(rng: np.random.Generator, shift: float,
                                                              low: float, high: float) -> None:
    # the index is the symmetric Kullback-Leibler divergence, shift² for two unit normals;
    # ten bins see a little less of it
    assert low < population_stability(rng.normal(size=N), rng.normal(shift, 1.0, size=N)) < high


def test_a_flag_gets_the_exact_index_of_its_two_shares(rng: np.random.Generator) -> None:
    train = (rng.random(N) < 0.1).astype(float)
    test = (rng.random(N) < 0.3).astype(float)
    a, b = test.mean(), train.mean()
    exact = (a - b) * math.log(a / b) + ((1 - a) - (1 - b)) * math.log((1 - a) / (1 - b))
    assert population_stability(train, test) == pytest.approx(exact, rel=1e-9)


def test_values_going_missing_count_as_a_shift(rng: np.random.Generator) -> None:
    train = rng.normal(size=N)
    test = rng.normal(size=N)
    test[: N // 2] = np.nan
    assert population_stability(train, test) > 1.0
    assert population_stability(train, train[: N // 2]) < 0.002
    assert population_stability(train, np.empty(0)) is None


def test_the_table_puts_the_features_that_moved_first(rng: np.random.Generator) -> None:
    X = np.column_stack([rng.normal(size=N), rng.normal(size=N), np.full(N, np.nan)])
    test = np.zeros(N, dtype=bool)
    test[N // 2:] = True
    X[test, 1] += 1.0  # the second feature moves in the test half
    table = drift_table(X, ~test, np.flatnonzero(test), ["steady", "moved", "never_there"])
    assert [row["feature"] for row in table][:2] == ["moved", "steady"]
    assert table[0]["psi"] > 0.8 and table[1]["psi"] < 0.01
    assert table[0]["test_mean"] - table[0]["train_mean"] == pytest.approx(1.0, abs=0.02)
    assert table[2]["train_mean"] is None and table[2]["psi"] == pytest.approx(0.0)


def test_calibrated_probabilities_land_inside_their_bands_intervals(rng: np.random.Generator) -> None:
    p = rng.beta(0.3, 20, size=N)
    y = (rng.random(N) < p).astype(int)
    out = reliability(y, p)
    assert out["brier_score"] == pytest.approx(brier_score_loss(y, p))
    assert out["frauds"] == y.sum() and out["expected_frauds"] == pytest.approx(p.sum())
    assert sum(band["rows"] for band in out["bands"]) == N
    assert sum(band["frauds"] for band in out["bands"]) == y.sum()
    for band in out["bands"]:
        low, high = band["fraud_rate_interval"]
        assert band["from"] <= band["mean_probability"] < band["to"]
        assert low <= band["mean_probability"] <= high, band


def test_an_overconfident_model_is_caught_in_its_risky_bands(rng: np.random.Generator) -> None:
    truth = rng.beta(0.3, 20, size=N)
    y = (rng.random(N) < truth).astype(int)
    out = reliability(y, np.minimum(1.0, 4 * truth))
    assert out["expected_frauds"] > 3 * out["frauds"]
    risky = [band for band in out["bands"] if band["from"] >= 0.03]
    assert risky and all(band["fraud_rate_interval"][1] < band["mean_probability"] for band in risky)


def test_a_probability_on_an_edge_goes_to_the_band_that_starts_there() -> None:
    edges = PROBABILITY_BANDS
    p = np.array([0.0, edges[1], edges[2], 1.0])
    out = reliability(np.array([0, 0, 1, 1]), p)
    assert [(b["from"], b["rows"]) for b in out["bands"]] == [(0.0, 1), (edges[1], 1), (edges[2], 1), (0.3, 1)]


@pytest.mark.parametrize(("share", "text"), [(0.00013, "0.013%"), (0.003, "0.3%"), (0.0, "0.0%"),
                                             (0.0159, "1.6%"), (0.939, "93.9%"), (1.0, "100.0%")])
def test_small_shares_keep_two_significant_digits(share: float, text: str) -> None:
    assert percent(share) == text


@pytest.mark.parametrize(("psi", "reading"), [(None, "–"), (0.0, "stable"), (0.0999, "stable"),
                                              (0.1, "moderate"), (0.2499, "moderate"), (0.25, "large")])
def test_an_index_is_read_as_stable_moderate_or_large(psi: float | None, reading: str) -> None:
    assert shift_of(psi) == reading


def test_small_samples_of_one_distribution_read_as_shifts_but_test_as_noise() -> None:
    """240 train and 60 test rows of one distribution: the index alone calls most draws a
    shift (it averages about 9 * (1/240 + 1/60) = 0.19), the test of homogeneity calls about
    one in a hundred of them one, as a 1 % test should."""
    rng = np.random.default_rng(7)
    draws = [(rng.normal(size=240), rng.normal(size=60)) for _ in range(400)]
    psis = np.array([population_stability(a, b) for a, b in draws])
    p_values = np.array([homogeneity_p_value(a, b) for a, b in draws])
    assert 0.15 < psis.mean() < 0.25 and (psis >= 0.1).mean() > 0.8
    assert (p_values < NOISE_P).mean() < 0.03


def test_a_real_shift_is_beyond_noise_and_a_constant_cannot_shift(rng: np.random.Generator) -> None:
    assert homogeneity_p_value(rng.normal(size=2000), rng.normal(0.5, 1.0, size=500)) < 1e-9
    assert homogeneity_p_value(np.zeros(100), np.zeros(50)) == 1.0
    assert homogeneity_p_value(np.zeros(100), np.empty(0)) is None
    X = np.column_stack([rng.normal(size=1000), np.zeros(1000)])
    X[500:, 0] += 1.0
    table = {row["feature"]: row for row in drift_table(X, np.arange(500), np.arange(500, 1000), ["a", "b"])}
    assert table["a"]["p_value"] < 1e-9 and table["b"]["p_value"] == 1.0
    assert table["a"]["psi"] == population_stability(X[:500, 0], X[500:, 0])
