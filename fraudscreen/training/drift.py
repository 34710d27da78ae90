"""Which features moved between the train rows and the test rows: the population stability index.

A model is trained on the past and judged on the future. When its figures on the test rows
fall, the first question is what changed: a new fraud pattern, a new market, a checkout that
stopped sending a field. For every feature, :func:`population_stability` compares its
distribution on the test rows with that on the train rows, in ten bins cut at the train rows'
deciles (a value shared by many rows, such as 0 for a flag, gets a bin of its own; missing
values too). The index is ``sum((test - train) * ln(test / train))`` over the bins' shares:
below 0.1 the feature is usually called stable, 0.1 to 0.25 a moderate shift, above 0.25 a
large one. For two normal distributions one standard deviation ``d`` apart it tends to ``d**2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["BINS", "LARGE", "MODERATE", "drift_table", "population_stability", "shift_of"]

BINS = 10
"""Bins cut at the train rows' quantiles."""
MODERATE = 0.1
"""An index from here up is usually read as a moderate shift."""
LARGE = 0.25
"""From here up, a large shift."""
_FLOOR = 1e-4
"""Share given to a bin that holds no rows on one side, so the logarithm stays finite."""


def population_stability(train: np.ndarray, test: np.ndarray, bins: int = BINS) -> float | None:
    """Population stability index of ``test`` against ``train`` (1-D, NaN = missing); None when
    either side has no rows."""
    train = np.asarray(train, dtype=np.float64).ravel()
    test = np.asarray(test, dtype=np.float64).ravel()
    if not train.size or not test.size:
        return None
    present = train[~np.isnan(train)]
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if present.size else np.empty(0)
    expected, actual = _shares(train, edges), _shares(test, edges)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def shift_of(psi: float | None) -> str:
    """How an index is usually read: ``stable``, ``moderate`` or ``large`` (``–`` for none)."""
    if psi is None:
        return "–"
    return "large" if psi >= LARGE else "moderate" if psi >= MODERATE else "stable"


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of ``values`` in the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)`` and NaN,
    floored at :data:`_FLOOR`. Right-closed bins: a value equal to an edge (a decile many rows
    share, such as 0) falls in the bin that ends there, and the values above it in the next."""
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="left"), minlength=edges.size + 1)
    shares = np.append(counts, missing.sum()) / values.size
    return np.maximum(shares, _FLOOR)


def drift_table(X: np.ndarray, train_rows: np.ndarray, test_rows: np.ndarray,
                names: Sequence[str]) -> list[dict[str, Any]]:
    """Per feature (the columns of ``X``, named ``names``): its index of the ``test_rows``
    against the ``train_rows`` (indices or masks of the rows), and the two means; the largest
    index first. One column is copied at a time."""
    table: list[dict[str, Any]] = []
    for j, name in enumerate(names):
        train, test = X[train_rows, j], X[test_rows, j]
        table.append({
            "feature": name, "psi": population_stability(train, test),
            "train_mean": _mean(train), "test_mean": _mean(test),
        })
    return sorted(table, key=lambda entry: -(entry["psi"] or 0.0))


def _mean(column: np.ndarray) -> float | None:
    present = column[~np.isnan(column.astype(np.float64, copy=False))]
    return float(present.mean()) if present.size else None
