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
from fraudscreen.result import DECISIONS as RESULT_DECISIONS
from fraudscreen.rules import RuleHit
from fraudscreen.training.money import money_table
from fraudscreen.training.train import choose_thresholds

__all__ = ["DECISIONS", "DECISION_NUMBER", "DEFAULT_CAPACITIES", "capacity_sweep", "combined_decisions", "decision_figures",
           "ratio"]

DECISIONS = RESULT_DECISIONS
"""The decisions (:data:`fraudscreen.result.DECISIONS`), as the numbers 0, 1 and 2 of a
decisions array."""
DECISION_NUMBER: dict[str, int] = {d: i for i, d in enumerate(DECISIONS)}
"""A decision's number in a decisions array."""
DEFAULT_CAPACITIES = (0.01, 0.02, 0.05, 0.1, 0.2)
"""The review capacities a back-test also reports (besides its own ``--review-capacity``)."""


def combined_decisions(
    p: np.ndarray, thresholds: Thresholds, hits: Sequence[Sequence[RuleHit]]
) -> np.ndarray:
    """What the service decides on each row (0 accept, 1 review, 2 reject): :func:`decide` on
    the model's probability and the row's rule hits (an allow rule accepts whatever the score)."""
    return np.array(
        [DECISION_NUMBER[decide(probability=float(pi), thresholds=thresholds, hits=h).decision]
         for pi, h in zip(p, hits, strict=True)],
        dtype=np.int64,
    )


def ratio(num: float, den: float) -> float | None:
    """``num / den``, None when ``den`` is 0 (a share of no rows)."""
    return float(num / den) if den else None


def decision_figures(y: np.ndarray, decisions: np.ndarray) -> dict[str, Any]:
    """What decisions (0 accept, 1 review, 2 reject per row) do on labelled rows (``y`` 1 for
    fraud): the shares flagged (review or reject) and rejected, the recall and precision of
    each, and the decision mix; None for a share of no rows."""
    n, n_fraud = int(y.size), int(y.sum())
    fraud = y == 1
    flagged, rejected = decisions >= 1, decisions == 2
    return {
        "flagged_share": ratio(int(flagged.sum()), n),
        "flagged_recall": ratio(int((flagged & fraud).sum()), n_fraud),
        "flagged_precision": ratio(int((flagged & fraud).sum()), int(flagged.sum())),
        "reject_share": ratio(int(rejected.sum()), n),
        "reject_recall": ratio(int((rejected & fraud).sum()), n_fraud),
        "reject_precision": ratio(int((rejected & fraud).sum()), int(rejected.sum())),
        "decision_mix": {d: ratio(int((decisions == i).sum()), n) for i, d in enumerate(DECISIONS)},
    }


def capacity_text(share: float) -> str:
    """A review capacity as the percentage it was given (``5%``, ``1.1%``, ``0.01%``): rounded
    to one decimal, two capacities of a sweep could print alike."""
    return f"{100 * share:.6g}%"


def model_reviews(review: float, reject: float) -> bool:
    """False when the review threshold is the reject threshold (or the float just below it): the
    rules' reviews and the model's rejects leave the share flagged nearer the review capacity
    than any review by the model would (they fill it, or the model's next step of probability
    would overshoot it further), so the model sends no order to review."""
    return review < math.nextafter(reject, 0.0)


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
    alone flag) and whether the model reviews anything below its reject threshold
    (:func:`model_reviews`); and on the test rows the frauds the service flags and its
    :func:`decision_figures`; with ``amounts_test`` (USD, NaN when unknown) also the shares of
    the fraud amount it flags and of the good orders' amount it holds up.

    ModelError, as from training, for a minimum reject precision met by rejecting every order.
    """
    y = np.asarray(y_test).astype(np.int64).ravel()
    sweep = []
    for capacity in sorted(set(capacities)):
        thresholds = choose_thresholds(y_calibration, p_calibration, review_capacity=capacity,
                                       min_reject_precision=min_reject_precision,
                                       rule_flagged=rule_flagged_calibration)
        decided = combined_decisions(p_test, thresholds, test_hits)
        entry: dict[str, Any] = {
            "review_capacity": capacity,
            "review_threshold": thresholds.review,
            "reject_threshold": thresholds.reject,
            "model_reviews": model_reviews(thresholds.review, thresholds.reject),
            "frauds_flagged": int(((decided >= 1) & (y == 1)).sum()),
            **decision_figures(y, decided),
        }
        if amounts_test is not None:
            money = money_table(amounts_test, y, {"service": decided})["systems"]["service"]
            entry.update(fraud_flagged_usd_share=money["fraud_flagged_share"],
                         legit_flagged_usd_share=money["legit_flagged_share"])
        sweep.append(entry)
    return sweep
