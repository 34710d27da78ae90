"""Back-test: replay labelled orders, train on the train rows, measure three systems on the test rows.

The systems (:mod:`fraudscreen.training.systems`: the rules alone, the model alone, and both
as the service decides) are all measured on the same held-out test rows with the thresholds
chosen on the train rows; another bundle can be measured beside them
(:mod:`fraudscreen.training.compare`).

The JSON keys are a stable interface, documented in ``docs/backtest.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from fraudscreen.config import Settings
from fraudscreen.features import FEATURE_INDEX, FEATURE_NAMES
from fraudscreen.logs import mask
from fraudscreen.model import ModelBundle, period_of
from fraudscreen.rules import RuleHit, RuleSet
from fraudscreen.training.capacity import (
    DECISION_NUMBER,
    DEFAULT_CAPACITIES,
    capacity_sweep,
    ratio,
)
from fraudscreen.training.compare import compare_section, feature_columns
from fraudscreen.training.drift import BINS as DRIFT_BINS
from fraudscreen.training.drift import drift_table, homogeneity_p_value, population_stability
from fraudscreen.training.importance import permutation_importance_table
from fraudscreen.training.intervals import (
    CONFIDENCE,
    FIGURES,
    bootstrap,
    interval,
    resamples_for,
)
from fraudscreen.training.money import money_table
from fraudscreen.training.pipeline import (
    Labels,
    Split,
    file_sha256,
    load_labelled,
    skipped_why_by_count,
)
from fraudscreen.training.prepare import DEFAULT_LABEL_DELAY
from fraudscreen.training.reliability import reliability
from fraudscreen.training.retrain import TrainedReplay, flagged_by_rules, train_on_replay
from fraudscreen.training.segments import SegmentBy, segment_table, wilson_interval
from fraudscreen.training.systems import Decided, bundle_systems, rules_decision

FORMAT = "fraudscreen-backtest"
FORMAT_VERSION = 1
def rule_table(
    y: np.ndarray,
    hits: Sequence[Sequence[RuleHit]],
    rules: RuleSet,
    model_flagged: np.ndarray | None = None,
    amounts: np.ndarray | None = None,
    failed: Sequence[Sequence[RuleHit]] | None = None,
) -> list[dict[str, Any]]:
    """Per enabled rule (file order), then per rule the rows name that ``rules`` lacks (in the
    order first named): hits on the rows, their share, frauds among them, precision (with its
    95% Wilson interval: a rule of a dozen hits has a wide one), recall.

    With ``failed`` (the rules that failed at run time on each row), also on how many rows
    each failed (``errors``; None without).

    With ``model_flagged`` (rows the model alone reviews or rejects), also what the rule adds to
    the model: its hits on rows the model would accept, and the frauds and precision among them.
    With ``amounts`` (each row's USD amount, NaN when unknown), the fraud and the good orders'
    amounts among its hits: what the rule would stop, in money.
    """
    n, n_fraud = int(y.size), int(y.sum())
    listed = [(rule.id, rule.code, rule.action) for rule in rules.rules if rule.enabled]
    known = {rule_id for rule_id, _, _ in listed}
    for row in (*hits, *(failed or ())):  # rules the rows name that ``rules`` lacks: those of
        for h in row:                     # a saved replay's own rules file, or of the past
            if h.rule_id not in known:
                known.add(h.rule_id)
                listed.append((h.rule_id, h.code, h.action))
    table = []
    for rule_id, code, action in listed:
        mask = np.fromiter((any(h.rule_id == rule_id for h in hs) for hs in hits), bool, count=n)
        caught = int(y[mask].sum())
        entry: dict[str, Any] = {
            "id": rule_id, "code": code, "action": action,
            "hits": int(mask.sum()), "hit_share": ratio(int(mask.sum()), n),
            "frauds": caught, "precision": ratio(caught, int(mask.sum())),
            "precision_interval": wilson_interval(caught, int(mask.sum())),
            "recall": ratio(caught, n_fraud),
            "errors": (sum(any(f.rule_id == rule_id for f in fs) for fs in failed)
                       if failed is not None else None),
        }
        if amounts is not None:  # the amounts of the money section, on the rule's hits
            money = money_table(amounts[mask], y[mask], {})
            entry.update(fraud_usd=money["fraud_usd"], legit_usd=money["legit_usd"])
        if model_flagged is not None:
            beyond = mask & ~model_flagged
            added = int(y[beyond].sum())
            entry.update(beyond_model_hits=int(beyond.sum()), beyond_model_frauds=added,
                         beyond_model_precision=ratio(added, int(beyond.sum())),
                         beyond_model_precision_interval=wilson_interval(added, int(beyond.sum())))
        table.append(entry)
    return table


def _add_intervals(
    report: dict[str, Any], y: np.ndarray, ours: Mapping[str, Decided],
    theirs: Mapping[str, Decided] | None, *, capacity: float, seed: int, accounts: np.ndarray | None,
) -> None:
    """Bootstrap intervals for every system's figures and, with a compared bundle, for the
    paired differences of its ``model`` and ``combined`` figures from ours. ``accounts``: the
    test rows' accounts (:attr:`ReplayResult.accounts`), resampled instead of the rows when
    known (None: rows read as features)."""
    resamples = resamples_for(int(y.size))
    systems = {name: d.rows(y) for name, d in ours.items()}
    if theirs is not None:
        systems |= {f"compare.{name}": d.rows(y) for name, d in theirs.items()}
    clusters = np.unique(accounts, return_inverse=True)[1] if accounts is not None and y.size else None
    samples = bootstrap(systems, capacity=capacity, seed=seed, resamples=resamples, clusters=clusters)
    report["intervals"] = {
        "method": "percentile bootstrap of the test rows" + (", drawn by account" if clusters is not None else ""),
        "resampled": "accounts" if clusters is not None else "rows",
        "accounts": int(clusters.max()) + 1 if clusters is not None else None,
        "resamples": resamples, "confidence": CONFIDENCE, "seed": seed}
    for name in ours:
        report["systems"][name]["intervals"] = {f: interval(samples[name][f]) for f in FIGURES}
    if theirs is None:
        return
    compared = report["compare"]
    difference: dict[str, Any] = {}
    for name in theirs:
        compared["systems"][name]["intervals"] = {f: interval(samples[f"compare.{name}"][f]) for f in FIGURES}
        new, old = report["systems"][name], compared["systems"][name]
        difference[name] = {
            f: {"value": None if new[f] is None or old[f] is None else new[f] - old[f],
                "interval": interval(samples[name][f] - samples[f"compare.{name}"][f])}
            for f in FIGURES
        }
    compared["difference"] = difference


def drift_section(trained: TrainedReplay, test_probability: np.ndarray,
                  calibration_probability: np.ndarray) -> dict[str, Any]:
    """How far each feature, and the model's probability (``test_probability`` on the test
    rows), moved from the train rows to the test rows (:mod:`~fraudscreen.training.drift`);
    the probability's train side is the calibration rows (``calibration_probability``), on which
    the model was not fitted."""
    replayed, idx, result = trained.replayed, trained.test_idx, trained.result
    train = np.concatenate([result.fit_rows, result.calibration_rows])
    return {
        "method": f"population stability index, test rows against train rows, {DRIFT_BINS} bins "
                  "at the train rows' quantiles; p-value of the chi-squared test of homogeneity "
                  "on the same bins",
        "probability_psi": population_stability(calibration_probability, test_probability),
        "probability_p_value": homogeneity_p_value(calibration_probability, test_probability),
        "features": drift_table(replayed.X, train, idx, FEATURE_NAMES),
    }


def _calibration_labels(trained: TrainedReplay) -> np.ndarray:
    """The labels of the calibration rows as training read them (those known at the first test
    order with ``--labels known-at-test-start``)."""
    labels = trained.replayed.y if trained.train_labels is None else trained.train_labels
    return np.asarray(labels[trained.result.calibration_rows], dtype=np.int64)


def reject_support(trained: TrainedReplay, calibration_probability: np.ndarray) -> dict[str, Any]:
    """What the reject threshold rests on: the calibration rows at or above it, the frauds among
    them and their share with its 95% Wilson interval (a threshold met by 12 rows out of 12 is
    a guess; by 300 out of 310, a measurement)."""
    at_or_above = calibration_probability >= trained.result.bundle.thresholds.reject
    rows, frauds = int(at_or_above.sum()), int(_calibration_labels(trained)[at_or_above].sum())
    return {"rows": rows, "frauds": frauds, "precision": ratio(frauds, rows),
            "precision_interval": wilson_interval(frauds, rows)}


def capacity_section(
    trained: TrainedReplay, calibration_probability: np.ndarray, test_probability: np.ndarray,
    test_hits: Sequence[Sequence[RuleHit]], amounts: np.ndarray, capacities: Sequence[float],
    min_reject_precision: float,
) -> list[dict[str, Any]]:
    """The service on the test rows at each of ``capacities``, its thresholds chosen on the
    calibration rows as training chose the model's (the same labels and rule reviews):
    :func:`~fraudscreen.training.capacity.capacity_sweep`. ``test_hits``: the test rows' rule
    hits as the service decides on them."""
    replayed, cal = trained.replayed, trained.result.calibration_rows
    every_row = replayed.deciding_hits() if replayed.rule_hits else None
    return capacity_sweep(
        capacities,
        y_calibration=_calibration_labels(trained),
        p_calibration=calibration_probability,
        rule_flagged_calibration=flagged_by_rules([every_row[i] for i in cal]) if every_row else None,
        y_test=replayed.y[trained.test_idx], p_test=test_probability, test_hits=test_hits,
        min_reject_precision=min_reject_precision, amounts_test=amounts,
    )


@dataclass(frozen=True)
class Backtest:
    """A back-test: its report, and each system's decisions on the test rows behind it."""

    report: dict[str, Any]
    """JSON-ready; keys in ``docs/backtest.md``."""
    trained: TrainedReplay
    systems: Mapping[str, Decided]
    """``rules``, ``model`` and ``combined`` on the test rows (``trained.test_idx`` order)."""
    compared: Mapping[str, Decided] | None = None
    """The compared bundle's ``model`` and ``combined`` on the same rows (``--compare``)."""


def backtest_report(
    trained: TrainedReplay,
    *,
    rules: RuleSet,
    data_path: Path | None,
    data_sha256: str | None,
    rows_read: int,
    review_capacity: float = 0.05,
    min_reject_precision: float = 0.95,
    compare: tuple[ModelBundle, Path | None] | None = None,
    capacities: Sequence[float] = DEFAULT_CAPACITIES,
) -> Backtest:
    """The back-test report (JSON-ready; keys in ``docs/backtest.md``) on the test rows only,
    with the decisions it was computed from.

    ``compare`` = (bundle, its path): also measure that bundle on the same test rows.
    ``capacities``: the other review capacities to report the service at (``capacities``, with
    ``review_capacity`` among them; :mod:`~fraudscreen.training.capacity`).
    """
    replayed, bundle, idx = trained.replayed, trained.result.bundle, trained.test_idx
    y = replayed.y[idx].astype(np.int64)
    calibration_probability = bundle.predict_proba(replayed.X[trained.result.calibration_rows])
    hits = [replayed.rule_hits[i] for i in idx]
    every_row = replayed.deciding_hits()
    deciding = [every_row[i] for i in idx]
    failed = [replayed.rule_errors[i] for i in idx] if replayed.rule_errors else None
    t = bundle.thresholds
    by_rules = np.array([DECISION_NUMBER[rules_decision(h)] for h in deciding], dtype=np.int64)
    decided = {"rules": Decided(by_rules, by_rules.astype(float), "decision"),
               **bundle_systems(bundle, replayed.X[idx], deciding)}
    systems = {name: system.metrics(y, review_capacity) for name, system in decided.items()}
    model = decided["model"].decisions
    train_rows = int(trained.result.fit_rows.size + trained.result.calibration_rows.size)
    test_period = period_of(replayed.event_times[idx]) or {}
    amounts = replayed.X[idx, FEATURE_INDEX["amount_usd"]]
    seconds = replayed.seconds
    report = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data": {
            "path": mask(str(data_path)) if data_path is not None else None,  # P5: as a log
            "sha256": data_sha256,
            "rows_read": rows_read,
            "rows_replayed": int(replayed.y.size),
            "rows_skipped": replayed.skipped,
            "rows_skipped_why": skipped_why_by_count(replayed.skipped_why),
            "rows_skipped_before_saving": replayed.skipped_before_saving,
        },
        "replay": {
            "method": replayed.method,
            "seconds": round(seconds, 3),
            "orders_per_second": round(rows_read / seconds, 1) if seconds else None,
            "label_delay_days": replayed.label_delay_days,
            "workers": replayed.workers,
        },
        "split": {
            "method": trained.split,
            "test_fraction": trained.test_fraction,
            "seed": trained.seed,
            "train_rows": train_rows,
            "test_rows": int(idx.size),
            "test_from": test_period.get("from"),
            "test_to": test_period.get("to"),
            "labels": trained.labels,
            "train_frauds_not_yet_known": trained.train_frauds_not_yet_known,
            "train_rows_not_yet_labelled": trained.train_rows_not_yet_labelled,
            "warm_up_days": trained.warm_up_days,
            "warm_up_rows": trained.warm_up_rows,
        },
        "model": {
            "version": bundle.version,
            "n_trees": trained.result.report["n_trees"],
            "fit_rows": trained.result.report["rows"]["fit"],
            "calibration_rows": trained.result.report["rows"]["calibration"],
        },
        "thresholds": {
            "review": t.review,
            "reject": t.reject,
            "review_capacity": review_capacity,
            "min_reject_precision": min_reject_precision,
            "rules_flagged_share": trained.result.report.get("rules_flagged_share"),
            "reject_support": reject_support(trained, calibration_probability),
        },
        "rules_version": replayed.rules_version,
        "test": {"rows": int(y.size), "frauds": int(y.sum()), "fraud_rate": ratio(int(y.sum()), int(y.size)),
                 "rows_with_rule_errors": sum(map(bool, failed)) if failed is not None else None},
        "systems": systems,
        "rules": rule_table(y, hits, rules, model_flagged=model >= 1, amounts=amounts, failed=failed),
    }
    ours = {name: d.decisions for name, d in decided.items()}
    report["money"] = money_table(amounts, y, ours)
    report["calibration"] = reliability(y, decided["model"].score)
    report["drift"] = drift_section(trained, decided["model"].score, calibration_probability)
    report["importance"] = permutation_importance_table(bundle, replayed.X[idx], y, seed=trained.seed)
    report["capacities"] = capacity_section(trained, calibration_probability, decided["model"].score,
                                            deciding, amounts, [*capacities, review_capacity],
                                            min_reject_precision)
    segments = [replayed.segments[i] for i in idx] if replayed.segments else []
    test_accounts = replayed.accounts[idx] if replayed.accounts.size else None  # None: an export
    segmented = any(name is not None for name in segments)
    if segmented:
        report["segment_by"] = replayed.segment_by
        report["segments"] = segment_table(y, segments, ours, test_accounts)
    theirs = None
    if compare is not None:
        compared, theirs = compare_section(compare[0], trained, path=compare[1], capacity=review_capacity,
                                           hits=deciding, data_sha256=data_sha256)
        their_decisions = {name: d.decisions for name, d in theirs.items()}
        compared["money"] = money_table(amounts, y, their_decisions)
        compared["calibration"] = reliability(y, theirs["model"].score)
        if segmented:
            compared["segments"] = segment_table(y, segments, their_decisions, test_accounts)
        report["compare"] = compared
    _add_intervals(report, y, decided, theirs, capacity=review_capacity, seed=trained.seed,
                   accounts=test_accounts)
    return Backtest(report, trained, decided, theirs)


def say_measuring(trained: TrainedReplay) -> None:
    """Say on standard error what follows the training (about a minute for a million orders)."""
    tqdm.write(f"Measuring the rules and the model on the {trained.test_idx.size:,} test rows "
               "(intervals, drift, importance, capacities) …", file=sys.stderr)


def run_backtest(
    data_path: Path,
    *,
    settings: Settings,
    split: Split = "time",
    test_fraction: float = 0.2,
    seed: int = 0,
    review_capacity: float = 0.05,
    min_reject_precision: float = 0.95,
    label_delay: timedelta = DEFAULT_LABEL_DELAY,
    progress: bool = False,
    compare_path: Path | None = None,
    labels: Labels = "all",
    segment_by: SegmentBy = "scenario",
    warm_up_days: float = 0.0,
    save_replay: Path | None = None,
    capacities: Sequence[float] = DEFAULT_CAPACITIES,
) -> Backtest:
    """Replay ``data_path`` on a fresh in-memory store, train on the train rows, report on the test rows.

    ``compare_path``: a model bundle (say, the one in production) to measure on the same rows.
    ``labels``, ``warm_up_days``: see :func:`~fraudscreen.training.retrain.train_on_replay`.
    ``segment_by``: what the test rows are broken down by
    (:data:`~fraudscreen.training.segments.SEGMENT_FIELDS`). ``save_replay``: where to save the
    replayed rows (:func:`~fraudscreen.training.pipeline.load_labelled`). ``capacities``: the
    other review capacities the report also gives the service's figures at.
    """
    compare = None
    if compare_path is not None:
        compare = (ModelBundle.load(compare_path), compare_path)
        feature_columns(compare[0])  # fail before the replay, not after
    sha = file_sha256(data_path)
    replayed, rows_read = load_labelled(data_path, settings=settings, progress=progress,
                                        label_delay=label_delay, segment_by=segment_by,
                                        save_replay=save_replay)
    if progress:
        tqdm.write(f"Training on the train rows of {replayed.y.size} {replayed.described} rows ({split} split) …",
                   file=sys.stderr)
    trained = train_on_replay(
        replayed, split=split, test_fraction=test_fraction, seed=seed,
        review_capacity=review_capacity, min_reject_precision=min_reject_precision,
        version=f"backtest-{sha[:12]}", data_sha256=sha, labels=labels, warm_up_days=warm_up_days,
    )
    if progress:
        say_measuring(trained)
    return backtest_report(
        trained, rules=RuleSet.load(settings.resolved_rules_path), data_path=data_path,
        data_sha256=sha, rows_read=rows_read,
        review_capacity=review_capacity, min_reject_precision=min_reject_precision,
        compare=compare, capacities=capacities,
    )
