"""The score request schema: pointers in errors, warnings for unknown fields, card refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fraudscreen.errors import CardNumberRefusedError, InvalidRequestError
from fraudscreen.schema import parse_order

from helpers import order_body


def body(**changes: object) -> dict:
    return order_body(**changes)


def test_valid_order_is_normalised() -> None:
    order, warnings = parse_order(
        body(billing__country="gb", order__currency="gbp", account__created_at="2026-11-01T09:00:00+01:00")
    )
    assert warnings == []
    assert order.billing.country == "GB"
    assert order.order.currency == "GBP"
    assert order.account.created_at == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert order.event.time == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20t10:00:00z", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),  # RFC 3339 allows it
        ("2026-11-20 11:00:00+01:00", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
        ("2026-11-20T10:00:00.123456789Z", datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-20T10:00:00,5Z", datetime(2026, 11, 20, 10, 0, 0, 500000, tzinfo=UTC)),  # as before
        ("2026-11-20T10:00:00.123456789012Z", datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-20T10:00:00", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),  # no offset: UTC
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
    ],
)
def test_rfc3339_spellings_are_accepted(text: str, expected: datetime) -> None:
    order, _ = parse_order(body(event__time=text))
    assert order.event.time == expected


def test_ipv6_is_accepted_and_canonical() -> None:
    order, _ = parse_order(body(device__ip_address="2001:0DB8::0001"))
    assert order.device.ip_address == "2001:db8::1"


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"device__ip_address": "999.1.1.1"}, "/device/ip_address"),
        ({"device__ip_address": None}, "/device/ip_address"),
        ({"billing__country": "GBR"}, "/billing/country"),
        ({"order__amount": -1}, "/order/amount"),
        ({"order__currency": "pounds"}, "/order/currency"),
        ({"order__currency": "XYZ"}, "/order/currency"),  # three letters, but no ISO 4217 code
        ({"event__time": "yesterday"}, "/event/time"),
        # Unix times: seconds and milliseconds cannot be told apart, and the replay reads only
        # RFC 3339 (tests/test_replay.py)
        ({"event__time": 1764000000}, "/event/time"),
        ({"event__time": "1764000000"}, "/event/time"),
        ({"account__created_at": 17640.5}, "/account/created_at"),
        ({"event__time": "2026-02-30T10:00:00Z"}, "/event/time"),
        ({"email__address": "not-an-email"}, "/email/address"),
        ({"credit_card__issuer_id_number": "4111"}, "/credit_card/issuer_id_number"),
        ({"credit_card__last_digits": "111"}, "/credit_card/last_digits"),
        ({"shopping_cart": [{"quantity": "many"}]}, "/shopping_cart/0/quantity"),
        ({"event__type": "burglary"}, "/event/type"),
        # numbers and booleans must be JSON numbers and booleans, as the OpenAPI document says
        ({"order__amount": True}, "/order/amount"),
        ({"order__amount": "12.5"}, "/order/amount"),
        ({"shopping_cart": [{"price": "12.5"}]}, "/shopping_cart/0/price"),
        ({"shopping_cart": [{"quantity": 3.5}]}, "/shopping_cart/0/quantity"),
        ({"shopping_cart": [{"quantity": True}]}, "/shopping_cart/0/quantity"),
        ({"order__is_gift": "yes"}, "/order/is_gift"),
        ({"payment__was_authorized": "off"}, "/payment/was_authorized"),
        ({"credit_card__was_3d_secure_successful": 1}, "/credit_card/was_3d_secure_successful"),
        ({"device__session_age": "60"}, "/device/session_age"),
    ],
)
def test_errors_point_at_the_field(changes: dict, pointer: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_order(body(**changes))
    assert info.value.code == "invalid_request"
    assert pointer in [d.pointer for d in info.value.details]


def test_several_errors_are_all_reported() -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_order(body(billing__country="X", order__amount="lots"))
    pointers = {d.pointer for d in info.value.details}
    assert {"/billing/country", "/order/amount"} <= pointers


def test_error_messages_do_not_echo_input() -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_order(body(email__address="secret.person@@nowhere"))
    text = str(info.value) + " ".join(d.message for d in info.value.details)
    assert "secret.person" not in text


def test_non_object_body_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_order(["not", "an", "object"])
    assert info.value.details[0].pointer == ""


def test_unknown_fields_are_warnings_with_pointers() -> None:
    data = body()
    data["device"]["colour"] = "blue"
    data["surprise"] = 1
    data["shopping_cart"][0]["gift_wrap"] = True
    order, warnings = parse_order(data)
    assert order.device.ip_address == "81.2.69.142"
    assert {w.input_pointer for w in warnings} == {
        "/device/colour",
        "/surprise",
        "/shopping_cart/0/gift_wrap",
    }
    assert {w.code for w in warnings} == {"unknown_field"}
    # the replay keeps no answer and does not look for them; the order is the same
    lean, none = parse_order(data, warn_unknown=False)
    assert none == [] and lean == order


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"credit_card__token": "4111111111111111"}, "/credit_card/token"),
        ({"custom_inputs": {"note": "card 4111 1111 1111 1111 thanks"}}, "/custom_inputs/note"),
        ({"order__discount_code": "5555-5555-5555-4444"}, "/order/discount_code"),
        ({"shopping_cart": [{"item_id": 378282246310005}]}, "/shopping_cart/0/item_id"),
        ({"billing__phone_number": "4111 1111 1111 1111"}, "/billing/phone_number"),
        ({"shipping": {"phone_number": "4111111111111111", "country": "US"}}, "/shipping/phone_number"),
    ],
)
def test_full_card_number_anywhere_is_refused(changes: dict, pointer: str) -> None:
    with pytest.raises(CardNumberRefusedError) as info:
        parse_order(body(**changes))
    assert info.value.status == 400
    assert info.value.code == "card_number_refused"
    assert [d.pointer for d in info.value.details] == [pointer]
    assert "4111" not in info.value.message


@pytest.mark.parametrize(
    "billing",
    [
        {"phone_number": "447944117715", "country": "GB"},  # passes Luhn: a card by its digits
        {"phone_number": "447944117715"},  # country code included, no "+"
        {"phone_number": "+44 7944 117715"},
        {"phone_number": "8613852611955", "country": "CN"},
    ],
)
def test_a_valid_phone_number_in_a_phone_field_is_not_a_card(billing: dict) -> None:
    order, _ = parse_order(body(billing=billing))
    assert order.billing.phone_number == billing["phone_number"]


def test_a_luhn_valid_number_elsewhere_is_still_refused() -> None:
    with pytest.raises(CardNumberRefusedError) as info:
        parse_order(body(custom_inputs={"contact": "447944117715"}))
    assert [d.pointer for d in info.value.details] == ["/custom_inputs/contact"]


def test_card_refusal_wins_over_schema_errors() -> None:
    with pytest.raises(CardNumberRefusedError):
        parse_order(body(device__ip_address="bad", credit_card__token="4111111111111111"))


def test_order_ids_that_fail_luhn_are_fine() -> None:
    order, _ = parse_order(body(event__transaction_id="4111111111111112"))
    assert order.event.transaction_id == "4111111111111112"


@pytest.mark.parametrize("pointer", ["/account/user_id", "/event/transaction_id", "/device/id"])
def test_empty_identifiers_are_refused(pointer: str) -> None:
    _, part, field = pointer.split("/")
    with pytest.raises(InvalidRequestError) as info:
        parse_order(body(**{f"{part}__{field}": "  "}))
    assert [(d.pointer, d.message) for d in info.value.details] == [(pointer, "must not be empty or blank")]


@pytest.mark.parametrize("pointer", ["/account/user_id", "/event/transaction_id", "/email/domain"])
def test_a_control_character_is_named_as_such(pointer: str) -> None:
    _, part, field = pointer.split("/")
    with pytest.raises(InvalidRequestError) as info:
        parse_order(body(**{f"{part}__{field}": "a\x07b"}))
    assert [(d.pointer, d.message) for d in info.value.details] == [
        (pointer, "must not contain control characters")
    ]


def test_a_whole_number_written_with_a_fraction_is_a_valid_quantity() -> None:
    """JSON Schema counts 3.0 an integer, and clients that write every number as a float send it."""
    order, _ = parse_order(body(shopping_cart=[{"category": "vps", "quantity": 3.0, "price": 10}]))
    assert order.shopping_cart[0].quantity == 3 and type(order.shopping_cart[0].quantity) is int


def test_times_are_written_back_as_rfc3339_in_utc() -> None:
    from datetime import timedelta, timezone

    from fraudscreen.schema import rfc3339, rfc3339_text

    paris = datetime(2026, 1, 5, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    assert rfc3339_text(paris) == "2026-01-05T10:00:00Z"
    assert rfc3339_text(paris.timestamp()) == "2026-01-05T10:00:00Z"
    assert rfc3339_text(paris.timestamp() + 0.25) == "2026-01-05T10:00:00.250000Z"
    assert rfc3339(rfc3339_text(paris)) == paris  # what is written reads back
