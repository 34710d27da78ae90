"""build_profile: windows, clamping, missing history, distinct counts, account age."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from fraudscreen.profile import (
    SHARED_COUNT_CAP,
    AccountHistory,
    EntityKeys,
    PastOrder,
    ProfileSnapshot,
    build_profile,
    empty_profile,
)

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def order(
    ago: timedelta,
    amount: float | None = 10.0,
    *,
    ip: str | None = "192.0.2.1",
    country: str | None = "US",
    card: str | None = "card-1",
    device: str | None = "dev-1",
    decision: str = "accept",
) -> PastOrder:
    return PastOrder(AT - ago, amount, ip, country, card, device, decision)


def history(*orders: PastOrder, **changes: object) -> AccountHistory:
    values: dict[str, object] = {
        "account_id": "acct-1",
        "created_at": None,
        "first_seen": min((o.event_time for o in orders), default=None),
        "prior_orders": len(orders),
        "prior_decisions": {"accept": len(orders)},
        "last_order_time": max((o.event_time for o in orders), default=None),
        "recent_orders": list(orders),
        "outcomes": {},
        "shared": {},
    }
    values.update(changes)
    return AccountHistory(**values)  # type: ignore[arg-type]


def test_no_history_gives_zeros_and_age_from_the_order() -> None:
    profile = build_profile(None, at=AT, account_created_at=AT - timedelta(days=3))
    assert profile.account_age_days == pytest.approx(3.0)
    assert profile.orders_30d == 0 and profile.prior_orders == 0
    assert profile.seconds_since_last_order is None
    assert build_profile(None, at=AT, account_created_at=None) == empty_profile()
    assert empty_profile().account_age_days is None


def test_window_boundaries_are_inclusive_at_start_and_exclusive_at_the_order() -> None:
    hist = history(
        order(timedelta(0), 1000.0),  # at the order time itself: never counted
        order(timedelta(hours=1), 1.0),  # exactly 1 h before: in the 1 h window
        order(timedelta(hours=1, microseconds=1), 2.0),  # just outside 1 h
        order(timedelta(hours=24), 4.0),  # exactly 24 h: in 24 h
        order(timedelta(days=30), 8.0),  # exactly 30 d: in 30 d
        order(timedelta(days=30, seconds=1), 16.0),  # outside every window
        order(-timedelta(minutes=5), 32.0),  # after the order: never counted
    )
    profile = build_profile(hist, at=AT, account_created_at=None)
    assert (profile.orders_1h, profile.orders_24h, profile.orders_30d) == (1, 3, 4)
    assert profile.amount_usd_1h == pytest.approx(1.0)
    assert profile.amount_usd_24h == pytest.approx(7.0)
    assert profile.amount_usd_30d == pytest.approx(15.0)


def test_missing_amounts_count_as_orders_but_add_nothing() -> None:
    profile = build_profile(
        history(order(timedelta(minutes=5), None), order(timedelta(minutes=6), 5.5)),
        at=AT,
        account_created_at=None,
    )
    assert profile.orders_1h == 2
    assert profile.amount_usd_1h == pytest.approx(5.5)


def test_distinct_counts_ignore_missing_values() -> None:
    hist = history(
        order(timedelta(hours=1), ip="192.0.2.1", country="US", card="c1", device="d1"),
        order(timedelta(hours=2), ip="192.0.2.2", country="US", card="c1", device=None),
        order(timedelta(days=2), ip="198.51.100.7", country="DE", card="c2", device="d2"),
        order(timedelta(days=3), ip=None, country=None, card=None, device="d2"),
        order(timedelta(days=40), ip="203.0.113.9", country="FR", card="c3", device="d3"),
    )
    profile = build_profile(hist, at=AT, account_created_at=None)
    assert profile.distinct_ips_30d == 3
    assert profile.distinct_ip_countries_30d == 2
    assert profile.distinct_cards_30d == 2
    assert profile.distinct_devices_30d == 2


@pytest.mark.parametrize(
    ("order_created", "stored_created", "first_seen", "expected_days"),
    [
        (AT - timedelta(days=10), AT - timedelta(days=20), AT - timedelta(days=5), 10.0),
        (None, AT - timedelta(days=20), AT - timedelta(days=5), 20.0),
        (None, None, AT - timedelta(days=5), 5.0),
        (None, None, None, None),
        (AT + timedelta(days=2), None, None, 0.0),  # created "in the future": clamped
    ],
)
def test_account_age_precedence_and_clamping(
    order_created: datetime | None,
    stored_created: datetime | None,
    first_seen: datetime | None,
    expected_days: float | None,
) -> None:
    hist = history(created_at=stored_created, first_seen=first_seen)
    profile = build_profile(hist, at=AT, account_created_at=order_created)
    if expected_days is None:
        assert profile.account_age_days is None
    else:
        assert profile.account_age_days == pytest.approx(expected_days)


def test_counts_outcomes_shared_and_time_since_last_order() -> None:
    hist = history(
        order(timedelta(minutes=90)),
        prior_orders=7,
        prior_decisions={"accept": 4, "review": 2, "reject": 1},
        last_order_time=AT - timedelta(minutes=90),
        outcomes={"chargeback": 1, "fraud": 2, "not_fraud": 3, "refund": 4},
        shared={"ip": (1, 2), "device": (3, 4), "card": (5, 6), "email_domain": (7, 8)},
    )
    p = build_profile(hist, at=AT, account_created_at=None)
    assert p.seconds_since_last_order == pytest.approx(5400.0)
    assert (p.prior_orders, p.prior_accepts, p.prior_reviews, p.prior_rejects) == (7, 4, 2, 1)
    assert (p.chargebacks, p.fraud_reports, p.not_fraud_reports, p.refunds) == (1, 2, 3, 4)
    assert (p.ip_accounts_1d, p.ip_accounts_ever) == (1, 2)
    assert (p.device_accounts_1d, p.device_accounts_ever) == (3, 4)
    assert (p.card_accounts_1d, p.card_accounts_ever) == (5, 6)
    assert (p.email_domain_accounts_1d, p.email_domain_accounts_ever) == (7, 8)


def test_to_dict_is_json_ready_and_names_every_field() -> None:
    p = build_profile(history(order(timedelta(hours=2))), at=AT, account_created_at=None)
    data = p.to_dict()
    assert tuple(data) == ProfileSnapshot.field_names()
    assert json.loads(json.dumps(data)) == data
    assert data["orders_24h"] == 1


def test_entity_keys_shared_items_skip_missing_and_email_hash() -> None:
    keys = EntityKeys(
        ip="192.0.2.1", device_id=None, card_key="c", email_domain="example.com", email_hash="h"
    )
    assert keys.shared_items() == [
        ("ip", "192.0.2.1"),
        ("card", "c"),
        ("email_domain", "example.com"),
    ]


def test_build_profile_clamps_shared_counts_and_negative_gaps() -> None:
    at = datetime(2024, 5, 1, tzinfo=UTC)
    history = AccountHistory("a", None, None, 1, {"accept": 1}, at + timedelta(seconds=5), (),
                             {}, {"ip": (250, 1000)})
    profile = build_profile(history, at=at, account_created_at=None)
    assert (profile.ip_accounts_1d, profile.ip_accounts_ever) == (SHARED_COUNT_CAP, SHARED_COUNT_CAP)
    assert profile.seconds_since_last_order == 0.0
