"""The back-test in money: amounts caught and held up, on rows with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from fraudscreen.training.money import money_table


def test_amounts_follow_each_systems_decisions() -> None:
    amounts = np.array([10.0, 900.0, 50.0, 40.0, np.nan, 1.25])
    y = np.array([1, 1, 0, 0, 1, 0])
    decisions = {"model": np.array([0, 2, 1, 2, 2, 0]), "rules": np.zeros(6, dtype=np.int64)}
    out = money_table(amounts, y, decisions)
    assert out["fraud_usd"] == 910.0 and out["legit_usd"] == 91.25
    assert out["rows_without_amount"] == 1  # counted apart, as $0
    model = out["systems"]["model"]
    assert (model["fraud_flagged_usd"], model["fraud_rejected_usd"]) == (900.0, 900.0)
    assert (model["legit_flagged_usd"], model["legit_rejected_usd"]) == (90.0, 40.0)
    assert model["fraud_flagged_share"] == pytest.approx(900 / 910)
    assert model["legit_rejected_share"] == pytest.approx(40 / 91.25)
    rules = out["systems"]["rules"]
    assert rules["fraud_flagged_usd"] == rules["legit_flagged_usd"] == 0.0
    assert rules["fraud_flagged_share"] == 0.0


def test_no_fraud_amount_gives_no_share() -> None:
    out = money_table(np.array([5.0, 7.0]), np.array([0, 0]), {"model": np.array([1, 0])})
    assert out["fraud_usd"] == 0.0 and out["systems"]["model"]["fraud_flagged_share"] is None
    assert out["systems"]["model"]["legit_flagged_share"] == pytest.approx(5 / 12)
