"""Which features moved between the train rows and the test rows: the population stability index.

A model is trained on the past and judged on the future. When its figures on the test rows
fall, the first question is what changed: a new fraud pattern, a new market, a checkout that
stopped sending a field. For every feature, :func:`population_stability` compares its
distribution on the test rows with that on the train rows, in ten bins cut at the train rows'
deciles (a value shared by many rows, such as 0 for a flag, gets a bin of its own; missing
values too). The index is ``sum((test - train) * ln(test / train))`` over the bins' shares:
below 0.1 the feature is usually called stable, 0.1 to 0.25 a moderate shift, above 0.25 a
large one. For two normal distributions one standard deviation ``d`` apart it tends to ``d**2``.

Those readings ignore how many rows there are. Two samples of one distribution differ by chance,
and the index of that difference grows as the samples shrink: about ``(bins - 1) * (1/n_train +
1/n_test)`` on average, 0.19 for 240 train rows against 60 test rows, where a feature can read as
a "large" shift by chance alone. :func:`homogeneity_p_value` therefore tests the same bins' counts
with the chi-squared test of homogeneity: a p-value from 0.01 up (:data:`NOISE_P`) means the
shift is within what sampling alone gives. The test takes the rows as independent draws; orders
of one account are not quite, so read a p-value near 0.01 as borderline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["BINS", "LARGE", "MODERATE", "NOISE_P", "drift_table", "homogeneity_p_value", "p_text",
           "population_stability", "readings", "shift_of", "shift_reading", "within_noise"]

BINS = 10
"""Bins cut at the train rows' quantiles."""
MODERATE = 0.1
"""An index from here up is usually read as a moderate shift."""
LARGE = 0.25
"""From here up, a large shift."""
NOISE_P = 0.01
"""A shift whose test of homogeneity gives a p-value from here up is within sampling noise."""
_FLOOR = 1e-4
"""Share given to a bin that holds no rows on one side, so the logarithm stays finite."""


def population_stability(train: np.ndarray, test: np.ndarray, bins: int = BINS) -> float | None:
    """Population stability index of ``test`` against ``train`` (1-D, NaN = missing); None when
    either side has no rows."""
    counts = _binned(train, test, bins)
    return None if counts is None else _index(*counts)


def homogeneity_p_value(train: np.ndarray, test: np.ndarray, bins: int = BINS) -> float | None:
    """p-value of the chi-squared test that ``train`` and ``test`` come from one distribution,
    on the bins of :func:`population_stability`; None when either side has no rows. 1.0 when
    every row falls in one bin (nothing can differ)."""
    counts = _binned(train, test, bins)
    return None if counts is None else _p_value(*counts)


def _index(train_counts: np.ndarray, test_counts: np.ndarray) -> float:
    expected, actual = (np.maximum(c / c.sum(), _FLOOR) for c in (train_counts, test_counts))
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _p_value(train_counts: np.ndarray, test_counts: np.ndarray) -> float:
    from scipy.stats import chi2_contingency

    table = np.vstack([train_counts, test_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


def _binned(train: np.ndarray, test: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Row counts of ``train`` and ``test`` in the bins cut at the train rows' quantiles (and
    one for missing values); None when either side has no rows."""
    train = np.asarray(train, dtype=np.float64).ravel()
    test = np.asarray(test, dtype=np.float64).ravel()
    if not train.size or not test.size:
        return None
    present = train[~np.isnan(train)]
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if present.size else np.empty(0)
    return _counts(train, edges), _counts(test, edges)


def shift_of(psi: float | None) -> str:
    """How an index is usually read: ``stable``, ``moderate`` or ``large`` (``–`` for none)."""
    if psi is None:
        return "–"
    return "large" if psi >= LARGE else "moderate" if psi >= MODERATE else "stable"


def within_noise(p_value: float | None) -> bool:
    """True when a test of homogeneity gave :data:`NOISE_P` or more: sampling alone gives such a
    shift with these row counts."""
    return p_value is not None and p_value >= NOISE_P


def shift_reading(psi: float | None, p_value: float | None, *, words: bool = False) -> str:
    """:func:`shift_of`, with ``", within noise"`` after a shift :func:`within_noise`; with
    ``words``, ``"a large shift"`` (and ``"unknown"`` for no index)."""
    shift = shift_of(psi)
    if shift == "–":
        return "unknown" if words else shift
    text = f"a {shift} shift" if words and shift != "stable" else shift
    return f"{text}, within noise" if shift != "stable" and within_noise(p_value) else text


def readings(drift: Mapping[str, Any] | None) -> dict[str, str]:
    """Each feature's :func:`shift_reading` in a report's ``drift`` section (empty for none)."""
    return {f["feature"]: shift_reading(f["psi"], f.get("p_value")) for f in (drift or {}).get("features", [])}


def p_text(p_value: float | None) -> str:
    """A p-value as the reports print it: ``0.340``, ``<0.001``, ``–`` for none."""
    if p_value is None:
        return "–"
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)`` and NaN.
    Right-closed bins: a value equal to an edge (a decile many rows share, such as 0) falls in
    the bin that ends there, and the values above it in the next. (Shares are floored at
    :data:`_FLOOR` for the index, so that its logarithm stays finite.)"""
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="left"), minlength=edges.size + 1)
    return np.append(counts, missing.sum())


def drift_table(X: np.ndarray, train_rows: np.ndarray, test_rows: np.ndarray,
                names: Sequence[str]) -> list[dict[str, Any]]:
    """Per feature (the columns of ``X``, named ``names``): its index of the ``test_rows``
    against the ``train_rows`` (indices or masks of the rows), the p-value of the test of
    homogeneity and the two means; the largest index first. One column is copied at a time."""
    table: list[dict[str, Any]] = []
    for j, name in enumerate(names):
        train, test = X[train_rows, j], X[test_rows, j]
        counts = _binned(train, test, BINS)
        table.append({
            "feature": name, "psi": None if counts is None else _index(*counts),
            "p_value": None if counts is None else _p_value(*counts),
            "train_mean": _mean(train), "test_mean": _mean(test),
        })
    return sorted(table, key=lambda entry: -(entry["psi"] or 0.0))


def _mean(column: np.ndarray) -> float | None:
    present = column[~np.isnan(column.astype(np.float64, copy=False))]
    return float(present.mean()) if present.size else None
