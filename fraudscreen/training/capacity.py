"""The service's decisions on test rows, at the review capacity chosen and at others.

A back-test answers for one review capacity (``--review-capacity``, 5% by default). Staffing
the review queue is the decision an analyst actually makes, so :func:`capacity_sweep` answers
for several at once: for each capacity the thresholds are chosen as training chooses them (on
the calibration rows, the rules' own reviews taking their places first:
:func:`~fraudscreen.training.train.choose_thresholds`), and the service's decisions on the test
rows (rules and model, :func:`combined_decisions`) say what it would flag, catch and hold up.
The reject threshold depends on the minimum reject precision alone, so only the review share
moves with the capacity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from fraudscreen.decision import decide
from fraudscreen.model import Thresholds
from fraudscreen.rules import RuleHit
from fraudscreen.training.money import money_table
from fraudscreen.training.train import choose_thresholds

__all__ = ["DECISIONS", "DEFAULT_CAPACITIES", "capacity_sweep", "combined_decisions"]

DECISIONS = ("accept", "review", "reject")
"""The decisions, as the numbers 0, 1 and 2 of a decisions array."""
_RANK = {d: i for i, d in enumerate(DECISIONS)}
DEFAULT_CAPACITIES = (0.01, 0.02, 0.05, 0.1, 0.2)
"""The review capacities a back-test also reports (besides its own ``--review-capacity``)."""


def combined_decisions(
    p: np.ndarray, thresholds: Thresholds, hits: Sequence[Sequence[RuleHit]]
) -> np.ndarray:
    """What the service decides on each row (0 accept, 1 review, 2 reject): :func:`decide` on
    the model's probability and the row's rule hits (an allow rule accepts whatever the score)."""
    return np.array(
        [_RANK[decide(probability=float(pi), thresholds=thresholds, hits=h).decision]
         for pi, h in zip(p, hits, strict=True)],
        dtype=np.int64,
    )


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def capacity_sweep(
    capacities: Iterable[float],
    *,
    y_calibration: np.ndarray,
    p_calibration: np.ndarray,
    rule_flagged_calibration: np.ndarray | None,
    y_test: np.ndarray,
    p_test: np.ndarray,
    test_hits: Sequence[Sequence[RuleHit]],
    min_reject_precision: float = 0.95,
    amounts_test: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One entry per capacity (ascending, each once): the thresholds chosen on the calibration
    rows (``y_calibration``, the model's calibrated ``p_calibration`` and the rows the rules
    alone flag) and whether the model reviews anything below its reject threshold (False when
    the rules' reviews and the model's rejects fill the capacity by themselves); and on the
    test rows the service's flagged share, decision mix, the frauds it flags (count, recall,
    precision) and rejects; with ``amounts_test`` (USD, NaN when unknown) also the shares of
    the fraud amount it flags and of the good orders' amount it holds up.

    ModelError, as from training, for a minimum reject precision met by rejecting every order.
    """
    y = np.asarray(y_test).astype(np.int64).ravel()
    fraud = y == 1
    frauds = int(fraud.sum())
    sweep = []
    for capacity in sorted(set(capacities)):
        thresholds = choose_thresholds(y_calibration, p_calibration, review_capacity=capacity,
                                       min_reject_precision=min_reject_precision,
                                       rule_flagged=rule_flagged_calibration)
        decided = combined_decisions(p_test, thresholds, test_hits)
        flagged, rejected = decided >= 1, decided == 2
        caught = int((flagged & fraud).sum())
        entry: dict[str, Any] = {
            "review_capacity": capacity,
            "review_threshold": thresholds.review,
            "reject_threshold": thresholds.reject,
            "model_reviews": thresholds.review < math.nextafter(thresholds.reject, 0.0),
            "flagged_share": _ratio(int(flagged.sum()), y.size),
            "decision_mix": {d: _ratio(int((decided == i).sum()), y.size) for i, d in enumerate(DECISIONS)},
            "frauds_flagged": caught,
            "flagged_recall": _ratio(caught, frauds),
            "flagged_precision": _ratio(caught, int(flagged.sum())),
            "reject_precision": _ratio(int((rejected & fraud).sum()), int(rejected.sum())),
        }
        if amounts_test is not None:
            money = money_table(amounts_test, y, {"service": decided})["systems"]["service"]
            entry.update(fraud_flagged_usd_share=money["fraud_flagged_share"],
                         legit_flagged_usd_share=money["legit_flagged_share"])
        sweep.append(entry)
    return sweep
