"""Bootstrap confidence intervals for the back-test's figures on the test rows.

A figure measured on 4,000 test rows with 130 frauds moves by several points from one sample of
orders to the next; the interval says how far. Each resample draws the test rows with
replacement (a row drawn twice counts twice) and measures every system on it again; the
interval holds the middle :data:`CONFIDENCE` of those figures (percentile bootstrap). A
replay's rows are drawn by account (a cluster bootstrap): all the orders of an account at once.
The same resamples serve every system, so the difference between two systems (a new model and
the one in production, on the same rows) gets its own, paired, interval: it is what decides
whether the new one is better, and it is narrower than the two intervals side by side suggest.

Each system's rows are sorted by score once; a resample then costs a few array passes, so
1,000 resamples of 200,000 test rows take seconds. The figures match
:func:`~fraudscreen.training.systems.system_metrics` for a resample that draws every row once
(``tests/test_intervals.py`` checks them against scikit-learn and ``at_capacity``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["CONFIDENCE", "FIGURES", "RESAMPLES", "SystemRows", "bootstrap", "interval", "resamples_for",
           "weighted_figures"]

RESAMPLES = 1_000
"""Resamples of the test rows per back-test, up to :data:`MANY_ROWS` test rows."""
MANY_ROWS = 50_000
"""Above this many test rows, :data:`FEWER_RESAMPLES`: a resample costs more (about 4 ms per
system at 200,000 rows) and the intervals are narrow."""
FEWER_RESAMPLES = 200
CONFIDENCE = 0.95
"""Share of the resampled figures an interval holds."""
FIGURES = ("roc_auc", "average_precision", "recall_at_capacity", "precision_at_capacity",
           "flagged_recall", "flagged_precision", "reject_precision")
"""The figures of a system that get an interval (names as in the report)."""


@dataclass(frozen=True)
class SystemRows:
    """One system on the test rows, arranged once for many resamples: the rows by descending
    score in groups of equal score, and which rows are frauds, flagged and rejected."""

    order: np.ndarray
    """Row indices by descending score (ties in row order)."""
    sorted_frauds: np.ndarray
    """1 for a fraud, in ``order``."""
    starts: np.ndarray | None
    """Where each group of equal scores starts in ``order``; None when no two scores tie."""
    frauds: np.ndarray
    """Indices of the fraud rows."""
    flagged: tuple[np.ndarray, np.ndarray]
    """Indices of the rows decided review or reject, and of the frauds among them."""
    rejected: tuple[np.ndarray, np.ndarray]
    """Indices of the rows decided reject, and of the frauds among them."""

    @classmethod
    def of(cls, y: np.ndarray, decisions: np.ndarray, score: np.ndarray) -> SystemRows:
        """One system's rows: labels (1 fraud), decisions (0 accept, 1 review, 2 reject) and the
        score that ranks them (higher: riskier)."""
        y = np.asarray(y).astype(bool)
        decisions = np.asarray(decisions)
        score = np.asarray(score, dtype=np.float64)
        order = np.argsort(-score, kind="stable")
        ranked = score[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        flagged, rejected = decisions >= 1, decisions == 2
        return cls(
            order=order, sorted_frauds=y[order].astype(np.int64),
            starts=None if starts.size == ranked.size else starts,
            frauds=np.flatnonzero(y),
            flagged=(np.flatnonzero(flagged), np.flatnonzero(flagged & y)),
            rejected=(np.flatnonzero(rejected), np.flatnonzero(rejected & y)),
        )


def weighted_figures(rows: SystemRows, weights: np.ndarray, capacity: float) -> dict[str, float]:
    """The :data:`FIGURES` of ``rows`` with row ``i`` counted ``weights[i]`` times (integers);
    NaN where a figure is undefined (no fraud, no legit row, nothing flagged or rejected)."""
    nan = float("nan")
    w = weights[rows.order]
    pos, tot = w * rows.sorted_frauds, w  # per group of tied scores, riskiest first
    if rows.starts is not None:
        pos, tot = np.add.reduceat(pos, rows.starts), np.add.reduceat(tot, rows.starts)
    cum_pos, cum_tot = np.cumsum(pos), np.cumsum(tot)
    n_pos, n = int(cum_pos[-1]), int(cum_tot[-1])
    n_neg = n - n_pos
    auc = ap = recall = nan
    if n_pos and n_neg:
        at = np.flatnonzero(pos)  # only groups holding a fraud add to either sum
        pos_at, cum_pos_at, cum_tot_at = pos[at], cum_pos[at], cum_tot[at]
        neg_at = tot[at] - pos_at
        cum_neg_at = cum_tot_at - cum_pos_at
        # ROC AUC: each fraud against the legit rows below it, ties counting half (rank statistic)
        auc = float(np.dot(pos_at, n_neg - cum_neg_at + 0.5 * neg_at)) / (n_pos * n_neg)
        # average precision: the precision at each score, weighted by the frauds it adds
        ap = float(np.dot(pos_at, cum_pos_at / cum_tot_at)) / n_pos
    # the riskiest `capacity` share; the group tied at the cut shares the places left
    k = max(1.0, float(round(capacity * n)))
    cut = int(np.searchsorted(cum_tot, k, side="left"))
    before_tot = float(cum_tot[cut - 1]) if cut else 0.0
    before_pos = float(cum_pos[cut - 1]) if cut else 0.0
    caught = before_pos + float(pos[cut]) * (k - before_tot) / float(tot[cut])
    if n_pos:
        recall = caught / n_pos
    flagged = float(weights[rows.flagged[0]].sum())
    flagged_frauds = float(weights[rows.flagged[1]].sum())
    rejected = float(weights[rows.rejected[0]].sum())
    return {
        "roc_auc": auc,
        "average_precision": ap,
        "recall_at_capacity": recall,
        "precision_at_capacity": caught / k,
        "flagged_recall": _share(flagged_frauds, n_pos),
        "flagged_precision": _share(flagged_frauds, flagged),
        "reject_precision": _share(float(weights[rows.rejected[1]].sum()), rejected),
    }


def resamples_for(rows: int) -> int:
    """How many resamples a back-test of ``rows`` test rows draws."""
    return RESAMPLES if rows <= MANY_ROWS else FEWER_RESAMPLES


def _share(part: float, whole: float) -> float:
    return part / whole if whole else float("nan")


def bootstrap(
    systems: Mapping[str, SystemRows], *, capacity: float, seed: int, resamples: int = RESAMPLES,
    clusters: np.ndarray | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Per system, per figure: its value on each of ``resamples`` resamples of the rows, the
    same resamples for every system (their differences are paired). Seeded: reproducible.

    ``clusters`` (one number per row, ``0 .. k - 1``; say, its account) resamples the clusters
    instead, each drawn with all its rows: the orders of one account are not independent draws
    (a card-testing run is one attack in many orders), and resampling them apart would make
    the intervals too narrow. With every row its own cluster the resamples are the rows'."""
    sizes = {rows.order.size for rows in systems.values()}
    if len(sizes) != 1:
        raise ValueError("every system must be measured on the same rows")
    n = sizes.pop()
    if clusters is not None and clusters.shape != (n,):
        raise ValueError("clusters must give one number per row")
    k = n if clusters is None else int(clusters.max()) + 1 if n else 0
    rng = np.random.default_rng(seed)
    samples = {name: {f: np.empty(resamples) for f in FIGURES} for name in systems}
    for r in range(resamples):
        weights = np.bincount(rng.integers(0, k, k), minlength=k)
        if clusters is not None:
            weights = weights[clusters]
        for name, rows in systems.items():
            for figure, value in weighted_figures(rows, weights, capacity).items():
                samples[name][figure][r] = value
    return samples


def interval(values: np.ndarray, confidence: float = CONFIDENCE) -> list[float] | None:
    """``[low, high]``: the middle ``confidence`` of ``values``; None when a resample left the
    figure undefined (too few rows of a kind for an interval to mean much)."""
    if values.size == 0 or not np.all(np.isfinite(values)):
        return None
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return [float(low), float(high)]
