"""Order amounts on one scale: a fixed table of approximate US-dollar rates.

The rates are APPROXIMATE and FIXED (rounded mid-market rates of 2024): they exist only to
put amounts of different currencies on one scale for the account profile and the model
(an order of 10,000 JPY and one of 60 EUR are both "small"). They are not for accounting,
they never update at run time (no network on the scoring path), and a change of this
table changes features: retrain the model after editing it.
"""

from __future__ import annotations

import math
from functools import lru_cache

__all__ = ["KNOWN_CURRENCIES", "USD_PER_UNIT", "iso_4217_codes", "to_usd"]

USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "CAD": 0.74,
    "AUD": 0.66,
    "NZD": 0.61,
    "JPY": 0.0067,
    "CHF": 1.13,
    "SEK": 0.095,
    "NOK": 0.094,
    "DKK": 0.145,
    "PLN": 0.25,
    "CZK": 0.043,
    "HUF": 0.0028,
    "RON": 0.22,
    "BGN": 0.55,
    "BRL": 0.19,
    "MXN": 0.055,
    "INR": 0.012,
    "CNY": 0.138,
    "HKD": 0.128,
    "TWD": 0.031,
    "SGD": 0.74,
    "ZAR": 0.054,
    "TRY": 0.031,
    "RUB": 0.011,
    "UAH": 0.025,
    "KRW": 0.00074,
    "IDR": 0.000063,
    "PHP": 0.0175,
    "THB": 0.028,
    "MYR": 0.215,
    "NGN": 0.00065,
    "AED": 0.2723,
    "SAR": 0.2667,
    "ILS": 0.27,
}
"""Approximate US dollars per unit of each currency (ISO 4217 codes); fixed, see module doc."""

KNOWN_CURRENCIES: frozenset[str] = frozenset(USD_PER_UNIT)
"""Currencies :func:`to_usd` can convert."""


@lru_cache(maxsize=1)
def iso_4217_codes() -> frozenset[str]:
    """The currency codes an order may name: ISO 4217's current list (``pycountry``, 178 codes,
    read once in ~40 ms) and those of :data:`USD_PER_UNIT` (``BGN``, withdrawn when Bulgaria
    took the euro in 2026, stays readable in older orders)."""
    import pycountry  # type: ignore[import-untyped]

    return frozenset(c.alpha_3 for c in pycountry.currencies) | KNOWN_CURRENCIES


def to_usd(amount: float, currency: str | None) -> float | None:
    """``amount`` in approximate US dollars; None for an unknown currency or a non-finite amount.

    A missing currency is not assumed to be USD: the caller decides (minFraud's default is USD).
    """
    if not currency:
        return None
    rate = USD_PER_UNIT.get(currency.strip().upper())
    if rate is None:
        return None
    value = float(amount)
    if not math.isfinite(value):
        return None
    return value * rate
