"""Which features the model relies on: permutation importance on the test rows.

Each feature's column of the test rows is shuffled, ``repeats`` times, and the model's average
precision measured again (scikit-learn's ``permutation_importance``): the drop is what the
model loses when that feature tells it nothing. Measured on test rows, not on the rows the
trees were fitted on, it shows what the model uses on new orders. A feature far ahead of all
the others may leak the label; one it leans on that also drifted (the drift table) is the
first to watch. Features that carry the same information share it: shuffling one of two
correlated features costs little, so a small drop does not prove a feature useless.

A long history is sampled: at most :data:`MAX_ROWS` test rows (seeded), so that a back-test of
a million orders spends seconds here, not minutes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fraudscreen.model import ModelBundle

__all__ = ["MAX_ROWS", "REPEATS", "permutation_importance_table"]

MAX_ROWS = 5_000
"""Test rows the importance is measured on, at most (a seeded sample of them beyond)."""
REPEATS = 5
"""Shuffles of each feature's column."""


class _Scored:
    """A fitted model as scikit-learn's ``permutation_importance`` takes one (it only scores it)."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Scored:  # pragma: no cover - never called
        return self


def _average_precision(model: _Scored, X: np.ndarray, y: np.ndarray) -> float:
    """The average precision of the bundle's probabilities of ``X``. Scored by the bundle's
    NumPy forest, not the estimator's OpenMP predictor: that one is twice as fast alone, but
    its 275 short parallel batches, with another busy process on the two cores (two back-tests
    at once, the test suite's two workers), made the back-tests 2.3 times slower."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, model.bundle.predict_proba(X)))


def permutation_importance_table(
    bundle: ModelBundle, X: np.ndarray, y: np.ndarray, *, seed: int = 0,
    repeats: int = REPEATS, max_rows: int = MAX_ROWS,
) -> dict[str, Any] | None:
    """The drop in average precision when each of the bundle's features is shuffled, most
    important first (``X``: test rows in the bundle's feature order; ``y``: 1 for fraud); None
    when the rows do not hold both labels (average precision needs a fraud and a legit row)."""
    from sklearn.inspection import permutation_importance

    y = np.asarray(y).astype(np.int64).ravel()
    if not 0 < int(y.sum()) < y.size:
        return None
    rng = np.random.default_rng(seed)
    if y.size > max_rows:  # features x repeats predictions: 1-4 s per 1,000 rows with 55 x 5
        rows = np.sort(rng.choice(y.size, size=max_rows, replace=False))
        X, y = X[rows], y[rows]
        if not 0 < int(y.sum()) < y.size:  # pragma: no cover - a sample of 5,000 rows
            return None
    model = _Scored(bundle)
    found = permutation_importance(model, X, y, scoring=_average_precision, n_repeats=repeats,
                                   random_state=seed)
    order = np.argsort(-found.importances_mean, kind="stable")
    return {
        "method": "permutation importance on the test rows: the drop in the model's average "
                  "precision when a feature's column is shuffled",
        "rows": int(y.size),
        "repeats": repeats,
        "seed": seed,
        "average_precision": _average_precision(model, X, y),
        "features": [{"feature": bundle.feature_names[i], "drop": float(found.importances_mean[i]),
                      "drop_std": float(found.importances_std[i])} for i in order],
    }
