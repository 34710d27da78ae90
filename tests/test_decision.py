"""Decision precedence: allow > reject > review rules > model thresholds; degraded never accepts
but through the allow list."""

from __future__ import annotations

import pytest

from fraudscreen.decision import decide
from fraudscreen.model import Thresholds
from fraudscreen.result import Reason
from fraudscreen.rules import RuleHit

T = Thresholds(review=0.2, reject=0.8)
DEGRADED = [Reason("MODEL_UNAVAILABLE", "no model", "system")]


def hit(action: str, code: str | None = None) -> RuleHit:
    code = code or action.upper()
    return RuleHit(rule_id=code.lower(), code=code, action=action, message=f"{action} rule")


@pytest.mark.parametrize(
    ("p", "expected"), [(0.0, "accept"), (0.19, "accept"), (0.2, "review"), (0.79, "review"), (0.8, "reject"), (1.0, "reject")]
)
def test_model_thresholds(p: float, expected: str) -> None:
    out = decide(probability=p, thresholds=T, hits=[])
    assert (out.decision, out.disposition) == (expected, "model")


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["review", "reject", "allow"], "accept"),
        (["review", "reject"], "reject"),
        (["signal", "review"], "review"),
        (["signal"], None),
    ],
)
def test_rule_precedence(actions: list[str], expected: str | None) -> None:
    out = decide(probability=0.1, thresholds=T, hits=[hit(a) for a in actions])
    if expected is None:  # signals never decide: the model does
        assert (out.decision, out.disposition) == ("accept", "model")
    else:
        assert (out.decision, out.disposition) == (expected, "rule")
    assert [r.source for r in out.reasons] == ["rule"] * len(actions)


def test_reasons_are_in_precedence_order() -> None:
    out = decide(probability=0.1, thresholds=T, hits=[hit("signal"), hit("review"), hit("reject")])
    assert [r.code for r in out.reasons] == ["REJECT", "REVIEW", "SIGNAL"]


def test_model_reject_beats_a_review_rule_and_a_reject_rule_beats_model_review() -> None:
    out = decide(probability=0.9, thresholds=T, hits=[hit("review")])
    assert (out.decision, out.disposition) == ("reject", "model")
    out = decide(probability=0.5, thresholds=T, hits=[hit("reject")])
    assert (out.decision, out.disposition) == ("reject", "rule")
    out = decide(probability=0.5, thresholds=T, hits=[hit("signal")])
    assert (out.decision, out.disposition) == ("review", "model")


def test_allow_rule_beats_model_reject() -> None:
    assert decide(probability=0.99, thresholds=T, hits=[hit("allow")]).decision == "accept"


def test_no_model_means_review_never_accept() -> None:
    out = decide(probability=None, thresholds=None, hits=[], degraded=DEGRADED)
    assert (out.decision, out.disposition) == ("review", "degraded")
    assert out.reasons[0].code == "MODEL_UNAVAILABLE"


def test_degraded_turns_accept_into_review_but_keeps_reject() -> None:
    assert decide(probability=0.01, thresholds=T, hits=[], degraded=DEGRADED).decision == "review"
    assert decide(probability=0.95, thresholds=T, hits=[], degraded=DEGRADED).decision == "reject"
    assert decide(probability=0.01, thresholds=T, hits=[hit("reject")], degraded=DEGRADED).decision == "reject"


def test_the_allow_list_still_accepts_when_degraded_and_shows_the_system_reason() -> None:
    failed = Reason("RULE_FAILED", "Rule burst could not be evaluated on this order.", "system")
    out = decide(probability=None, thresholds=None, hits=[hit("allow")], degraded=DEGRADED)
    assert (out.decision, out.disposition) == ("accept", "rule")
    assert [(r.code, r.source) for r in out.reasons] == [("ALLOW", "rule"), ("MODEL_UNAVAILABLE", "system")]
    out = decide(probability=0.95, thresholds=T, hits=[hit("allow")], degraded=[failed])
    assert (out.decision, [r.code for r in out.reasons]) == ("accept", ["ALLOW", "RULE_FAILED"])
    assert decide(probability=0.95, thresholds=T, hits=[hit("allow")]).reasons[-1].source == "rule"


def test_a_failed_deciding_rule_turns_an_accept_into_a_degraded_review() -> None:
    failed = [Reason("RULE_FAILED", "Rule burst could not be evaluated on this order.", "system")]
    out = decide(probability=0.01, thresholds=T, hits=[hit("signal")], degraded=failed)
    assert (out.decision, out.disposition) == ("review", "degraded")
    assert [r.code for r in out.reasons] == ["SIGNAL", "RULE_FAILED"]
    out = decide(probability=0.5, thresholds=T, hits=[], degraded=failed)  # the model reviews anyway
    assert (out.decision, out.disposition, out.reasons[0].code) == ("review", "model", "RULE_FAILED")


def test_the_model_s_signals_follow_the_rule_and_system_reasons() -> None:
    signal = Reason("MODEL_AMOUNT_USD", "amount_usd: 9,000.00", "model")
    hit = RuleHit("far", "IP_BILLING_FAR", "signal", "far away")
    missing = Reason("GEOIP_UNAVAILABLE", "no GeoIP", "system")
    plain = decide(probability=0.6, thresholds=Thresholds(review=0.5, reject=0.9), hits=[hit],
                   model_signals=[signal])
    assert (plain.decision, [r.code for r in plain.reasons]) == ("review", ["IP_BILLING_FAR", "MODEL_AMOUNT_USD"])
    degraded = decide(probability=0.6, thresholds=Thresholds(review=0.5, reject=0.9), hits=[hit],
                      model_signals=[signal], degraded=[missing])
    assert [r.code for r in degraded.reasons] == ["IP_BILLING_FAR", "GEOIP_UNAVAILABLE", "MODEL_AMOUNT_USD"]
