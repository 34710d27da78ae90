"""The cached validators and the unknown-field walk of fraudscreen.schema behave like plain ones."""

from __future__ import annotations

import pytest

from fraudscreen.errors import InvalidRequestError
from fraudscreen.schema import parse_order

from helpers import order_body


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [({"device__ip_address": "10.0.0.256"}, "/device/ip_address"),
     ({"billing__country": "G1"}, "/billing/country")],
)
def test_a_cached_validator_refuses_a_bad_value_every_time(changes: dict, pointer: str) -> None:
    for _ in range(3):
        with pytest.raises(InvalidRequestError) as info:
            parse_order(order_body(**changes))
        assert [d.pointer for d in info.value.details] == [pointer]


def test_cached_values_are_normalised_per_input() -> None:
    first, _ = parse_order(order_body(device__ip_address="2001:DB8::1", billing__country="fr"))
    second, _ = parse_order(order_body(device__ip_address="2001:db8:0::1", billing__country="FR"))
    assert first.device.ip_address == second.device.ip_address == "2001:db8::1"
    assert first.billing.country == second.billing.country == "FR"


def test_unknown_fields_come_in_document_order_at_every_depth() -> None:
    data = order_body()
    data["zz_top"] = 1
    data["billing"]["floor"] = 3
    data["shopping_cart"] = [{"category": "vps"}, {"category": "ssl", "colour": "red"}]
    data["credit_card"]["nickname"] = "x"
    _, warnings = parse_order(data)
    assert [w.input_pointer for w in warnings] == [
        "/zz_top", "/billing/floor", "/credit_card/nickname", "/shopping_cart/1/colour",
    ]
    _, clean = parse_order(order_body())
    assert clean == []
