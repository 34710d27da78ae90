"""Model bundle, thresholds and training on synthetic data where one feature drives fraud."""

from __future__ import annotations

import math
from pathlib import Path

import joblib
import numpy as np
import pytest

from fraudscreen.errors import ModelError
from fraudscreen.model import BUNDLE_FILE, PROBABILITY_CAP, ModelBundle, Thresholds, risk_score
from fraudscreen.training.train import (
    TrainResult,
    choose_thresholds,
    evaluate,
    split_rows,
    train_model,
)

NAMES = ("ip_distance", "account_age", "amount", "noise_a", "noise_b", "noise_c")


def _data(n: int = 8000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(NAMES)))
    logit = -4.2 + 3.0 * X[:, 0] - 0.5 * X[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X[rng.random(X.shape) < 0.03] = np.nan  # missing values, as real features have
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return _data()


@pytest.fixture(scope="module")
def result(data: tuple[np.ndarray, np.ndarray]) -> TrainResult:
    X, y = data
    return train_model(X, y, NAMES, event_times=np.arange(len(y)), version="test-1",
                       data_sha256="ab" * 32, seed=0)


def test_held_out_auc_and_metrics(result: TrainResult) -> None:
    m = result.bundle.metrics
    assert m["roc_auc"] > 0.9
    for key in ("roc_auc", "average_precision", "fraud_rate", "rows", "recall_at_review",
                "precision_at_review", "reject_precision", "reject_recall", "decision_mix"):
        assert key in m
    assert m["rows"] == result.report["rows"]["test"] == 1600
    assert set(m["decision_mix"]) == {"accept", "review", "reject"}
    assert sum(m["decision_mix"].values()) == pytest.approx(1.0)
    assert result.report["rows"]["fit"] + result.report["rows"]["calibration"] == 6400


def test_thresholds_ordered_and_in_unit_interval(result: TrainResult) -> None:
    t = result.bundle.thresholds
    assert 0.0 <= t.review < t.reject <= 1.0
    with pytest.raises(ModelError):
        Thresholds(review=0.5, reject=0.4)


def test_choose_thresholds_respects_capacity_and_precision() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(20000) ** 3
    y = (rng.random(20000) < p).astype(int)
    t = choose_thresholds(y, p, review_capacity=0.05, min_reject_precision=0.95)
    assert abs(np.mean(p >= t.review) - 0.05) <= 0.01
    assert t.reject < 1.0
    rejected = p >= t.reject
    assert rejected.sum() >= 10 and y[rejected].mean() >= 0.95
    # nothing reaches the precision: never auto-reject
    t2 = choose_thresholds(np.zeros(1000, int) | (rng.random(1000) < 0.5), rng.random(1000))
    assert t2.reject == 1.0
    # more than the capacity is that precise: all of it is rejected, nothing left to review
    t3 = choose_thresholds(y, p, review_capacity=0.01, min_reject_precision=0.95)
    assert np.mean(p >= t3.reject) > 0.01 and t3.review == pytest.approx(t3.reject)
    # a precision every order reaches (at or below the fraud share) would reject them all
    for low in (0.0, float(y.mean())):
        with pytest.raises(ModelError, match="met by rejecting every order"):
            choose_thresholds(y, p, min_reject_precision=low)


def test_a_random_split_of_a_handful_of_rows_holds_both_sides() -> None:
    y = np.array([1, 1, 0, 0, 0])
    rest, held = split_rows(5, y, 0.2, None, seed=0)  # too few to stratify: split plainly
    assert held.size == 1 and sorted([*rest, *held]) == [0, 1, 2, 3, 4]


def test_rule_flagged_rows_take_their_share_of_the_capacity_first() -> None:
    rng = np.random.default_rng(5)
    p = rng.random(20000) ** 3
    y = (rng.random(20000) < p).astype(int)
    alone = choose_thresholds(y, p, review_capacity=0.05, min_reject_precision=0.99)
    forced = rng.random(20000) < 0.02  # the rules flag 2% whatever the model says
    shared = choose_thresholds(y, p, review_capacity=0.05, min_reject_precision=0.99,
                               rule_flagged=forced)
    assert shared.review > alone.review  # the model gets fewer places
    assert abs(np.mean(forced | (p >= shared.review)) - 0.05) <= 0.002
    assert shared.reject == alone.reject  # rejects depend on precision, not on the queue
    # rules that fill the queue leave the model only its rejects
    full = choose_thresholds(y, p, review_capacity=0.05, min_reject_precision=0.99,
                             rule_flagged=rng.random(20000) < 0.06)
    assert full.reject < 1.0 and full.review == pytest.approx(full.reject)
    with pytest.raises(ModelError):
        choose_thresholds(y, p, rule_flagged=forced[:10])


def test_a_feature_never_known_in_training_does_not_stop_it(data: tuple, tmp_path) -> None:
    X, y = data
    X = X.copy()
    X[:, 3] = np.nan  # say, no GeoIP database: that feature is never known
    r = train_model(X, y, NAMES, event_times=np.arange(len(y)), version="nan", data_sha256="0" * 64)
    assert r.report["features_always_missing"] == [NAMES[3]]
    from fraudscreen.training.card import write_bundle_with_card

    write_bundle_with_card(r, tmp_path, data_path=tmp_path / "orders.jsonl")
    assert f"Never known in the training rows (no split uses them): `{NAMES[3]}`" in (
        tmp_path / "MODEL_CARD.md").read_text()
    assert r.bundle.predict_proba(X[:5]).shape == (5,)
    assert r.report["test_metrics"]["roc_auc"] > 0.6


def test_calibrated_thresholds_hit_capacity_on_calibration_rows(result: TrainResult) -> None:
    cal = result.report["calibration_metrics"]
    assert abs(cal["flagged_share"] - 0.05) <= 0.01
    if result.bundle.thresholds.reject < 1.0:
        assert cal["reject_precision"] >= 0.95


def test_compiled_forest_matches_sklearn(result: TrainResult, data: tuple) -> None:
    X, _ = data
    bundle = result.bundle
    raw = np.array([bundle.raw_score(row) for row in X[:300]])
    np.testing.assert_allclose(raw, bundle.estimator.decision_function(X[:300]), atol=1e-9, rtol=0)


def test_predict_one_equals_predict_proba_row(result: TrainResult, data: tuple) -> None:
    X, _ = data
    batch = result.bundle.predict_proba(X[:500])
    assert batch.shape == (500,) and np.all((batch >= 0) & (batch <= PROBABILITY_CAP))
    assert [result.bundle.predict_one(row) for row in X[:500]] == batch.tolist()


def test_explain_names_the_driving_feature(result: TrainResult) -> None:
    x = np.zeros(len(NAMES))
    x[0] = 3.0  # far above the median of the fraud-driving feature
    reasons = result.bundle.explain(x)
    assert reasons and reasons[0][0] == "ip_distance"
    assert all(v > 0 for _, v in reasons) and len(reasons) <= 3
    assert result.bundle.explain(np.array(result.bundle.signals["baseline"])) == []


def test_explain_equals_brute_force_what_if(result: TrainResult, data: tuple) -> None:
    X, _ = data
    b = result.bundle
    base = np.array(b.signals["baseline"])
    for row in X[:20]:
        moved = np.tile(row, (len(NAMES), 1))
        moved[np.arange(len(NAMES)), np.arange(len(NAMES))] = base
        brute = b.raw_score(row) - np.array([b.raw_score(m) for m in moved])
        pushes = [(n, v) for n, v in zip(NAMES, brute, strict=True) if v > 1e-12]
        expected = sorted(pushes, key=lambda t: -t[1])
        got = b.explain(row, top=len(NAMES))
        assert [n for n, _ in got] == [n for n, _ in expected]
        assert [v for _, v in got] == pytest.approx([v for _, v in expected], abs=1e-6)


def test_save_load_round_trip(result: TrainResult, data: tuple, tmp_path: Path) -> None:
    X, _ = data
    path = tmp_path / "models" / "bundle.joblib"
    result.bundle.save(path)
    loaded = ModelBundle.load(path)
    assert loaded.version == "test-1" and loaded.feature_names == NAMES
    assert loaded.thresholds == result.bundle.thresholds
    assert loaded.metrics == result.bundle.metrics
    np.testing.assert_array_equal(loaded.predict_proba(X), result.bundle.predict_proba(X))
    loaded.ensure_features(list(NAMES))
    with pytest.raises(ModelError):
        loaded.ensure_features(list(reversed(NAMES)))


def test_load_missing_corrupt_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        ModelBundle.load(tmp_path / "nope.joblib")
    corrupt = tmp_path / "corrupt.joblib"
    corrupt.write_bytes(b"\x80\x04not a pickle at all")
    with pytest.raises(ModelError):
        ModelBundle.load(corrupt)
    foreign = tmp_path / "foreign.joblib"
    joblib.dump({"some": "dict"}, foreign)
    with pytest.raises(ModelError):
        ModelBundle.load(foreign)


def test_a_folder_holding_the_bundle_file_loads_like_the_file(result: TrainResult, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "current"
    result.bundle.save(folder / BUNDLE_FILE)
    assert ModelBundle.load(folder).version == "test-1"
    with pytest.raises(ModelError, match="not found"):
        ModelBundle.load(tmp_path / "models")  # a folder without model.joblib


def _knots(n: int) -> tuple[list[float], list[float]]:
    return [float(i) for i in range(n)], [i / (n - 1) for i in range(n)]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda raw, prob: (raw, [math.nan] * len(prob)), "probability knots"),
        (lambda raw, prob: (raw, prob[:-1] + [math.inf]), "probability knots"),
        (lambda raw, prob: (raw, prob[:-1] + [1.5]), "probability knots"),
        (lambda raw, prob: (raw, [-0.1] + prob[1:]), "probability knots"),
        (lambda raw, prob: (raw, prob[:2] + [0.9] + prob[3:]), "must not decrease"),
        (lambda raw, prob: ([math.nan] + raw[1:], prob), "raw knots"),
        (lambda raw, prob: (raw[:-1] + [math.inf], prob), "raw knots"),
        (lambda raw, prob: (list(reversed(raw)), prob), "raw knots"),
        (lambda raw, prob: ([raw[0]] + raw[:-1], prob), "raw knots"),  # a repeated knot
    ],
)
def test_a_bundle_with_unusable_calibration_knots_is_refused(
    result: TrainResult, tmp_path: Path, change, fragment: str
) -> None:
    path = tmp_path / "model.joblib"
    result.bundle.save(path)
    payload = joblib.load(path)
    raw, prob = change(*_knots(5))
    payload["calibration"] = {"raw_knots": raw, "prob_knots": prob}
    joblib.dump(payload, path)
    with pytest.raises(ModelError, match=fragment):
        ModelBundle.load(path)
    raw, prob = _knots(5)
    payload["calibration"] = {"raw_knots": raw, "prob_knots": prob}
    joblib.dump(payload, path)
    assert 0.0 <= ModelBundle.load(path).predict_one(np.zeros(len(NAMES))) <= PROBABILITY_CAP


def test_evaluate_decision_mix() -> None:
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.6, 0.7, 0.95])
    m = evaluate(y, p, Thresholds(review=0.5, reject=0.9))
    assert m["decision_mix"] == {"accept": 0.4, "review": 0.4, "reject": 0.2}
    assert m["recall_at_review"] == 1.0 and m["precision_at_review"] == pytest.approx(2 / 3)
    assert m["reject_precision"] == 1.0 and m["reject_recall"] == 0.5
    assert m["roc_auc"] == 1.0


def test_random_split_without_times() -> None:
    X, y = _data(3000, seed=1)
    r = train_model(X, y, NAMES, version="r", data_sha256="0" * 64, seed=1)
    assert r.bundle.params["split"] == "stratified-random"
    assert r.bundle.metrics["roc_auc"] > 0.85


@pytest.mark.parametrize(("p", "score"), [(0.0, 0.01), (0.1234, 12.34), (1.0, 99.0), (0.995, 99.0)])
def test_risk_score(p: float, score: float) -> None:
    assert risk_score(p) == score


def test_the_bundle_keeps_the_period_of_its_fit_and_calibration_rows(result: TrainResult,
                                                                     tmp_path: Path) -> None:
    # time split of rows at 0 .. 7,999 s: the fit and calibration rows are the first 6,400
    assert result.bundle.training_period == {"from": "1970-01-01T00:00:00Z", "to": "1970-01-01T01:46:39Z"}
    assert result.bundle.training_period_seconds() == (0.0, 6399.0)
    path = tmp_path / "model.joblib"
    result.bundle.save(path)
    assert ModelBundle.load(path).training_period == result.bundle.training_period
    payload = joblib.load(path)
    del payload["training_period"]  # a bundle written before the period was kept
    joblib.dump(payload, path)
    older = ModelBundle.load(path)
    assert older.training_period is None and older.training_period_seconds() is None
    for bad in ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
                {"from": "yesterday", "to": "2026-01-01T00:00:00Z"}, {"to": "2026-01-01T00:00:00Z"},
                "2026"):
        payload["training_period"] = bad
        joblib.dump(payload, path)
        with pytest.raises(ModelError, match="training_period"):
            ModelBundle.load(path)


def test_a_random_split_keeps_the_period_of_its_train_rows_from_period_times() -> None:
    from fraudscreen.model import period_of
    from fraudscreen.training.train import split_rows

    X, y = _data(3000, seed=1)
    times = 1.7e9 + 60.0 * np.arange(3000)
    assert train_model(X, y, NAMES, version="r", data_sha256="0" * 64, seed=1).bundle.training_period is None
    r = train_model(X, y, NAMES, version="r", data_sha256="0" * 64, seed=1, period_times=times)
    rest, _held = split_rows(3000, y, 0.2, None, 1)  # the random test rows are not training rows
    assert r.bundle.training_period == period_of(times[rest])
    with pytest.raises(ModelError, match="period_times"):
        train_model(X, y, NAMES, version="r", data_sha256="0" * 64, period_times=times[:10])


def test_a_single_class_is_refused_in_the_analyst_s_terms() -> None:
    X, y = _data(500, seed=2)
    with pytest.raises(ModelError, match="hold no fraud label"):
        train_model(X, np.zeros(500, dtype=int), NAMES, version="v", data_sha256="0" * 64)
    with pytest.raises(ModelError, match="hold no legit label"):
        train_model(X, np.ones(500, dtype=int), NAMES, version="v", data_sha256="0" * 64)
    with pytest.raises(ModelError, match="coded 0"):
        train_model(X, y * 2, NAMES, version="v", data_sha256="0" * 64)


@pytest.mark.parametrize("fill", [np.nan, 3.0])
def test_rows_whose_features_never_vary_are_refused(fill: float) -> None:
    """An export whose features are all null (or all one value) trained a constant model, with
    ROC AUC 0.5, and the command ended as if all were well."""
    X, y = _data(500, seed=2)
    flat = np.full_like(X, fill)
    with pytest.raises(ModelError, match="no feature varies across the .* fit rows"):
        train_model(flat, y, NAMES, version="v", data_sha256="0" * 64)
    flat[::7, 1] = np.nan if fill == 3.0 else 1.0  # known against missing is enough to split on
    assert train_model(flat, y, NAMES, version="v", data_sha256="0" * 64).bundle is not None


def test_a_bundle_whose_version_or_thresholds_could_not_go_into_an_answer_is_refused(
        result: TrainResult, tmp_path: Path) -> None:
    """The version goes into every answer, stored for years; `train --version` checked it, a
    bundle written otherwise was loaded (and `{"review": False, "reject": True}` passed)."""
    path = tmp_path / "model.joblib"
    result.bundle.save(path)
    payload = joblib.load(path)
    for version, why in [("jane.doe@example.org", "e-mail address"), ("v\n" * 3, "one line"),
                         ("v" * 65, "at most 64"), (" ", "blank")]:
        joblib.dump({**payload, "version": version}, path)
        with pytest.raises(ModelError, match=why):
            ModelBundle.load(path)
    joblib.dump({**payload, "thresholds": {"review": False, "reject": True}}, path)
    with pytest.raises(ModelError, match="thresholds must be numbers"):
        ModelBundle.load(path)
    joblib.dump(payload, path)
    assert ModelBundle.load(path).version == result.bundle.version


def test_the_card_says_what_a_retrain_reaches_even_when_a_figure_is_undefined() -> None:
    """Test rows of one class leave ROC AUC and average precision undefined (None): the card
    shows "–" where formatting them stopped `train` with a TypeError."""
    from fraudscreen.training.card import _as_a_retrain

    undefined = {"roc_auc": None, "average_precision": None, "flagged_share": 0.05,
                 "recall_at_review": None, "reject_threshold": 1.0, "reject_precision": None,
                 "decision_mix": {"reject": 0.0}}
    card = {"metrics_held_out": undefined, "metrics_held_out_as_a_retrain": {
        **undefined, "train_frauds_not_yet_known": 3, "train_rows_not_yet_labelled": 40}}
    text = " ".join(_as_a_retrain(card))
    assert "ROC AUC – (here –)" in text and "no reject threshold" in text
