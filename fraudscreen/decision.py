"""Model probability + rule hits + degraded parts -> accept, review or reject, with reasons.

Precedence (DESIGN §5): an allow-rule accepts, a reject-rule rejects, a review-rule sends to
review; otherwise the calibrated probability decides against the review and reject thresholds.
A missing part (GeoIP database, model) never lets an order through silently: what would have
been an accept becomes a review, with a ``system`` reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fraudscreen.model import Thresholds
from fraudscreen.result import Decision, Reason
from fraudscreen.rules import RuleHit, strongest_action

_ACTION_DECISION: dict[str, Decision] = {"allow": "accept", "reject": "reject", "review": "review"}
_ACTION_ORDER = {"allow": 0, "reject": 1, "review": 2, "signal": 3}


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """The decision, what made it, and the reasons in the order they are shown."""

    decision: Decision
    disposition: str  # "rule", "model" or "degraded"
    reasons: list[Reason]


def decide(
    *,
    probability: float | None,
    thresholds: Thresholds | None,
    hits: Sequence[RuleHit],
    model_signals: Sequence[Reason] = (),
    degraded: Sequence[Reason] = (),
) -> DecisionOutcome:
    """Apply the precedence. ``probability`` is ``None`` when no model could score."""
    ordered = sorted(hits, key=lambda h: _ACTION_ORDER.get(h.action, 9))
    reasons = [Reason(h.code, h.message, "rule") for h in ordered]
    action = strongest_action(ordered)
    if action is not None:
        by_rule = _ACTION_DECISION[action]
        if by_rule == "accept" or not degraded:
            return DecisionOutcome(by_rule, "rule", reasons + list(model_signals))
        return DecisionOutcome(by_rule, "rule", reasons + list(degraded) + list(model_signals))

    decision: Decision
    if probability is None or thresholds is None:
        decision = "review"
    elif probability >= thresholds.reject:
        decision = "reject"
    elif probability >= thresholds.review:
        decision = "review"
    else:
        decision = "accept"
    if degraded:
        if decision == "accept":
            decision = "review"
        return DecisionOutcome(decision, "degraded", list(degraded) + reasons + list(model_signals))
    return DecisionOutcome(decision, "model", reasons + list(model_signals))
