"""The back-test in money: how much of the fraud each system stops, how much good revenue it holds up.

Counting orders treats a $3 card test like a $900 dedicated server. A fraud team reports in
money: the fraud amount caught (sent to review or rejected) and rejected outright, and the
amount of good orders held up in review or declined. Amounts are the orders' ``amount_usd``
feature (the order amount at the service's exchange rates); an order whose amount is unknown
counts as 0 and is counted apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["money_table"]


def _cents(usd: np.ndarray) -> float:
    return round(float(usd.sum()), 2)


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def money_table(amounts: np.ndarray, y: np.ndarray, decisions: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Totals of the rows (``amounts`` in USD, NaN when unknown; ``y`` 1 for fraud) and, per
    system in ``decisions`` (0 accept, 1 review, 2 reject per row), the fraud amount it flags
    and rejects and the legit amount it flags and rejects, in USD and as shares."""
    known = ~np.isnan(np.asarray(amounts, dtype=np.float64))
    usd = np.where(known, amounts, 0.0)
    fraud = np.asarray(y) == 1
    fraud_usd, legit_usd = _cents(usd[fraud]), _cents(usd[~fraud])
    systems = {}
    for name, decided in decisions.items():
        flagged, rejected = decided >= 1, decided == 2
        amounts_of = {
            "fraud_flagged_usd": _cents(usd[fraud & flagged]),
            "fraud_rejected_usd": _cents(usd[fraud & rejected]),
            "legit_flagged_usd": _cents(usd[~fraud & flagged]),
            "legit_rejected_usd": _cents(usd[~fraud & rejected]),
        }
        systems[name] = {
            **amounts_of,
            "fraud_flagged_share": _share(amounts_of["fraud_flagged_usd"], fraud_usd),
            "fraud_rejected_share": _share(amounts_of["fraud_rejected_usd"], fraud_usd),
            "legit_flagged_share": _share(amounts_of["legit_flagged_usd"], legit_usd),
            "legit_rejected_share": _share(amounts_of["legit_rejected_usd"], legit_usd),
        }
    return {
        "currency": "USD",
        "fraud_usd": fraud_usd,
        "legit_usd": legit_usd,
        "rows_without_amount": int((~known).sum()),
        "systems": systems,
    }
