"""Email, phone, card, device and currency enrichment."""

from __future__ import annotations

import hashlib
import hmac
import json
import random

import phonenumbers
import pytest

from fraudscreen.enrich import card
from fraudscreen.enrich.card import card_key, find_card_numbers, luhn_valid
from fraudscreen.enrich.currency import KNOWN_CURRENCIES, USD_PER_UNIT, to_usd
from fraudscreen.enrich.device import DEVICE_TYPES, DeviceInfo, parse_user_agent, warm_up
from fraudscreen.enrich.email import (
    FREE_EMAIL_DOMAINS,
    EmailInfo,
    analyse_email,
    email_domain,
    email_hash,
    normalise_email,
)
from fraudscreen.enrich.phone import is_valid_phone, phone_country
from fraudscreen.errors import ConfigError

# -- email ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("jane.doe+shop@example.com", "jane.doe@example.com"),
        ("J.a.n.e.Doe+x@gmail.com", "janedoe@gmail.com"),
        ("jane.doe@GoogleMail.com", "janedoe@gmail.com"),
        ("jane.doe@gmail.com.", "janedoe@gmail.com"),
        ("+only@example.com", "+only@example.com"),  # nothing before the tag: kept
        ("user@bücher.de", "user@xn--bcher-kva.de"),
        ("jo\u0308se\u0301@example.org", "jösé@example.org"),  # decomposed accents: composed
        ("ｊａｎｅ@example.org", "jane@example.org"),  # full-width letters
        ("Jane\uff20example.org", "jane@example.org"),  # a full-width at sign
        ("no-at-sign", "no-at-sign"),
    ],
)
def test_normalise_email(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


def test_gmail_variants_share_one_hash() -> None:
    secret = b"s" * 32
    variants = ["janedoe@gmail.com", "Jane.Doe@googlemail.com", "j.a.n.e.d.o.e+promo@GMAIL.com"]
    hashes = {email_hash(normalise_email(v), secret) for v in variants}
    assert len(hashes) == 1


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("a@Example.COM", "example.com"),
        ("a@example.com.", "example.com"),
        ("a@bücher.de", "xn--bcher-kva.de"),
        ("a@ПРИМЕР.РФ", "xn--e1afmkfd.xn--p1ai"),
        ('"odd@local"@example.org', "example.org"),
        ("no-at-sign", None),
        ("a@", None),
        ("a@.", None),
    ],
)
def test_email_domain(address: str, domain: str | None) -> None:
    assert email_domain(address) == domain


def test_analyse_free_and_disposable() -> None:
    assert analyse_email("x@gmail.com") == EmailInfo("gmail.com", False, True, True)
    info = analyse_email("x@mailinator.com")
    assert info.is_disposable and not info.is_free and info.domain == "mailinator.com"
    assert analyse_email("x@example-hosting-company.com") == EmailInfo(
        "example-hosting-company.com", False, False, True
    )


def test_subdomain_of_disposable_is_disposable() -> None:
    assert analyse_email("x@eu.mail.mailinator.com").is_disposable
    assert not analyse_email("x@mailinator.com.example.org").is_disposable


def test_analyse_without_address() -> None:
    assert analyse_email(None) == EmailInfo(None, False, False, False)
    assert analyse_email("   ") == EmailInfo(None, False, False, False)
    # minFraud: hashed address plus a separate domain
    info = analyse_email("977577b140bfb7c516e4746204fbdb01", domain="Yahoo.co.uk")
    assert info == EmailInfo("yahoo.co.uk", False, True, True)
    assert analyse_email(None, domain="mailinator.com").is_disposable


def test_free_list_covers_the_majors() -> None:
    majors = "gmail.com yahoo.com outlook.com hotmail.com icloud.com mail.ru yandex.ru gmx.de"
    majors += " web.de proton.me protonmail.com qq.com 163.com naver.com aol.com zoho.com"
    for d in majors.split():
        assert d in FREE_EMAIL_DOMAINS, d
    assert len(FREE_EMAIL_DOMAINS) >= 60


def test_email_hash_is_hmac_sha256() -> None:
    secret = b"installation-secret"
    expected = hmac.new(secret, b"jane@example.com", hashlib.sha256).hexdigest()
    assert email_hash("jane@example.com", secret) == expected
    assert email_hash("jane@example.com", b"other") != expected
    assert len(expected) == 64


def test_email_hash_refuses_empty_secret() -> None:
    with pytest.raises(ConfigError) as info:
        email_hash("jane@example.com", b"")
    assert "jane" not in str(info.value)


# -- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "country_code", "region", "expected"),
    [
        ("+44 20 7946 0958", None, None, "GB"),
        ("020 7946 0958", "44", None, "GB"),  # national trunk prefix
        ("20 7946 0958", "+44", None, "GB"),
        ("020 7946 0958", None, "GB", "GB"),
        ("(415) 555-2671", "1", None, "US"),
        ("604 555 0123", "1", None, "CA"),  # +1 shared by US and Canada: the area code decides
        ("604 555 0123", "1", "US", "CA"),  # a Canadian area code stays Canadian
        ("800 555 0199", "1", "CA", "CA"),  # toll-free, valid in every +1 country: billing's
        ("800 555 0199", "1", None, "US"),  # no billing country: the library's main region
        ("+1 800 555 0199", None, "CA", "CA"),
        ("+44 1481 256789", None, "GB", "GG"),  # Guernsey's own numbers: not valid in GB
        ("+33 1 42 68 53 00", "44", None, "FR"),  # an explicit + wins over the country code
        ("06 12 34 56 78", "33", None, "FR"),
        ("020 7946 0958", None, None, None),  # national number, no way to know the country
        ("12345", "44", None, None),
        ("not a phone", "44", None, None),
        ("+800 1234 5678", None, None, None),  # valid but not in any country
        ("", "44", None, None),
        (None, "44", None, None),
    ],
)
def test_phone_country(
    number: str | None, country_code: str | None, region: str | None, expected: str | None
) -> None:
    assert phone_country(number, country_code, region) == expected


def _library_answer(number: str, country_code: str | None, region: str | None) -> tuple[bool, str | None]:
    """What ``phonenumbers.is_valid_number`` + ``region_code_for_number`` say, tried the same way."""
    cc = (country_code or "").strip().lstrip("+")
    if cc.isdigit() and not number.strip().startswith("+"):
        cc_region = phonenumbers.region_code_for_country_code(int(cc))
        tries = ([(number, cc_region)] if cc_region not in ("001", "ZZ") else []) + [(f"+{cc}{number}", None)]
    else:
        tries = [(number, region)]
    for text, try_region in tries:
        try:
            parsed = phonenumbers.parse(text, try_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            found = phonenumbers.region_code_for_number(parsed)
            return True, None if found in ("001", "ZZ") else found
    return False, None


def test_phone_answers_are_the_librarys_is_valid_number() -> None:
    """One region lookup per number gives what ``is_valid_number`` gives, for every region
    sharing a calling code (+1, +7, +44 with its Crown dependencies, +39 with the Vatican)."""
    numbers = [
        ("+1 604 555 0123", None, None), ("+1 415 555 2671", None, None), ("+1 876 555 0123", None, None),
        ("+1 809 555 0123", None, None), ("+1 264 497 1234", None, None), ("+1 340 642 1234", None, None),
        ("+7 701 123 4567", None, None), ("+7 912 345 6789", None, None), ("+7 840 123 4567", None, None),
        ("+44 1481 256789", None, None), ("+44 1534 456789", None, None), ("+44 1624 456789", None, None),
        ("+44 7781 123456", None, None), ("+44 7700 900123", None, None), ("+39 06 698 12345", None, None),
        ("+379 06 698 12345", None, None), ("+262 269 612345", None, None), ("+590 590 271234", None, None),
        ("+800 1234 5678", None, None), ("+882 1234 5678", None, None), ("0470 12 34 56", "32", None),
        ("0612345678", None, "FR"), ("7912 345678", "+44", None), ("(555) 0123", "1", None),
        ("123", None, "US"), ("+999 123 456", None, None),
    ]
    for number, country_code, region in numbers:
        expected = _library_answer(number, country_code, region)
        assert (is_valid_phone(number, country_code, region), phone_country(number, country_code, region)) == expected, number


def test_is_valid_phone() -> None:
    assert is_valid_phone("+1 202 456 1111")
    assert is_valid_phone("+800 1234 5678")
    assert not is_valid_phone("+44 12")
    assert not is_valid_phone(None)


# -- card -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "30569309025904",
    ],
)
def test_luhn_valid_test_cards(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4111111111111112", "1234567890123456", "", "4111 1111", "x"])
def test_luhn_invalid(number: str) -> None:
    assert not luhn_valid(number)


def test_find_cards_in_strings_numbers_lists_and_keys() -> None:
    body = {
        "credit_card": {"issuer_id_number": "411111", "last_digits": "1111", "token": "tok_1"},
        "plain": "4111111111111111",
        "spaced": "card 4111 1111 1111 1111 exp 12/29",
        "dashed": "5555-5555-5555-4444",
        "amex": "3782 822463 10005",
        "nested": {"list": [1, "x", ["note", "378282246310005"]]},
        "as_int": 4111111111111111,
        "as_float": 5555555555554444.0,
        "custom_inputs": {"4111111111111111": True},
        "a/b~c": "4111111111111111",
    }
    assert find_card_numbers(body) == [
        "/plain",
        "/spaced",
        "/dashed",
        "/amex",
        "/nested/list/2/1",
        "/as_int",
        "/as_float",
        "/custom_inputs/[card]",  # the key is not echoed
        "/a~1b~0c",
    ]


def test_card_hidden_in_longer_digit_runs() -> None:
    body = {
        "long": "000000000" + "4111111111111111",  # 25 digits
        "grouped_with_cvv": "4111 1111 1111 1111 123",  # 19 digits, card in the first four groups
        "full_width": "４１１１１１１１１１１１１１１１",
    }
    assert find_card_numbers(body) == ["/long", "/grouped_with_cvv", "/full_width"]
    # a long run holds a card only where a Luhn-valid 12-19 digit stretch starts with no 0
    assert find_card_numbers({"zeros": "0" * 24, "tracking": "0" * 8 + "12345678901234"}) == []


@pytest.mark.parametrize(
    "written",
    [
        "4111  1111  1111  1111",  # two spaces
        "4111\t1111\t1111\t1111",
        "4111 - 1111 - 1111 - 1111",
        "4111\u00a01111\u00a01111\u00a01111",  # no-break spaces
        "4111\u20131111\u20131111\u20131111",  # en dashes
        "4111\u200b1111\u200b1111\u200b1111",  # zero-width spaces
        "".join(chr(0x660 + int(d)) for d in "4111111111111111"),  # Arabic-Indic digits
        "".join(chr(0x966 + int(d)) for d in "4111111111111111"),  # Devanagari digits
        "4111.1111.1111.1111",
        "card: 5555.5555.5555.4444.",
        "+4111111111111111",  # 16 digits: longer than any phone number
        # in the card's own grouping, one separator repeated
        "ord-4111_1111_1111_1111",
        "4111    1111    1111    1111",  # four spaces
        "4111/1111/1111/1111",
        "5555:5555:5555:4444",
        "5555,5555,5555,4444",
        "5555+5555+5555+4444",
        "5555%205555%205555%204444",  # a URL's spaces
        "5105~1051~0510~5100",
        "x4111|1111|1111|1111.com",
        "3782.822463.10005",  # American Express, 4-6-5
        "3056*930902*5904",  # Diners, 4-6-4
        "6011\\0009\\9013\\9424",
        "2223/0031/2200/3222",  # Mastercard's 2-series
        "4111/1111/1111/1111/2026",  # and an expiry year after it
    ],
)
def test_cards_written_with_other_separators_and_digits(written: str) -> None:
    assert find_card_numbers({"note": written}) == ["/note"]


def test_no_false_positives() -> None:
    body = {
        "order_id": "1234567890123456",  # 16 digits, not Luhn-valid
        "near_miss": "4111111111111112",
        "eleven": "41111111111",
        "phone": "+44 20 7946 0958",
        "phone_us": "+1 (415) 555-2671",
        "phone_luhn_valid": "+44 7944 117715",  # passes Luhn, but a valid number after "+"
        "phone_e164": "+8613852611955",
        "ipv4_all_three_digit": "255.255.255.255",
        "dotted_short_groups": "4111.111.1111.1111",
        "newline_list": "4111\n1111\n1111\n1111",  # lines are separate values
        "timestamp": "2024-01-15 12:30:45",
        "date_slashes": "2024/01/15 12:30:45",
        "ports": "2082,2083,2086,2087",  # Luhn-invalid, and not a card network's first digits
        "luhn_valid_list": "9999,9999,9999,9995",  # no card network starts with 9
        "luhn_valid_ones": "1111/1111/1111/1117",  # nor with 1
        "mixed_separators": "4111/1111:1111,1111",  # one separator repeated, or none counts
        "ip": "81.2.69.142",
        "amount": 1234567.891,
        "fraction": 0.30000000000000004,
        "zeros": "0000000000000000",
        "bin_last": ["411111", "1111"],
        "flag": True,
        "nothing": None,
        "order": 1234567890123456,
    }
    assert find_card_numbers(body) == []


def test_find_cards_edge_values() -> None:
    body = {
        "huge_float": 4.111111111111111e18,  # from 1e16 on a float holds no exact 16 digits
        "negative": -4111111111111111,
        "control_char": "ref\u00014111111111111111",
        "accented": "Linköping 2024011512304500 Åre",
        "accented_card": "Café 4111 1111 1111 1111",
        "nan": float("nan"),
        "inf": float("inf"),
        12: "int key",
    }
    assert find_card_numbers(body) == ["/negative", "/control_char", "/accented_card"]


def test_fast_check_agrees_with_the_pointer_walk() -> None:
    """The one-pass pre-check must never miss what the per-value walk finds."""
    rng = random.Random(7)
    pieces = ["4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444", "1234567890123456"]
    pieces += ["0000000000000", "12345678901", " ", "-", "x", "é", "４", "\u0001", "9"]
    pieces += ["378282246310", "  ", "\t", "\u2013", "\u200b", "+", ".", "4111.", "\u0664"]
    pieces += ["+44 7944 117715", "1111.1111.1111", "5555/", "_", ",", "%20", "3782:822463:"]
    for _ in range(3000):

        def text() -> str:
            return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 3)))

        def value(depth: int) -> object:
            kind = rng.randint(0, 6 if depth < 3 else 3)
            if kind == 0:
                return rng.randint(-(10**19), 10**19)
            if kind == 1:
                return rng.uniform(-1e17, 1e17)
            if kind in (2, 3):
                return text()
            if kind == 4:
                return [value(depth + 1) for _ in range(rng.randint(0, 3))]
            return {text(): value(depth + 1) for _ in range(rng.randint(0, 3))}

        body = value(0)
        assert card._may_hold_card(body) == bool(card._walk(body)), body


def test_find_cards_top_level_values() -> None:
    assert find_card_numbers("4111111111111111") == [""]
    assert find_card_numbers([4111111111111111]) == ["/0"]
    assert find_card_numbers(None) == []


def test_find_cards_deep_nesting_does_not_recurse() -> None:
    body: object = "4111111111111111"
    for _ in range(5000):
        body = [body]
    assert find_card_numbers(body) == ["/0" * 5000]


def _order_body() -> dict[str, object]:
    """A 2 KB minFraud-like order with the usual digit runs (ids, dates, phone) and no card."""
    return {
        "device": {
            "ip_address": "81.2.69.142",
            "user_agent": CHROME_WIN,
            "accept_language": "en-GB,en;q=0.9",
            "session_age": 3600.5,
            "session_id": "a" * 32,
        },
        "event": {
            "transaction_id": "txn-2024-000123456",
            "shop_id": "s2",
            "time": "2024-01-15T12:30:45Z",
            "type": "purchase",
        },
        "account": {
            "user_id": "3132",
            "username_md5": "570a90bfbf8c7eab5dc5d4e26832d5b1",
            "created_at": "2023-11-02T08:00:00Z",
        },
        "email": {"address": "jane.doe@example.com", "domain": "example.com"},
        "billing": {
            "first_name": "Jane",
            "last_name": "Doe",
            "company": "Acme",
            "address": "1 High St",
            "city": "London",
            "region": "ENG",
            "country": "GB",
            "postal": "EC1A 1BB",
            "phone_number": "20 7946 0958",
            "phone_country_code": "44",
        },
        "shipping": {"city": "London", "country": "GB", "postal": "EC1A 1BB"},
        "payment": {"processor": "stripe", "was_authorized": False, "decline_code": "invalid cvv"},
        "credit_card": {
            "issuer_id_number": "411111",
            "last_digits": "1111",
            "token": "tok_1Nx2Yz3456",
            "bank_name": "Bank of No Hope",
            "avs_result": "Y",
            "cvv_result": "N",
        },
        "order": {"amount": 323.21, "currency": "GBP", "discount_code": "FIRST"},
        "shopping_cart": [
            {"category": "vps", "item_id": f"sku-{i:04d}", "quantity": 1, "price": 12.5}
            for i in range(12)
        ],
        "custom_inputs": {"plan_months": 12, "order_ref": "2024011512304500"},
    }


def test_no_card_in_a_realistic_order_body() -> None:
    body = _order_body()
    size = len(json.dumps(body))
    assert 1500 < size < 3000
    assert find_card_numbers(body) == []


def test_no_card_in_a_large_body_of_short_digit_runs() -> None:
    # 64 KB of digit runs with no card in them is the slow case: every window is tried.
    body = {"blob": ("1" * 11 + " ") * 5000}
    assert find_card_numbers(body) == []  # and it ends: no window is tried twice


def test_card_key() -> None:
    assert card_key("411111", "1111", "tok_abc") == "tok:tok_abc"
    assert card_key("411111", "1111", None) == "bin:411111:1111"
    assert card_key("411111", None, None) is None
    assert card_key(None, "1111", "") is None


# -- device -----------------------------------------------------------------------------------

CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/112.0.0.0 Mobile Safari/537.36"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 12; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/112.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("ua", "browser", "os", "kind"),
    [
        (CHROME_WIN, "Chrome", "Windows", "desktop"),
        (SAFARI_MAC, "Safari", "Mac OS X", "desktop"),
        (FIREFOX_LINUX, "Firefox", "Linux", "desktop"),
        (SAFARI_IPHONE, "Mobile Safari", "iOS", "mobile"),
        (CHROME_ANDROID_PHONE, "Chrome Mobile", "Android", "mobile"),
        (SAFARI_IPAD, "Mobile Safari", "iOS", "tablet"),
        (CHROME_ANDROID_TABLET, "Chrome", "Android", "tablet"),
    ],
)
def test_parse_user_agent(ua: str, browser: str, os: str, kind: str) -> None:
    expected = DeviceInfo(browser=browser, os=os, device_type=kind, is_bot=False)
    assert parse_user_agent(ua) == expected


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/120.0.0.0 Safari/537.36"
        ),
        "python-requests/2.31.0",
        "curl/8.4.0",
        (
            "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
            "PhantomJS/2.1.1 Safari/538.1"
        ),
        CHROME_WIN + " Selenium/4.15",
    ],
)
def test_bots_and_automation(ua: str) -> None:
    info = parse_user_agent(ua)
    assert info.is_bot and info.device_type == "bot"


@pytest.mark.parametrize("ua", [None, "", "   ", "garbage"])
def test_unknown_agents(ua: str | None) -> None:
    info = parse_user_agent(ua)
    assert info == DeviceInfo(None, None, "unknown", False)
    assert info.device_type in DEVICE_TYPES


def test_warm_up_then_parse() -> None:
    warm_up()  # loads the regexes (the cost is in benchmarks/screen_inprocess.py, not here)
    assert parse_user_agent(CHROME_WIN + " warm") == parse_user_agent(CHROME_WIN)


def test_parse_user_agent_is_cached() -> None:
    assert parse_user_agent(CHROME_WIN) is parse_user_agent(CHROME_WIN)


# -- currency ---------------------------------------------------------------------------------


def test_to_usd() -> None:
    assert to_usd(100.0, "USD") == 100.0
    assert to_usd(100.0, "eur") == pytest.approx(108.0)
    jpy = to_usd(10_000, "JPY")
    assert jpy is not None and 50 < jpy < 100
    assert to_usd(100.0, "XYZ") is None
    assert to_usd(100.0, None) is None
    assert to_usd(float("nan"), "USD") is None


COMMON_CURRENCIES = (
    "USD EUR GBP CAD AUD NZD JPY CHF SEK NOK DKK PLN CZK HUF RON BRL MXN INR CNY HKD SGD ZAR"
    " TRY RUB UAH KRW IDR PHP THB MYR NGN AED ILS"
)


def test_known_currencies() -> None:
    expected = set(COMMON_CURRENCIES.split())
    assert expected <= KNOWN_CURRENCIES
    assert all(rate > 0 for rate in USD_PER_UNIT.values())
    # the pound, euro and Swiss franc are each worth more than a dollar; the yen much less
    assert USD_PER_UNIT["GBP"] > USD_PER_UNIT["EUR"] > 1 and USD_PER_UNIT["JPY"] < 0.01
