"""Fit the fraud model, calibrate it, pick thresholds and measure it on held-out rows.

Splits (``train_model``):

* **test**: the latest ``test_fraction`` of rows by event time (or a stratified random share
  when no times are given). Used only for the reported metrics.
* **calibration**: the latest ``calibration_fraction`` of the remaining rows. Fits the
  probability calibration and chooses the thresholds.
* **fit**: the rest. Fits the ``HistGradientBoostingClassifier``.

The shipped model is the one fitted on the fit part; it is *not* refitted on all rows, so the
held-out metrics in the bundle describe exactly the model that serves.

Calibration is centred isotonic regression (Oron & Flournoy, 2017): isotonic regression of the
label on the raw score, then a piecewise-linear map through the centre of each isotonic block.
It stays monotone and calibrated like plain isotonic regression but is strictly increasing
between the first and last block, so thresholds can hit a review capacity instead of jumping
over a plateau that holds several percent of the orders.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from fraudscreen.errors import ModelError
from fraudscreen.model import Calibration, ModelBundle, Thresholds, period_of

MIN_REJECT_SUPPORT = 10
"""A reject threshold must put at least this many calibration rows at or above it."""

DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_iter": 300,
    "max_depth": 6,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "class_weight": "balanced",
    "early_stopping": True,
    "validation_fraction": 0.15,
    "n_iter_no_change": 20,
}
"""HistGradientBoostingClassifier parameters; ``max_depth`` bounds the compiled predictor's cost."""


@dataclass(frozen=True)
class TrainResult:
    """A trained bundle and a JSON-ready training report (split sizes, metrics, thresholds)."""

    bundle: ModelBundle
    report: dict[str, Any]
    fit_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Indices (into X) of the rows the trees were fitted on."""
    calibration_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Indices of the rows that calibrated the probabilities and chose the thresholds."""
    test_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Indices of the held-out rows every reported metric is computed on."""


def choose_thresholds(
    y_true: np.ndarray,
    p: np.ndarray,
    *,
    review_capacity: float = 0.05,
    min_reject_precision: float = 0.95,
    min_support: int = MIN_REJECT_SUPPORT,
    rule_flagged: np.ndarray | None = None,
) -> Thresholds:
    """Pick review and reject thresholds on calibrated probabilities.

    Reject: the lowest value at or above which at least ``min_support`` rows have a fraud
    share >= ``min_reject_precision``; if no value qualifies, 1.0, which never fires because
    probabilities are capped below 1. Rows that precise are rejected even when the queue
    would have room for them: nobody needs to look at them.

    Review: the value at which the share of flagged rows (review or reject) is closest to
    ``review_capacity`` (ties go to the smaller share): the queue may be a little over it or
    under it on these rows, and is on others as far as their scores differ. The
    queue is the service's, not the model's: rows in ``rule_flagged`` (those the rules send to
    review or reject whatever the model says) take their places first, and the model fills the
    rest. When the rules alone fill the capacity, the model flags only what it rejects. The
    review threshold never exceeds the reject threshold.
    """
    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape or y.size == 0:
        raise ModelError("choose_thresholds needs equally long, non-empty y_true and p")
    if not 0.0 < review_capacity < 1.0:
        raise ModelError("review_capacity must be in (0, 1)")
    forced = np.zeros(y.size, dtype=bool) if rule_flagged is None else np.asarray(rule_flagged, dtype=bool).ravel()
    if forced.shape != y.shape:
        raise ModelError("rule_flagged must have one value per row")
    values, counts, frauds = _runs(p, y)
    free_values, free_counts, _ = _runs(p[~forced], y[~forced])
    # Candidate review thresholds, descending; +inf = the model adds nothing to the rules' rows.
    candidates = np.concatenate(([np.inf], free_values))
    shares = (int(forced.sum()) + np.concatenate(([0], free_counts))) / y.size
    gap = np.abs(shares - review_capacity)
    review = float(candidates[np.flatnonzero(gap == gap.min())[0]])
    precision = frauds / counts
    ok = (counts >= min_support) & (precision >= min_reject_precision)
    if ok.size and ok[-1]:  # the lowest threshold: every row rejected
        raise ModelError(f"a minimum reject precision of {min_reject_precision:g} is met by rejecting "
                         f"every order (the threshold rows' fraud share is {precision[-1]:.3f}); "
                         "choose a higher minimum reject precision")
    reject = float(values[np.flatnonzero(ok)[-1]]) if ok.any() else 1.0
    return Thresholds(review=min(review, math.nextafter(reject, 0.0)), reject=reject)


def _any_feature_varies(X: np.ndarray) -> bool:
    """True when some column holds two values, counting missing (NaN) as one: the trees split
    on missing against known as well."""
    missing = np.isnan(X)
    low, high = np.nanmin(np.where(missing, np.inf, X), axis=0), np.nanmax(np.where(missing, -np.inf, X), axis=0)
    mixed = missing.any(axis=0) & ~missing.all(axis=0)
    return bool((mixed | (low < high)).any())


def _runs(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct values of ``p`` descending, rows at or above each and the frauds among them."""
    if p.size == 0:
        return np.empty(0), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last_of_run = np.flatnonzero(np.append(ps[1:] != ps[:-1], True))  # end index of each value
    return ps[last_of_run], last_of_run + 1, np.cumsum(ys)[last_of_run]


def evaluate(y_true: np.ndarray, p: np.ndarray, thresholds: Thresholds) -> dict[str, Any]:
    """Quality of probabilities ``p`` against labels, and the decision mix under ``thresholds``."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    n, n_fraud = int(y.size), int(y.sum())
    both = 0 < n_fraud < n
    flagged, rejected = p >= thresholds.review, p >= thresholds.reject
    queued = flagged & ~rejected

    def _ratio(num: float, den: float) -> float | None:
        return float(num / den) if den else None

    return {
        "rows": n,
        "frauds": n_fraud,
        "fraud_rate": _ratio(n_fraud, n),
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "average_precision": float(average_precision_score(y, p)) if both else None,
        "brier": float(brier_score_loss(y, p)) if n else None,
        "review_threshold": thresholds.review,
        "reject_threshold": thresholds.reject,
        "flagged_share": _ratio(int(flagged.sum()), n),
        "recall_at_review": _ratio(int((flagged & (y == 1)).sum()), n_fraud),
        "precision_at_review": _ratio(int((flagged & (y == 1)).sum()), int(flagged.sum())),
        "reject_recall": _ratio(int((rejected & (y == 1)).sum()), n_fraud),
        "reject_precision": _ratio(int((rejected & (y == 1)).sum()), int(rejected.sum())),
        "decision_mix": {
            "accept": _ratio(int((~flagged).sum()), n),
            "review": _ratio(int(queued.sum()), n),
            "reject": _ratio(int(rejected.sum()), n),
        },
    }


def fit_calibration(raw: np.ndarray, y: np.ndarray) -> Calibration:
    """Centred isotonic map from raw scores to probabilities (see the module docstring)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    fitted = iso.fit(raw, y).predict(raw)
    levels, block = np.unique(fitted, return_inverse=True)
    centres = np.bincount(block, weights=raw) / np.bincount(block)
    return Calibration(tuple(float(c) for c in centres), tuple(float(v) for v in levels))


def split_rows(n: int, y: np.ndarray, fraction: float, times: np.ndarray | None,
               seed: int, *, what: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``n`` rows as (earlier or rest, later or held): the latest ``fraction`` by
    ``times`` when given, else a stratified random ``fraction``; ModelError (naming ``what``,
    such as "the train rows into fit and calibration rows") when too few rows or distinct times.

    Rows of one time stay on one side, so the held rows are strictly later: the cut moves to the
    nearest change of time, later or earlier, whichever holds back a share nearer ``fraction``
    (with three days of date-only times and 20% asked, the last day: 33%)."""
    n_held = max(1, round(n * fraction))
    split = f"split {what}" if what else "split"
    if n_held >= n:
        raise ModelError(f"too few rows to {split}" + (f" ({n})" if what else ""))
    if times is not None:
        order = np.argsort(times, kind="stable")
        sorted_times = times[order]
        cut = n - n_held
        later = int(np.searchsorted(sorted_times, sorted_times[cut], side="right"))
        earlier = int(np.searchsorted(sorted_times, sorted_times[cut], side="left"))
        cuts = [c for c in (later, earlier) if 0 < c < n]  # later first: it wins a tie
        if not cuts:
            raise ModelError(f"too few distinct event times to {split} by time "
                             f"({np.unique(sorted_times).size} among {n} rows)")
        cut = min(cuts, key=lambda c: abs((n - c) - n_held))
        return np.sort(order[:cut]), np.sort(order[cut:])
    from sklearn.model_selection import train_test_split

    classes = np.bincount(y, minlength=2)
    # stratified when each side can hold both labels (scikit-learn refuses it otherwise)
    strat = y if classes.min() >= 2 and min(n_held, n - n_held) >= classes.size else None
    try:
        rest, held = train_test_split(np.arange(n), test_size=n_held, random_state=seed, stratify=strat)
    except ValueError as exc:  # pragma: no cover - the checks above are scikit-learn's
        raise ModelError(f"cannot split {n} rows at random: {exc}") from None
    return np.sort(rest), np.sort(held)


def split_after_warm_up(
    y: np.ndarray, fraction: float, times: np.ndarray | None, seed: int, *,
    stamps: np.ndarray | None = None, warm_up_days: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`split_rows` of every row, then without the rows of the first ``warm_up_days``
    (by ``stamps``, each row's event time in seconds; default ``times``): a replay's warm-up,
    whose profiles lack the history from before the file. The test rows of a time split are
    the same with or without a warm-up; ModelError when the warm-up reaches into them, or
    leaves no train or no test row."""
    y = np.asarray(y).astype(np.int64).ravel()
    train_idx, test_idx = split_rows(y.size, y, fraction, times, seed)
    if not warm_up_days:
        return train_idx, test_idx
    stamps = times if stamps is None else np.asarray(stamps, dtype=np.float64).ravel()
    if stamps is None or stamps.size != y.size:
        raise ModelError("a warm-up needs each row's event time")
    warm = stamps < stamps.min() + warm_up_days * 86_400.0
    days = f"{warm_up_days:g}-day"
    if times is not None and warm[test_idx].any():
        raise ModelError(f"the {days} warm-up reaches into the test rows; use fewer days or a "
                         "smaller test fraction")
    train_idx, test_idx = train_idx[~warm[train_idx]], test_idx[~warm[test_idx]]
    if not train_idx.size or not test_idx.size:
        raise ModelError(f"the {days} warm-up leaves no {'train' if not train_idx.size else 'test'} rows "
                         f"({int(warm.sum())} of the {y.size} rows are in it)")
    return train_idx, test_idx


def _feature_signals(X: np.ndarray) -> dict[str, Any]:
    """Training medians (explanation baseline) and 1st/99th percentiles (compiler probes)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        med = np.nanmedian(X, axis=0)
        lo, hi = np.nanpercentile(X, 1, axis=0), np.nanpercentile(X, 99, axis=0)
    clean = [np.where(np.isnan(a), 0.0, a) for a in (med, lo, hi)]
    return {"method": "what-if-to-median", "baseline": clean[0].tolist(),
            "p01": clean[1].tolist(), "p99": clean[2].tolist()}


def train_model(
    X: np.ndarray,
    y: np.ndarray,
    feature_names: Sequence[str],
    *,
    event_times: np.ndarray | None = None,
    version: str,
    data_sha256: str,
    seed: int = 0,
    review_capacity: float = 0.05,
    min_reject_precision: float = 0.95,
    test_fraction: float = 0.2,
    calibration_fraction: float = 0.25,
    params: Mapping[str, Any] | None = None,
    rule_flagged: np.ndarray | None = None,
    period_times: np.ndarray | None = None,
    rules_version: str | None = None,
    warm_up_days: float = 0.0,
    unlabelled: np.ndarray | None = None,
) -> TrainResult:
    """Train, calibrate and threshold a model; metrics on the test rows only (module docstring).

    ``rule_flagged`` marks the rows the rules alone send to review or reject: they take their
    share of the review capacity before the model's review threshold is chosen (see
    :func:`choose_thresholds`). Without it the model gets the whole capacity.
    ``period_times``: each row's event time (seconds since the epoch), for a split without
    ``event_times``; the bundle keeps the first and last of its fit and calibration rows
    (``training_period``). Default: ``event_times`` (no period without either).
    ``rules_version``: the rules that flagged ``rule_flagged``, kept in ``params``: the
    thresholds were chosen with them. ``warm_up_days``: the rows of the first days (by
    ``period_times``) neither fit, calibrate nor test (:func:`split_after_warm_up`).
    ``unlabelled`` marks rows whose label was not known yet (a retrain as of a past day): they
    count in the split, so the test rows stay the same, but neither fit nor calibrate.
    """
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.int64).ravel()
    names = tuple(feature_names)
    if X.ndim != 2 or X.shape[0] != y.size or X.shape[1] != len(names):
        raise ModelError("X must be rows x len(feature_names) and match y")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ModelError("y must be coded 0 (legit) and 1 (fraud)")
    if y.sum() == 0 or y.sum() == y.size:
        missing = "fraud" if y.sum() == 0 else "legit"
        raise ModelError(f"the {y.size} rows hold no {missing} label; training needs at least one "
                         "fraud and one legit row")
    times = None if event_times is None else np.asarray(event_times)
    stamps = times if period_times is None else np.asarray(period_times, dtype=np.float64).ravel()
    if stamps is not None and stamps.size != y.size:
        raise ModelError("event_times and period_times must have one value per row of X")
    forced = np.zeros(y.size, dtype=bool) if rule_flagged is None else np.asarray(rule_flagged, dtype=bool).ravel()
    if forced.size != y.size:
        raise ModelError("rule_flagged must have one value per row of X")
    train_idx, test_idx = split_after_warm_up(y, test_fraction, times, seed, stamps=stamps,
                                              warm_up_days=warm_up_days)
    if unlabelled is not None:
        pending = np.asarray(unlabelled, dtype=bool).ravel()
        if pending.size != y.size:
            raise ModelError("unlabelled must have one value per row of X")
        train_idx = train_idx[~pending[train_idx]]
    sub_times = None if times is None else times[train_idx]
    fit_rel, cal_rel = split_rows(train_idx.size, y[train_idx], calibration_fraction, sub_times, seed,
                                  what="the train rows into fit and calibration rows")
    fit_idx, cal_idx = train_idx[fit_rel], train_idx[cal_rel]
    for name, rows in (("fit", fit_idx), ("calibration", cal_idx)):
        if np.unique(y[rows]).size < 2:  # a constant model would be written with AUC 0.5
            missing = "fraud" if not y[rows].any() else "legit"
            raise ModelError(f"the {rows.size} {name} rows (a slice of the train rows) hold only one "
                             f"class, no {missing} label; use more data or another split")

    hp = {**DEFAULT_PARAMS, **dict(params or {}), "random_state": seed}
    fit_frauds = int(y[fit_idx].sum())
    if hp.get("early_stopping") and min(fit_frauds, fit_idx.size - fit_frauds) < 2:
        raise ModelError(f"the {fit_idx.size} fit rows hold {fit_frauds} fraud label(s): early "
                         "stopping sets a stratified validation slice aside, which needs at least "
                         "2 rows of each label; use more data")
    X_fit = X[fit_idx]
    if not _any_feature_varies(X_fit):  # every order would get the same score
        raise ModelError(f"no feature varies across the {fit_idx.size} fit rows (each is missing or "
                         "has one value in all of them), so the model would give every order the "
                         "same score; check that the file holds the orders' features")
    always_missing = np.isnan(X_fit).all(axis=0)
    if always_missing.any():  # e.g. no GeoIP database: scikit-learn cannot bin an all-NaN column
        X_fit[:, always_missing] = 0.0  # a constant: never split on, so NaN at serving is harmless
    try:
        estimator = HistGradientBoostingClassifier(**hp).fit(X_fit, y[fit_idx])
    except ValueError as exc:  # scikit-learn's own checks on too little data
        raise ModelError(f"the model could not be fitted on the {fit_idx.size} fit rows "
                         f"({fit_frauds} fraud): {exc}") from None
    calibration = fit_calibration(estimator.decision_function(X[cal_idx]), y[cal_idx])
    signals = _feature_signals(X[fit_idx])
    provisional = Thresholds(review=0.0, reject=1.0)
    bundle = ModelBundle(
        version=version, feature_names=names, estimator=estimator, thresholds=provisional,
        calibration=calibration, trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        training_data_sha256=data_sha256, sklearn_version=sklearn.__version__, signals=signals,
        training_period=None if stamps is None else period_of(stamps[np.concatenate([fit_idx, cal_idx])]),
        params={**hp, "n_trees": int(estimator.n_iter_),
                "test_fraction": test_fraction, "calibration_fraction": calibration_fraction,
                "split": "time" if times is not None else "stratified-random",
                "review_capacity": review_capacity, "min_reject_precision": min_reject_precision,
                "rules_flagged_share": float(forced[cal_idx].mean()),
                **({"rules_version": rules_version} if rules_version is not None else {}),
                **({"warm_up_days": warm_up_days} if warm_up_days else {})},
    )
    p_cal = bundle.predict_proba(X[cal_idx])
    bundle.thresholds = choose_thresholds(y[cal_idx], p_cal, review_capacity=review_capacity,
                                          min_reject_precision=min_reject_precision,
                                          rule_flagged=forced[cal_idx])
    bundle.metrics = evaluate(y[test_idx], bundle.predict_proba(X[test_idx]), bundle.thresholds)
    report = {
        "version": version,
        "rows": {"fit": int(fit_idx.size), "calibration": int(cal_idx.size),
                 "test": int(test_idx.size)},
        "thresholds": {"review": bundle.thresholds.review, "reject": bundle.thresholds.reject},
        "n_trees": int(estimator.n_iter_),
        "features_always_missing": [n for n, m in zip(names, always_missing, strict=True) if m],
        "rules_flagged_share": float(forced[cal_idx].mean()),
        "calibration_metrics": evaluate(y[cal_idx], p_cal, bundle.thresholds),
        "test_metrics": bundle.metrics,
    }
    return TrainResult(bundle=bundle, report=report, fit_rows=fit_idx, calibration_rows=cal_idx,
                       test_rows=test_idx)
