"""Permutation importance: what the model relies on, measured on held-out rows."""

from __future__ import annotations

import numpy as np
import pytest

from fraudscreen.features import FEATURE_NAMES
from fraudscreen.model import ModelBundle
from fraudscreen.training.importance import permutation_importance_table
from fraudscreen.training.train import train_model


@pytest.fixture(scope="module")
def learnt() -> tuple[ModelBundle, np.ndarray, np.ndarray]:
    """A model of rows whose label only the third feature tells (the others are noise), and
    rows it was not trained on."""
    rng = np.random.default_rng(7)
    n = 6000
    y = (rng.random(n) < 0.1).astype(np.int64)
    X = rng.normal(size=(n, len(FEATURE_NAMES)))
    X[:, 2] += 2.5 * y
    bundle = train_model(X[:4000], y[:4000], FEATURE_NAMES, version="i", data_sha256="0" * 64).bundle
    return bundle, X[4000:], y[4000:]


def test_the_feature_that_tells_the_label_is_the_one_the_model_loses_most_without(
    learnt: tuple[ModelBundle, np.ndarray, np.ndarray],
) -> None:
    bundle, X, y = learnt
    table = permutation_importance_table(bundle, X, y, seed=1)
    assert table is not None
    drops = {f["feature"]: f["drop"] for f in table["features"]}
    assert set(drops) == set(FEATURE_NAMES)
    assert table["features"][0]["feature"] == FEATURE_NAMES[2]
    assert drops[FEATURE_NAMES[2]] > 0.3
    noise = [d for name, d in drops.items() if name != FEATURE_NAMES[2]]
    assert max(noise) < 0.05  # shuffling noise costs next to nothing
    assert [f["drop"] for f in table["features"]] == sorted(drops.values(), reverse=True)
    assert table["rows"] == y.size and table["repeats"] == 5
    from sklearn.metrics import average_precision_score

    assert table["average_precision"] == pytest.approx(average_precision_score(y, bundle.predict_proba(X)))


def test_a_long_history_is_sampled_with_the_seed(learnt: tuple[ModelBundle, np.ndarray, np.ndarray]) -> None:
    bundle, X, y = learnt
    first = permutation_importance_table(bundle, X, y, seed=3, max_rows=500, repeats=2)
    again = permutation_importance_table(bundle, X, y, seed=3, max_rows=500, repeats=2)
    other = permutation_importance_table(bundle, X, y, seed=4, max_rows=500, repeats=2)
    assert first is not None and other is not None
    assert first["rows"] == 500 and first["repeats"] == 2
    assert first == again
    assert first["average_precision"] != other["average_precision"]  # another draw of rows


def test_rows_of_one_label_have_no_importance(learnt: tuple[ModelBundle, np.ndarray, np.ndarray]) -> None:
    bundle, X, y = learnt
    assert permutation_importance_table(bundle, X[y == 0], y[y == 0]) is None
