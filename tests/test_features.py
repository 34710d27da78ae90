"""How model reasons show an order's values to reviewers."""

from __future__ import annotations

import pytest

from fraudscreen.enrich.card import card_key
from fraudscreen.features import describe_feature


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("amount_usd", 12345.67, "12,345.67"),  # was "1.235e+04"
        ("profile_amount_usd_30d", 99999.0, "99,999.00"),  # was "1e+05"
        ("profile_seconds_since_last_order", 86400.0, "86,400"),  # was "8.64e+04"
        ("ip_distance_to_billing_km", 7643.2, "7,643"),
        ("account_age_days", 0.0002315, "0.0002315"),
        ("account_age_days", 0.00001, "0.00001"),
        ("account_age_days", 12.5, "12.5"),
    ],
)
def test_values_are_shown_without_exponents(name: str, value: float, shown: str) -> None:
    assert describe_feature(name, value).endswith(f": {shown}")


def test_a_card_is_one_card_whether_its_bin_is_sent_with_6_or_8_digits() -> None:
    assert card_key("41111122", "1111", None) == card_key("411111", "1111", None) == "bin:411111:1111"
