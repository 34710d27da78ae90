"""Another bundle (say, the one in production) on a back-test's test rows, and the warnings
that say when its figures cannot be taken at face value: it may have trained on these rows, or
was thresholded for another review capacity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fraudscreen.errors import ModelError
from fraudscreen.features import FEATURE_INDEX
from fraudscreen.model import ModelBundle
from fraudscreen.rules import RuleHit
from fraudscreen.training.capacity import capacity_text
from fraudscreen.training.retrain import TrainedReplay
from fraudscreen.training.systems import Decided, bundle_systems

__all__ = ["capacity_warning", "compare_section", "feature_columns", "overlap_warning",
           "training_overlap"]


def feature_columns(bundle: ModelBundle) -> list[int]:
    """Where each of the bundle's features is in FEATURE_NAMES; ModelError if one is gone."""
    missing = [n for n in bundle.feature_names if n not in FEATURE_INDEX]
    if missing:
        raise ModelError(f"model {bundle.version} needs features this version no longer computes: "
                         f"{', '.join(missing[:5])}")
    return [FEATURE_INDEX[n] for n in bundle.feature_names]


def training_overlap(
    bundle: ModelBundle, event_times: np.ndarray, *, data_sha256: str | None = None
) -> dict[str, Any]:
    """Whether ``bundle`` may have been trained on the rows with these event times (test rows).

    ``test_rows_in_training_period``: rows whose event time lies within the period the bundle
    was fitted and calibrated on (None when the bundle does not record it: an older bundle).
    ``trained_on_this_data``: some do, or the bundle was trained on a file with ``data_sha256``.
    The same rows in another file (un-gzipped, or exported from the store) are caught by time.
    """
    period = bundle.training_period_seconds()
    inside = None
    if period is not None:
        times = np.asarray(event_times, dtype=np.float64)
        inside = int(np.count_nonzero((times >= period[0]) & (times <= period[1])))
    same_file = data_sha256 is not None and bundle.training_data_sha256 == data_sha256
    when = bundle.training_period or {}
    return {
        "training_from": when.get("from"),
        "training_to": when.get("to"),
        "test_rows_in_training_period": inside,
        "trained_on_this_data": bool(same_file or inside),
    }


def overlap_warning(version: str, overlap: dict[str, Any], test_rows: int) -> str | None:
    """The warning to print for :func:`training_overlap`'s answer; None when there is none."""
    inside = overlap.get("test_rows_in_training_period")  # absent from older reports
    if inside:
        return (f"Warning: {version} was fitted and calibrated on orders from "
                f"{overlap['training_from']} to {overlap['training_to']}, and {inside} of these "
                f"{test_rows} test rows fall in that period: they may have been its training rows, "
                "and then its figures look better than they are. Compare on newer orders.")
    if not overlap.get("trained_on_this_data"):
        return None
    if inside == 0:  # the same file, but every test row is later than its training rows
        return (f"Note: {version} was trained on this same file, on orders up to "
                f"{overlap['training_to']}; none of these test rows falls in that period.")
    return (f"Warning: {version} was trained on this same file. Unless this run splits it exactly "
            "as its training did, some of these test rows were its training rows, and its "
            "figures look better than they are.")


def _number_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def capacity_warning(report: dict[str, Any]) -> str | None:
    """The warning for a compared bundle thresholded for another review capacity than this
    back-test's (``report["compare"]``); None when they match or one is unknown."""
    compared = report.get("compare") or {}
    theirs, ours = compared.get("review_capacity"), report["thresholds"]["review_capacity"]
    if theirs is None or math.isclose(theirs, ours):
        return None
    return (f"Warning: {compared['version']} was thresholded for a {capacity_text(theirs)} review "
            f"capacity, the new model for {capacity_text(ours)}. The figures that use each "
            "bundle's thresholds (flagged, recall and precision of flagged, reject precision, the "
            "shares by segment) differ by capacity as well as by model; ROC AUC, average "
            "precision and recall at capacity do not depend on them.")


def compare_section(
    bundle: ModelBundle, trained: TrainedReplay, *, path: Path | None, capacity: float,
    hits: Sequence[Sequence[RuleHit]], data_sha256: str | None = None,
) -> tuple[dict[str, Any], dict[str, Decided]]:
    """Another bundle (say, the one in production) on the same test rows, with its own
    thresholds; and its systems, for the intervals. ``hits``: the test rows' rule hits as the
    service decides on them (:meth:`~fraudscreen.training.pipeline.ReplayResult.deciding_hits`).

    With the keys of :func:`training_overlap`: ``trained_on_this_data`` is true when some test
    rows fall in the period the bundle was trained on, or it was trained on this very file.
    """
    replayed, idx = trained.replayed, trained.test_idx
    X = replayed.X[idx][:, feature_columns(bundle)]
    y = replayed.y[idx].astype(np.int64)
    decided = bundle_systems(bundle, X, hits)
    return {
        "version": bundle.version,
        "path": str(path) if path is not None else None,
        "thresholds": {"review": bundle.thresholds.review, "reject": bundle.thresholds.reject},
        "review_capacity": _number_or_none(bundle.params.get("review_capacity")),
        **training_overlap(bundle, replayed.event_times[idx], data_sha256=data_sha256),
        "systems": {name: system.metrics(y, capacity) for name, system in decided.items()},
    }, decided
