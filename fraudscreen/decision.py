"""Model probability + rule hits + degraded parts -> accept, review or reject, with reasons.

Precedence, as in Stripe Radar (where the built-in "block the highest risk" is a block
rule): an allow-rule accepts; otherwise a reject-rule **or** a probability at or above the
reject threshold rejects; otherwise a review-rule or a probability at or above the review
threshold sends to review; otherwise the order is accepted. A review rule therefore never
lowers a model reject to a review. A missing part (GeoIP database, model, rules, history)
or a reject or review rule that failed on the order never lets an order through silently:
what would have been an accept becomes a review, with a ``system`` reason. An allow rule
still accepts (that is what the allow list is for), and the ``system`` reasons are shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def rule_decision(hits: Iterable[RuleHit]) -> Decision | None:
    """What the rules alone decide: allow -> accept, then reject, then review; None if none does."""
    action = strongest_action(hits)
    return _ACTION_DECISION[action] if action is not None else None


def decide(
    *,
    probability: float | None,
    thresholds: Thresholds | None,
    hits: Sequence[RuleHit],
    model_signals: Sequence[Reason] = (),
    degraded: Sequence[Reason] = (),
) -> DecisionOutcome:
    """Apply the precedence. ``probability`` is ``None`` when no model could score.

    ``degraded`` holds the ``system`` reasons: missing parts and failed deciding rules.
    """
    ordered = sorted(hits, key=lambda h: _ACTION_ORDER.get(h.action, 9))
    reasons = [Reason(h.code, h.message, "rule") for h in ordered]
    by_rule = rule_decision(ordered)
    if by_rule == "accept":  # the allow list accepts even when degraded, and says so
        return DecisionOutcome("accept", "rule", reasons + list(degraded) + list(model_signals))

    by_model: Decision | None = None
    if probability is not None and thresholds is not None:
        if probability >= thresholds.reject:
            by_model = "reject"
        elif probability >= thresholds.review:
            by_model = "review"
        else:
            by_model = "accept"

    decision: Decision
    if by_rule == "reject" or by_model == "reject":
        decision, disposition = "reject", "rule" if by_rule == "reject" else "model"
    elif by_rule == "review" or by_model == "review":
        decision, disposition = "review", "rule" if by_rule == "review" else "model"
    elif by_model is None:  # no model could score and no rule decided
        decision, disposition = "review", "degraded"
    else:
        decision, disposition = "accept", "model"

    if degraded and decision == "accept":
        decision, disposition = "review", "degraded"
    if degraded:
        return DecisionOutcome(decision, disposition, reasons + list(degraded) + list(model_signals))
    return DecisionOutcome(decision, disposition, reasons + list(model_signals))
