"""The rule context and features of an order, and how model reasons show its values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fraudscreen.enrich import GeoIP
from fraudscreen.enrich.card import card_key
from fraudscreen.errors import ConfigError
from fraudscreen.features import FEATURE_INDEX, describe_feature
from fraudscreen.rules import Rule, RuleSet
from fraudscreen.schema import parse_order
from fraudscreen.screening import Evaluation, Parts, Screener
from fraudscreen.training.memory_store import MemoryStore

from helpers import make_settings, order_body


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


def test_a_missing_value_is_said() -> None:
    """A first order has no previous one; a reason naming the gap says so instead of nothing."""
    assert describe_feature("profile_seconds_since_last_order", math.nan).endswith(": none, its first order")
    assert describe_feature("ip_distance_to_billing_km", math.nan).endswith(": unknown")
    assert describe_feature("ip_distance_to_billing_km") == "Distance from the IP location to the billing place (km)"


def test_a_card_is_one_card_whether_its_bin_is_sent_with_6_or_8_digits() -> None:
    assert card_key("41111122", "1111", None) == card_key("411111", "1111", None) == "bin:411111:1111"


# -- the context the rules read and the features the model reads (features.build_context) --

RULES = RuleSet.from_rules("gaps", [
    Rule("new", "NEW", "signal", "account.is_new", "New."),
    Rule("billship", "BILLSHIP", "signal", "mismatch.billing_shipping_country", "Bill/ship."),
    Rule("ipbill", "IPBILL", "signal", "mismatch.ip_billing_country", "IP/bill."),
])


@pytest.fixture
def screener(tmp_path: Path) -> Screener:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    geoip = GeoIP(settings.geoip_city_path, settings.geoip_asn_path, settings.geoip_anonymous_ip_path)
    return Screener(settings, Parts(store=MemoryStore(), geoip=geoip, model=None, rules=RULES))


def test_a_replay_screener_has_no_sql_store(screener: Screener) -> None:
    assert isinstance(screener.store, MemoryStore)
    with pytest.raises(ConfigError, match="SQL store"):
        _ = screener.sql_store


def _eval(screener: Screener, **changes: object) -> Evaluation:
    order, _ = parse_order(order_body(**changes))
    return screener.evaluate(order, build_response=False)


def _f(ev: Evaluation, name: str) -> float:
    return float(ev.features[FEATURE_INDEX[name]])


@pytest.mark.parametrize(("avs", "mismatch"), [("N", 1.0), ("A", 1.0), ("Z", 1.0), ("W", 1.0), ("Y", 0.0)])
def test_avs_codes_that_count_as_a_mismatch(screener: Screener, avs: str, mismatch: float) -> None:
    assert _f(_eval(screener, credit_card__avs_result=avs), "card_avs_mismatch") == mismatch


def test_item_count_sums_quantities(screener: Screener) -> None:
    cart = [{"category": "vps", "item_id": "a", "quantity": 3, "price": 1.0},
            {"category": "vps", "item_id": "b", "price": 1.0}]
    assert _f(_eval(screener, shopping_cart=cart), "item_count") == 4.0  # no quantity: one
    cart.append({"category": "vps", "item_id": "c", "quantity": 0, "price": 1.0})
    assert _f(_eval(screener, shopping_cart=cart), "item_count") == 4.0  # quantity 0: none (was 1)


def test_a_tablet_is_mobile(screener: Screener) -> None:
    ipad = ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
    assert _f(_eval(screener, device__user_agent=ipad), "device_is_mobile") == 1.0


def test_payment_method_is_card_when_card_details_are_sent(screener: Screener) -> None:
    ev = _eval(screener, payment__method=None)
    assert _f(ev, "payment_card") == 1.0


def test_account_under_a_day_old_is_new(screener: Screener) -> None:
    ev = _eval(screener, account__created_at="2026-11-20T00:00:00Z")  # 10 h before the order
    assert "new" in {h.rule_id for h in ev.hits}


def test_billing_and_shipping_countries_that_differ(screener: Screener) -> None:
    ev = _eval(screener, shipping={"country": "FR"})
    assert "billship" in {h.rule_id for h in ev.hits}
    assert "billship" not in {h.rule_id for h in _eval(screener, shipping={"country": "GB"}).hits}


def test_an_unknown_country_is_not_a_mismatch(screener: Screener) -> None:
    ev = _eval(screener, device__ip_address="10.0.0.1")  # private IP: no country
    assert "ipbill" not in {h.rule_id for h in ev.hits}
