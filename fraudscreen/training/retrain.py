"""Training on a replay: the train/test split, labels known at the test start, the model
fitted on the train rows only, and ``train`` from a file (bundle, model card, back-test).

The replay itself (point-in-time features of every row) is :mod:`.pipeline`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from fraudscreen.config import Settings
from fraudscreen.decision import rule_decision
from fraudscreen.errors import ModelError
from fraudscreen.features import FEATURE_NAMES
from fraudscreen.rules import RuleHit, RuleSet
from fraudscreen.training.pipeline import (
    Labels,
    ReplayResult,
    Split,
    file_sha256,
    load_labelled,
    rows_summary,
)
from fraudscreen.training.prepare import DEFAULT_LABEL_DELAY
from fraudscreen.training.segments import SegmentBy
from fraudscreen.training.train import TrainResult, split_after_warm_up, train_model


@dataclass(frozen=True)
class TrainedReplay:
    """A replay, the model trained on its train rows, and which rows were held out for testing."""

    replayed: ReplayResult
    result: TrainResult
    test_idx: np.ndarray
    """Indices (into the replayed rows) of the test rows: never fitted, calibrated or thresholded on."""
    split: Split
    test_fraction: float
    seed: int
    labels: Labels = "all"
    """``all``, or ``known_at_test_start``: train frauds labelled only later were trained as legit."""
    train_frauds_not_yet_known: int | None = None
    """Train rows whose fraud label became known after the first test order (time split)."""
    warm_up_days: float = 0.0
    """The rows of the first days that only built profiles: neither train nor test rows."""
    train_rows_not_yet_labelled: int | None = None
    """Train rows without a label at the first test order (time split): younger than the label
    delay and no fraud label known. Left out with ``known_at_test_start``."""
    train_labels: np.ndarray | None = None
    """The labels the model was fitted and calibrated with, one per replayed row: those known at
    the first test order with ``known_at_test_start``; None when they are ``replayed.y``."""

    @property
    def train_rows_left_out(self) -> int:
        """Train rows neither fitted nor calibrated on: those not yet labelled, with
        ``known_at_test_start``."""
        unlabelled = self.train_rows_not_yet_labelled or 0
        return unlabelled if self.labels == "known_at_test_start" else 0

    @property
    def warm_up_rows(self) -> int:
        """Replayed rows that are neither train nor test rows (the warm-up's)."""
        used = self.result.fit_rows.size + self.result.calibration_rows.size + self.test_idx.size
        return int(self.replayed.y.size - used - self.train_rows_left_out)


def split_indices(
    y: np.ndarray, event_times: np.ndarray, *, split: Split, test_fraction: float, seed: int,
    warm_up_days: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices: ``time`` = latest rows to test; ``random`` = stratified, seeded;
    rows of the first ``warm_up_days`` in neither.

    The very split :func:`~fraudscreen.training.train.train_model` makes with the same arguments.
    """
    times = event_times if split == "time" else None
    return split_after_warm_up(y, test_fraction, times, seed, stamps=event_times,
                               warm_up_days=warm_up_days)


def flagged_by_rules(rule_hits: Sequence[Sequence[RuleHit]]) -> np.ndarray:
    """Per row, whether the rules alone send it to review or reject (whatever the model says)."""
    return np.fromiter(
        (rule_decision(hits) in ("review", "reject") for hits in rule_hits), bool, count=len(rule_hits)
    )


def train_on_replay(
    replayed: ReplayResult,
    *,
    split: Split = "time",
    test_fraction: float = 0.2,
    seed: int = 0,
    review_capacity: float = 0.05,
    min_reject_precision: float = 0.95,
    version: str,
    data_sha256: str,
    labels: Labels = "all",
    warm_up_days: float = 0.0,
) -> TrainedReplay:
    """Train on the train rows of a replay (thresholds from a slice of them); keep the test rows.

    The review capacity is shared with the rules: the rows they flag on the threshold slice
    take their places in the queue first (:func:`~fraudscreen.training.train.choose_thresholds`).
    ``labels="known_at_test_start"`` (time split only) trains as a retrain on the first test
    day would, with the labels ``export-training`` would have given then: a train row whose
    fraud label became known only later counts as legit once older than the rows' label delay,
    and is left out (no label yet) while younger, as is every younger row without a known fraud
    label. The test rows keep their true labels. The rows of the first ``warm_up_days`` only build the
    profiles of the later ones: they neither train nor test.
    """
    if split not in ("time", "random"):
        raise ModelError("split must be 'time' or 'random'")
    if not 0.0 < test_fraction < 1.0:
        raise ModelError("test_fraction must be in (0, 1)")
    times = replayed.event_times if split == "time" else None
    if labels not in ("all", "known_at_test_start"):
        raise ModelError("labels must be 'all' or 'known_at_test_start'")
    try:
        train_idx, test_idx = split_indices(replayed.y, replayed.event_times, split=split,
                                            test_fraction=test_fraction, seed=seed,
                                            warm_up_days=warm_up_days)
    except ModelError as exc:  # too few rows: say how many there were, and why the rest went
        raise ModelError(f"{exc.message}: {rows_summary(replayed)}") from None
    y_train, not_yet_known, not_yet_labelled, unlabelled = replayed.y, None, None, None
    if labels == "known_at_test_start" or (
        split == "time" and replayed.label_times.size == replayed.y.size
    ):
        y_then, not_yet_known, pending = _labels_known_at_test_start(replayed, split, train_idx, test_idx)
        not_yet_labelled = int(pending.sum())
        if labels == "known_at_test_start":
            y_train, unlabelled = y_then, pending
    labelled = train_idx if unlabelled is None else train_idx[~unlabelled[train_idx]]
    _check_both_labels(replayed, y_train, labelled, labels)
    result = train_model(
        replayed.X, y_train, FEATURE_NAMES, event_times=times, version=version,
        data_sha256=data_sha256, seed=seed, review_capacity=review_capacity,
        min_reject_precision=min_reject_precision, test_fraction=test_fraction,
        rule_flagged=flagged_by_rules(replayed.deciding_hits()) if replayed.rule_hits else None,
        period_times=replayed.event_times, rules_version=replayed.rules_version,
        warm_up_days=warm_up_days, unlabelled=unlabelled,
    )
    if not np.array_equal(test_idx, result.test_rows):  # pragma: no cover - same function
        raise ModelError("the back-test split differs from the training split")
    return TrainedReplay(replayed, result, test_idx, split, test_fraction, seed, labels, not_yet_known,
                         warm_up_days, not_yet_labelled, None if y_train is replayed.y else y_train)


def _check_both_labels(replayed: ReplayResult, y_train: np.ndarray, train_idx: np.ndarray,
                       labels: Labels) -> None:
    """ModelError, in the analyst's terms, unless the train rows hold a fraud and a legit label."""
    frauds = int(y_train[train_idx].sum())
    if 0 < frauds < train_idx.size:
        return
    missing = "fraud" if not frauds else "legit"
    in_file = int(replayed.y.sum()) if missing == "fraud" else int(replayed.y.size - replayed.y.sum())
    if not in_file:
        where = f"the rows hold no {missing} label ({rows_summary(replayed)})"
    elif labels == "known_at_test_start" and not train_idx.size:
        where = (f"no train row had a label at the first test order (each was younger than the "
                 f"label delay of {replayed.label_delay_days:g} days, without a known fraud label)")
    elif missing == "fraud" and labels == "known_at_test_start":
        where = (f"no fraud label of the {train_idx.size} labelled train rows was known at the "
                 "first test order")
    else:
        rows = "the train row holds" if train_idx.size == 1 else f"the {train_idx.size} train rows hold"
        labelled = f"{missing} row is" if in_file == 1 else f"{in_file} {missing} rows are all"
        where = f"{rows} no {missing} label (the file's {labelled} among the test rows)"
    raise ModelError(f"{where}; training needs at least one fraud and one legit row among the "
                     "train rows")


def _labels_known_at_test_start(
    replayed: ReplayResult, split: Split, train_idx: np.ndarray, test_idx: np.ndarray
) -> tuple[np.ndarray, int, np.ndarray]:
    """The labels at the first test order, as ``export-training`` would have given them then
    (:func:`~fraudscreen.training.logged.label_of`): the labels with the train frauds not yet
    known set to legit; how many those are; and which train rows had no label yet (younger
    than the label delay, no fraud label known)."""
    if split != "time":
        raise ModelError("labels known at the test start need the time split")
    if replayed.label_times.size != replayed.y.size:
        raise ModelError("these rows carry no label times")
    test_start = float(replayed.event_times[test_idx].min())
    known_fraud = (replayed.y == 1) & (replayed.label_times <= test_start)  # NaN (legit): False
    late = train_idx[(replayed.y[train_idx] == 1) & ~known_fraud[train_idx]]
    y = replayed.y.copy()
    y[late] = 0
    young = replayed.event_times + replayed.label_delay_days * 86_400.0 > test_start
    pending = np.zeros(replayed.y.size, dtype=bool)
    pending[train_idx] = young[train_idx] & ~known_fraud[train_idx]
    return y, int(late.size), pending


def train_from_file(
    data_path: Path,
    out_dir: Path,
    *,
    settings: Settings,
    version: str | None = None,
    seed: int = 0,
    review_capacity: float = 0.05,
    min_reject_precision: float = 0.95,
    progress: bool = True,
    split: Split = "time",
    test_fraction: float = 0.2,
    label_delay: timedelta = DEFAULT_LABEL_DELAY,
    segment_by: SegmentBy = "scenario",
    warm_up_days: float = 0.0,
    save_replay: Path | None = None,
) -> tuple[TrainResult, dict[str, Any]]:
    """Replay ``data_path``, train on the train rows, back-test on the held-out rows, save;
    the result and its back-test report (the one in the model card).

    Writes ``model.joblib``, ``model_card.json`` and ``MODEL_CARD.md`` (with the back-test of
    rules alone, model alone and both on the held-out rows, its test rows broken down by
    ``segment_by``) into ``out_dir``. ``save_replay``: where to save the replayed rows
    (:func:`~fraudscreen.training.pipeline.load_labelled`).
    """
    from fraudscreen.training.backtest import backtest_report, say_measuring
    from fraudscreen.training.card import retrain_figures, write_bundle_with_card

    data_hash = file_sha256(data_path)
    replayed, rows_read = load_labelled(data_path, settings=settings, progress=progress,
                                        label_delay=label_delay, segment_by=segment_by,
                                        save_replay=save_replay)
    if progress:
        tqdm.write(f"Training on {replayed.y.size} {replayed.described} rows ({split} split) …", file=sys.stderr)
    trained = train_on_replay(
        replayed, split=split, test_fraction=test_fraction, seed=seed,
        review_capacity=review_capacity, min_reject_precision=min_reject_precision,
        version=version or f"hgb-{data_hash[:12]}", data_sha256=data_hash, warm_up_days=warm_up_days,
    )
    if progress:
        say_measuring(trained)
    report = backtest_report(
        trained, rules=RuleSet.load(settings.resolved_rules_path), data_path=data_path,
        data_sha256=data_hash, rows_read=rows_read,
        review_capacity=review_capacity, min_reject_precision=min_reject_precision,
    ).report
    as_a_retrain = None
    if trained.train_frauds_not_yet_known or trained.train_rows_not_yet_labelled:
        # time split: the labels of the train period's last weeks came after the test start
        if progress:
            tqdm.write("Training again with the labels known at the first test order …", file=sys.stderr)
        try:
            as_a_retrain = retrain_figures(train_on_replay(
                replayed, split=split, test_fraction=test_fraction, seed=seed,
                review_capacity=review_capacity, min_reject_precision=min_reject_precision,
                version=trained.result.bundle.version, data_sha256=data_hash,
                warm_up_days=warm_up_days, labels="known_at_test_start"))
        except ModelError as exc:  # e.g. no fraud label known yet: the card says so
            as_a_retrain = {"problem": exc.message}
    result = trained.result
    write_bundle_with_card(result, out_dir, data_path=data_path, skipped=replayed.skipped,
                           backtest=report, as_a_retrain=as_a_retrain)
    return result, report
