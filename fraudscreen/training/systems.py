"""The three systems a back-test measures, and the figures of each on labelled rows.

* ``rules``: the rules alone, by precedence (allow -> accept, reject -> reject,
  review -> review, otherwise accept);
* ``model``: the model alone (its review and reject thresholds, no rules);
* ``combined``: what the service does, :func:`fraudscreen.decision.decide` on the model's
  probability and the rule hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fraudscreen.decision import rule_decision
from fraudscreen.model import ModelBundle
from fraudscreen.rules import RuleHit
from fraudscreen.training.capacity import combined_decisions, decision_figures, ratio
from fraudscreen.training.intervals import SystemRows

__all__ = ["SYSTEMS", "Decided", "at_capacity", "bundle_systems", "rules_decision", "system_metrics"]

SYSTEMS = ("rules", "model", "combined")


def at_capacity(y: np.ndarray, score: np.ndarray, capacity: float) -> tuple[float | None, float | None]:
    """(recall, precision) of the top ``capacity`` share of rows by score.

    Rows tied at the cut share the remaining places in proportion (the expected result of a
    random tie-break), so discrete scores such as a decision get a fair figure.
    """
    n, frauds = int(y.size), int(y.sum())
    k = max(1, round(capacity * n)) if n else 0
    if not k:
        return None, None
    order = np.sort(score)[::-1]
    cut = order[k - 1]
    above = score > cut
    tied = score == cut
    slots = k - int(above.sum())
    caught = float(y[above].sum()) + float(y[tied].sum()) * slots / int(tied.sum())
    return ratio(caught, frauds), caught / k


def system_metrics(
    y: np.ndarray, decisions: np.ndarray, score: np.ndarray, *, capacity: float, ranked_by: str
) -> dict[str, Any]:
    """Quality of one system on labelled rows: ranking (AUC, AP, capacity) and its decisions.

    ``decisions`` are 0 accept, 1 review, 2 reject; ``score`` ranks the rows (higher = riskier).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    n, n_fraud = int(y.size), int(y.sum())
    both = 0 < n_fraud < n
    recall, precision = at_capacity(y, score, capacity)
    return {
        "ranked_by": ranked_by,
        "roc_auc": float(roc_auc_score(y, score)) if both else None,
        "average_precision": float(average_precision_score(y, score)) if both else None,
        "recall_at_capacity": recall,
        "precision_at_capacity": precision,
        **decision_figures(y, decisions),
    }


def rules_decision(hits: Sequence[RuleHit]) -> str:
    """The decision of the rules alone: allow -> accept, reject, review, else accept."""
    return rule_decision(hits) or "accept"


@dataclass(frozen=True)
class Decided:
    """One system's decisions on the test rows (0 accept, 1 review, 2 reject) and the score
    that ranks them for the ranking figures."""

    decisions: np.ndarray
    score: np.ndarray
    ranked_by: str

    def metrics(self, y: np.ndarray, capacity: float) -> dict[str, Any]:
        """:func:`system_metrics` of this system."""
        return system_metrics(y, self.decisions, self.score, capacity=capacity, ranked_by=self.ranked_by)

    def rows(self, y: np.ndarray) -> SystemRows:
        """This system arranged for :func:`~fraudscreen.training.intervals.bootstrap`."""
        return SystemRows.of(y, self.decisions, self.score)


def bundle_systems(bundle: ModelBundle, X: np.ndarray, hits: Sequence[Sequence[RuleHit]]) -> dict[str, Decided]:
    """The ``model`` and ``combined`` systems of ``bundle`` (its own thresholds) on test rows
    (``X`` in the bundle's feature order, ``hits`` the rows' rule hits)."""
    p = bundle.predict_proba(X)  # one batched call
    t = bundle.thresholds
    combined = combined_decisions(p, t, hits)
    return {
        "model": Decided(np.where(p >= t.reject, 2, np.where(p >= t.review, 1, 0)), p, "probability"),
        "combined": Decided(combined, combined + p, "decision+probability"),
    }
