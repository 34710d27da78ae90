"""What screening answers: the decision, its reasons and its warnings.

These are the response models integrators and reviewers read; every field is documented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")
"""Characters that reorder the text around them when shown (Trojan Source, CVE-2021-42574);
the marks U+200E and U+200F, which right-to-left messages need, are not among them."""


def answer_text_problem(text: str, longest: int) -> str | None:
    """Why ``text`` (a rule's message, the rules' or the model's version) may not go into every
    answer it is part of, stored for years with the order; None when it may. As list notes: no
    control character, no e-mail address, no card number."""
    from fraudscreen.enrich.card import find_card_numbers
    from fraudscreen.enrich.email import EMAIL_IN_TEXT
    from fraudscreen.schema import CONTROL_CHARACTER

    if len(text) > longest:
        return f"must be at most {longest} characters (it has {len(text)})"
    if CONTROL_CHARACTER.search(text):
        return "must be one line: no tabs, line breaks or other control characters"
    if BIDI_CONTROL.search(text):  # U+202E showed "v1gpj.exe" as "v1exe.jpg"
        return "must not hold direction overrides or isolates (U+202A-U+202E, U+2066-U+2069)"
    if EMAIL_IN_TEXT.search(text) or find_card_numbers(text):
        return "must not hold an e-mail address or a card number (it goes into every answer)"
    return None


Decision = Literal["accept", "review", "reject"]
DECISIONS: tuple[Decision, ...] = ("accept", "review", "reject")


@dataclass(frozen=True, slots=True)
class ScreeningWarning:
    """A non-fatal remark: an ignored field, a private IP, a missing model or database."""

    code: str
    """Stable code, for example ``unknown_field``, ``ip_private``, ``model_unavailable``."""
    message: str
    """Human-readable explanation; never contains personal data."""
    input_pointer: str | None = None
    """JSON pointer of the request field concerned, if any."""

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "input_pointer": self.input_pointer}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why the decision is what it is: one rule hit or one strong model signal."""

    code: str
    """Stable reason code, for example ``DISPOSABLE_EMAIL`` or ``MODEL_PROFILE_ORDERS_1H``."""
    message: str
    """Text shown to reviewers."""
    source: Literal["rule", "model", "system"]
    """``rule`` for a rule hit, ``model`` for a model signal, ``system`` for a degraded mode."""

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "source": self.source}


@dataclass(frozen=True)
class ScreeningResult:
    """The answer to one score request."""

    id: str
    """fraudscreen's id for this screened order."""
    order_id: str | None
    """The checkout's ``event.transaction_id``."""
    decision: Decision
    """``accept``, ``review`` or ``reject``."""
    risk_score: float | None
    """Fraud probability as a percentage, 0.01–99; ``None`` when no model could score."""
    reasons: list[Reason]
    """Rule hits first, in precedence order, then the strongest model signals."""
    ip_location: dict[str, Any]
    """Where the IP address is: country, region, city, latitude, longitude, accuracy radius."""
    profile: dict[str, Any]
    """The account fraud profile as it was before this order."""
    model_version: str | None
    """Version of the model bundle that scored the order; ``None`` when none was loaded."""
    rules_version: str | None
    """Version of the rules file that was evaluated."""
    warnings: list[ScreeningWarning] = field(default_factory=list)
    """Non-fatal remarks about the request or the service's state."""
    disposition: Literal["model", "rule", "degraded"] = "model"
    """What decided: the model's thresholds, a rule, or a degraded mode (a part was missing)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "order_id": self.order_id,
            "decision": self.decision,
            "risk_score": self.risk_score,
            "disposition": self.disposition,
            "reasons": [r.to_dict() for r in self.reasons],
            "ip_location": self.ip_location,
            "profile": self.profile,
            "model_version": self.model_version,
            "rules_version": self.rules_version,
            "warnings": [w.to_dict() for w in self.warnings],
        }
