"""Synthetic labelled orders of a web-hosting shop, as minFraud-shaped score requests.

``fraudscreen simulate --orders N --seed S --out FILE.jsonl[.gz]`` writes them. Every value
derives from the seed: the same seed gives byte-identical JSON Lines. Orders come out in
event-time order, over ``N / 150`` days (20,000 orders: about 4.4 months).

The data dictionary (every field, the scenarios and their shares, label semantics) is
``data/README.md``. The parts live in their own modules:

* :mod:`.sim_tables`: countries, currencies, products and prices, mail domains, agents.
* :mod:`.sim_ips`: addresses from the bundled DB-IP City Lite database, and the real
  networks that stand in for VPN / hosting / Tor ranges.
* :mod:`.sim_actors`: devices, accounts, rings, and the request builder.
* :mod:`.sim_legit`: honest traffic and its oddities (travellers, VPN users, offices,
  agencies, API clients, privacy-minded buyers, businesses buying big at sign-up).
* :mod:`.sim_patterns`: the fraud patterns and their shares, including friendly fraud and
  the drift pattern that starts half-way through the window.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fraudscreen.training.sim_actors import (
    CHARGEBACK_DAYS,
    LABEL_JOB_DAYS,
    LEGIT_LABEL_DAYS,
    MAX_ACCOUNT_AGE_DAYS,
    ORDERS_PER_DAY,
    Account,
    Device,
    Event,
    Ring,
)
from fraudscreen.training.sim_legit import LegitScenarios
from fraudscreen.training.sim_patterns import (
    DRIFT_PATTERN,
    DRIFT_START,
    FRAUD_RATE,
    FRAUD_SHARES,
    FraudPatterns,
)
from fraudscreen.training.sim_tables import CATALOG, COUNTRIES

__all__ = [
    "CATALOG", "CHARGEBACK_DAYS", "COUNTRIES", "DRIFT_PATTERN", "DRIFT_START", "FRAUD_RATE",
    "FRAUD_SHARES", "LABEL_JOB_DAYS", "LEGIT_LABEL_DAYS", "ORDERS_PER_DAY", "Account", "Device", "OrderSimulator",
    "Ring", "simulate_lines", "simulate_orders", "start_range",
]

RETURNING_SHARE = 0.70
"""Share of honest scenarios that are an existing customer's order."""
AGENCY_SHARE = 0.006
"""Share of honest scenarios that are an agency's batch (4-8 orders each)."""


def start_range(n: int, orders_per_day: float = ORDERS_PER_DAY) -> tuple[datetime, datetime]:
    """The earliest and latest start of ``n`` orders whose rows are all valid score requests
    (times from 1970 to 2099: account sign-ups before the window, labels after it);
    ValueError when ``n`` orders at ``orders_per_day`` cannot fit in those years at all."""
    earliest = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=MAX_ACCOUNT_AGE_DAYS)
    last = datetime(2099, 12, 31, tzinfo=UTC)
    label_days = LEGIT_LABEL_DAYS + LABEL_JOB_DAYS
    days = max(1.0, n / orders_per_day) + label_days + 1
    room = (last - earliest).days
    if days > room:
        most = int((room - label_days - 1) * orders_per_day)
        raise ValueError(f"{n} orders at {orders_per_day:g} a day span {days:,.0f} days, more than "
                         f"fit from {earliest:%Y-%m-%d} to {last:%Y-%m-%d} (every time in the rows "
                         f"must fall in 1970-2099): at most {most:,} orders at that rate")
    return earliest, last - timedelta(days=days)


class OrderSimulator(LegitScenarios, FraudPatterns):
    """Generates the orders of one simulation; scenarios are methods, easy to add to."""

    def __init__(self, n: int, *, seed: int, start: datetime,
                 orders_per_day: float = ORDERS_PER_DAY) -> None:
        if not orders_per_day > 0:
            raise ValueError("orders_per_day must be positive")
        earliest, latest = start_range(n, orders_per_day)
        if not earliest <= start <= latest:
            raise ValueError(f"the start of {n} orders must lie from {earliest:%Y-%m-%d} to "
                             f"{latest:%Y-%m-%d}: accounts sign up to {MAX_ACCOUNT_AGE_DAYS:.0f} "
                             "days earlier, and labels arrive up to "
                             f"{LEGIT_LABEL_DAYS + LABEL_JOB_DAYS:.0f} days after the window")
        super().__init__(n, seed=seed, start=start, orders_per_day=orders_per_day)
        self.build_population()
        self.init_patterns()
        self.fraud_counts = {k: 0 for k in FRAUD_SHARES}
        """Fraud orders generated per pattern."""

    def _next_fraud(self, frauds: int) -> str:
        """The pattern furthest below its share."""
        return max(FRAUD_SHARES, key=lambda k: FRAUD_SHARES[k] * (frauds + 1) - self.fraud_counts[k])

    def run(self) -> list[Event]:
        """Scenarios until ``n`` orders exist (fraud kept near :data:`FRAUD_RATE`), time-sorted."""
        patterns: dict[str, Callable[[], None]] = {k: getattr(self, k) for k in FRAUD_SHARES}
        frauds = 0
        while len(self.events) < self.n:
            if frauds < FRAUD_RATE * len(self.events):
                pattern = self._next_fraud(frauds)
                target = FRAUD_SHARES[pattern] * FRAUD_RATE * self.n
                self.fraud_budget = max(1, round(target) - self.fraud_counts[pattern])
                before = len(self.events)
                patterns[pattern]()
                added = sum(e[2].label == "fraud" for e in self.events[before:])
                self.fraud_counts[pattern] += added
                frauds += added
                continue
            roll = self.rng.random()
            if roll < AGENCY_SHARE:
                self.agency_batch()
            elif roll < RETURNING_SHARE:
                self.returning_order()
            else:
                self.new_customer()
        self.events.sort(key=lambda e: (e[0], e[1]))
        del self.events[self.n:]
        self._tag_after_dispute()
        return self.events

    def _tag_after_dispute(self) -> None:
        """Honest orders of an account after its friendly-fraud chargeback landed."""
        disputed = {a.user_id: a.traits["disputed_at"] for a in self.population
                    if "disputed_at" in a.traits}
        for t, _, order in self.events:
            at = disputed.get(order.user_id)
            if at is not None and t > at and order.label == "legit":
                order.scenario = "after_dispute"


def simulate_orders(
    n: int, *, seed: int, start: datetime, orders_per_day: float = ORDERS_PER_DAY
) -> Iterator[dict[str, Any]]:
    """Yield ``n`` labelled score requests in event-time order; same seed, same output.

    The orders spread over ``n / orders_per_day`` days: the default is a small shop (20,000
    orders in about four months); a larger shop's year is, for example, 1,000,000 orders at
    2,740 a day."""
    for line in simulate_lines(n, seed=seed, start=start, orders_per_day=orders_per_day):
        yield json.loads(line)


def simulate_lines(
    n: int, *, seed: int, start: datetime, orders_per_day: float = ORDERS_PER_DAY
) -> Iterator[str]:
    """The rows of :func:`simulate_orders` as compact JSON text (no newline), as a file holds
    them; each order's text is let go once yielded."""
    events = OrderSimulator(n, seed=seed, start=start, orders_per_day=orders_per_day).run()
    events.reverse()  # popped from the end, the first first: each freed once yielded
    while events:
        yield events.pop()[2].json()
