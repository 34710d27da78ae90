"""The score request: MaxMind minFraud object names plus the extensions screening needs.

:func:`parse_order` turns a decoded JSON body into an :class:`OrderRequest`, or raises
:class:`~fraudscreen.errors.InvalidRequestError` whose ``details`` carry a JSON pointer per
problem (``/device/ip_address``). A full card number anywhere in the body is refused
before anything else looks at it (:class:`~fraudscreen.errors.CardNumberRefusedError`).
Unknown fields are not errors: they come back as warnings. Names and street addresses are
accepted for compatibility with minFraud integrations and then ignored: nothing keeps them.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from fraudscreen.enrich.card import find_card_numbers
from fraudscreen.enrich.countries import country_code_problem
from fraudscreen.enrich.currency import iso_4217_codes
from fraudscreen.enrich.email import holds_email
from fraudscreen.enrich.geo import unmapped
from fraudscreen.enrich.phone import is_valid_phone
from fraudscreen.errors import CardNumberRefusedError, ErrorDetail, InvalidRequestError
from fraudscreen.jsontext import LONE_SURROGATE, lone_surrogates
from fraudscreen.profile import OUTCOMES
from fraudscreen.result import ScreeningWarning
from fraudscreen.schema_report import (
    NON_BLANK,
    PRINTABLE,
    unknown_field_warnings,
    validation_details,
)

__all__ = ["CART_CATEGORIES", "OUTCOMES", "OrderRequest", "parse_order", "parse_time", "rfc3339",
           "rfc3339_text"]

CART_CATEGORIES = ("hosting", "vps", "dedicated", "domain", "ssl", "email", "other")

_CURRENCY = re.compile(r"^[A-Z]{3}$")

_PRINTABLE = PRINTABLE
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0 and C1 control characters and DEL: what :data:`~fraudscreen.schema_report.PRINTABLE`
refuses, for text outside a request body (path ids) and text shown on a terminal and kept in
reports and answers (a segment's name, a rule's message)."""
Text255 = Annotated[str, Field(max_length=255)]
NO_EMAIL_IN_IDS = ("must not hold an e-mail address, which is never stored raw: send it in "
                   "email.address (kept as a keyed hash) and an id of your own here")
"""Why an id holding an e-mail address is refused (ids are stored as sent)."""


def _no_email(value: str) -> str:
    if holds_email(value):
        raise ValueError(NO_EMAIL_IN_IDS)
    return value


Id255 = Annotated[str, Field(min_length=1, max_length=255, pattern=NON_BLANK), AfterValidator(_no_email)]
"""An identifier: not empty once whitespace is stripped, no control characters, no e-mail
address (it is stored as sent)."""
MAX_ACCOUNT_ID = 128
"""The longest account id (the store's key)."""
AccountId = Annotated[str, Field(min_length=1, max_length=MAX_ACCOUNT_ID, pattern=NON_BLANK),
                      AfterValidator(_no_email)]
"""An account id: at most 128 characters (the store's key), no e-mail address."""
StoredText = Annotated[str, Field(max_length=255, pattern=_PRINTABLE)]
"""Free text the store keeps (or derives a stored key from): no control characters."""
CardToken = Annotated[str, Field(max_length=251, pattern=_PRINTABLE), AfterValidator(_no_email)]
"""A card token: kept as ``tok:`` + token in a 255-character column; no e-mail address."""


class _Part(BaseModel):
    """Base of every request object: unknown keys are kept aside and reported as warnings."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, frozen=True)


def _upper_country(value: str | None) -> str | None:
    if value is None:
        return None
    return _country_code(value)


@lru_cache(maxsize=1024)
def _country_code(value: str) -> str:
    """``value`` upper-cased if it is a country code; ValueError (not cached) otherwise."""
    value = value.upper()
    problem = country_code_problem(value)
    if problem:  # UK or ZZ: refused; taken, they would read as unknown countries and set off
        # the country mismatch signals
        raise ValueError(problem)
    return value


MAX_CLOCK_SKEW = timedelta(days=1)
"""How far ahead of the server's clock an order's or an outcome's time may be."""
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""Times before this are refused (no order or account is older)."""
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)
"""Times from this on are refused (they would overflow the profile's time windows)."""
_TIME_RANGE = "must be a time from 1970 to 2099"


def _aware(value: datetime | None) -> datetime | None:
    """``value`` in UTC (naive = UTC); ValueError outside :data:`EARLIEST_TIME`..:data:`LATEST_TIME`."""
    if value is None:
        return None
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC time
        raise ValueError(_TIME_RANGE) from None
    if not EARLIEST_TIME <= value < LATEST_TIME:
        raise ValueError(_TIME_RANGE)
    return value


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?"
)
_NOT_A_TIME = "must be an RFC 3339 time such as '2026-01-05T10:00:00Z'"


def rfc3339(value: object) -> datetime:
    """An RFC 3339 time as an aware UTC datetime; ValueError for anything else.

    One parser for every time a request, a labelled row or a command option gives, so that the
    replay reads exactly the times the live service accepts. A time without an offset is UTC,
    a date alone is its midnight; ``t`` and ``z`` may be lower case. Numbers and digit strings
    (Unix times) are refused: seconds and milliseconds cannot be told apart.
    """
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(_NOT_A_TIME)
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:  # 2026-02-30, 24:00
        raise ValueError(_NOT_A_TIME) from None
    return _aware(parsed)  # type: ignore[return-value]


def rfc3339_text(value: datetime | float) -> str:
    """An aware datetime, or seconds since the epoch, as RFC 3339 in UTC with a ``Z``
    (``2026-01-05T10:00:00Z``; fractions of a second only when there are some)."""
    moment = datetime.fromtimestamp(value, UTC) if isinstance(value, (int, float)) else value.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _shown(description: str | None = None, **schema: Any) -> WithJsonSchema:
    """The JSON schema of a string a validator checks: it documents, never changes, what is
    accepted (tests/test_openapi.py checks examples both ways)."""
    shown = {"type": "string", **schema}
    return WithJsonSchema({**shown, "description": description} if description else shown)


CountryCode = Annotated[str, AfterValidator(_upper_country), _shown(
    "ISO 3166-1 alpha-2 country code such as 'GB', in any case (upper-cased).", pattern="^[A-Za-z]{2}$")]
"""An ISO 3166-1 alpha-2 code, upper-cased."""
UtcDatetime = Annotated[datetime, BeforeValidator(rfc3339), _shown(
    "RFC 3339 time from 1970 to 2099 once in UTC (a time without offset is UTC).",
    format="date-time", pattern="^(?:19[7-9][0-9]|20[0-9][0-9])-")]
"""An RFC 3339 time, converted to UTC (a time without offset is taken as UTC)."""
CurrencyCode = Annotated[str, _shown(
    "ISO 4217 currency code such as 'EUR', in any case (upper-cased); one ISO 4217 does not list "
    "is refused.", pattern="^[A-Za-z]{3}$")]
"""An ISO 4217 code; checked against the list and upper-cased by ``OrderInfo._currency``."""
IPAddressText = Annotated[str, _shown(anyOf=[{"format": "ipv4"}, {"format": "ipv6"}])]
"""An IP address; checked and made canonical by ``Device._valid_ip``."""
EmailText = Annotated[str, Field(max_length=255, pattern=_PRINTABLE), _shown(
    "An email address: text, '@', a domain with a dot; no spaces.", maxLength=255,
    pattern=r"^[^\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*$")]
"""An email address; checked by ``Email._looks_like_email``."""


@lru_cache(maxsize=8192)
def _canonical_ip(value: str) -> str:
    """The canonical text of an IP address (cached: parsing one costs ~20 µs).

    One host has one text: an IPv6 zone id (``fe80::1%eth0``) is dropped and an IPv4-mapped
    IPv6 address (``::ffff:81.2.69.142``) becomes the IPv4 address, as in the lists, so a
    buyer cannot split the IP's account counts by spelling it differently.
    """
    try:
        address = ipaddress.ip_address(value.partition("%")[0])
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address") from None
    return str(unmapped(address))


class Device(_Part):
    """The buyer's device: IP address (required), user agent, language and a device id."""

    ip_address: IPAddressText = Field(
        description="The buyer's IP address, IPv4 or IPv6; an IPv6 zone id (%eth0) is dropped "
        "and an IPv4-mapped IPv6 address is read as the IPv4 address."
    )
    user_agent: Annotated[str, Field(max_length=512)] | None = None
    accept_language: Text255 | None = None
    session_age: float | None = Field(default=None, ge=0, strict=True)
    session_id: Text255 | None = None
    id: Id255 | None = Field(default=None, description="Device fingerprint or cookie id (extension).")

    @field_validator("ip_address")
    @classmethod
    def _valid_ip(cls, value: str) -> str:
        return _canonical_ip(value)


class Event(_Part):
    """The event: its transaction id (idempotency key), time and type."""

    transaction_id: Id255 | None = None
    shop_id: Text255 | None = None
    time: UtcDatetime | None = Field(default=None, description="RFC 3339 time; default: when received.")
    type: Literal[
        "account_creation", "account_login", "email_change", "password_reset",
        "payout_change", "purchase", "recurring_purchase", "referral", "survey",
    ] | None = None


class Account(_Part):
    """The buyer's account at the shop."""

    user_id: AccountId | None = None
    username_md5: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")] | None = None
    created_at: UtcDatetime | None = Field(
        default=None, description="When the account was created (extension)."
    )


class Email(_Part):
    """The buyer's email address; kept only as a keyed hash plus its domain."""

    address: EmailText | None = None
    domain: StoredText | None = None

    @field_validator("address")
    @classmethod
    def _looks_like_email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        local, at, domain = value.rpartition("@")
        if not at or not local or "." not in domain or " " in value:
            raise ValueError("must be an email address")
        return value


class Address(_Part):
    """A billing or shipping address. Only country, region, city, postal and phone are used."""

    first_name: Text255 | None = None
    last_name: Text255 | None = None
    company: Text255 | None = None
    address: Text255 | None = None
    address_2: Text255 | None = None
    city: Text255 | None = None
    region: Annotated[str, Field(max_length=4)] | None = None
    country: CountryCode | None = None
    postal: Text255 | None = None
    phone_number: Text255 | None = None
    phone_country_code: Annotated[str, Field(pattern=r"^\+?[0-9]{1,4}$")] | None = None
    delivery_speed: Literal["same_day", "overnight", "expedited", "standard"] | None = None


class Payment(_Part):
    """How the buyer pays."""

    method: Literal["card", "paypal", "bank_transfer", "wallet", "crypto", "other"] | None = None
    processor: Text255 | None = None
    was_authorized: bool | None = Field(default=None, strict=True)
    decline_code: Text255 | None = None


class CreditCard(_Part):
    """The card, known only by issuer number (BIN), last digits and an opaque token."""

    issuer_id_number: Annotated[str, Field(pattern=r"^(?:[0-9]{6}|[0-9]{8})$")] | None = None
    last_digits: Annotated[str, Field(pattern=r"^(?:[0-9]{2}|[0-9]{4})$")] | None = None
    token: CardToken | None = None
    country: CountryCode | None = None
    bank_name: Text255 | None = None
    avs_result: Annotated[str, Field(min_length=1, max_length=1)] | None = None
    cvv_result: Annotated[str, Field(min_length=1, max_length=1)] | None = None
    was_3d_secure_successful: bool | None = Field(default=None, strict=True)


class OrderInfo(_Part):
    """The order's amount and currency, discount and referrer."""

    amount: float | None = Field(default=None, ge=0, le=1e13, strict=True)
    currency: CurrencyCode | None = None
    discount_code: Text255 | None = None
    affiliate_id: Text255 | None = None
    subaffiliate_id: Text255 | None = None
    referrer_uri: Annotated[str, Field(max_length=1024)] | None = None
    is_gift: bool | None = Field(default=None, strict=True)
    has_gift_message: bool | None = Field(default=None, strict=True)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if not _CURRENCY.match(value) or value not in iso_4217_codes():
            raise ValueError("must be an ISO 4217 currency code such as 'EUR'")
        return value


def _whole_number(value: Any) -> Any:
    """``3.0`` as ``3`` (JSON Schema counts it an integer; float-only clients send it); any
    other value is left for the strict integer check to accept or refuse."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


class CartItem(_Part):
    """One line of the shopping cart."""

    category: Text255 | None = None
    item_id: Text255 | None = None
    quantity: Annotated[
        int, Field(ge=0, le=1_000_000, strict=True), BeforeValidator(_whole_number)
    ] | None = None
    price: float | None = Field(default=None, ge=0, le=1e13, strict=True)


class OrderRequest(_Part):
    """A score request. Only ``device.ip_address`` is required."""

    device: Device
    event: Event = Event()
    account: Account = Account()
    email: Email = Email()
    billing: Address = Address()
    shipping: Address = Address()
    payment: Payment = Payment()
    credit_card: CreditCard = CreditCard()
    order: OrderInfo = OrderInfo()
    shopping_cart: Annotated[list[CartItem], Field(max_length=100)] = []
    custom_inputs: dict[str, str | float | bool] = {}


_PHONE_FIELDS = {"/billing/phone_number": "billing", "/shipping/phone_number": "shipping"}


def _valid_phone_field(body: Any, pointer: str) -> bool:
    """True when ``pointer`` is a phone number field holding a valid phone number.

    One in ten 12-digit numbers passes the Luhn check, "447944117715" among them. A phone
    field is never kept (only the country it names), so a valid number there is let through.
    """
    part = _PHONE_FIELDS.get(pointer)
    address = body.get(part) if part and isinstance(body, dict) else None
    if not isinstance(address, dict):
        return False
    number, code, country = (address.get(k) for k in ("phone_number", "phone_country_code", "country"))
    if not isinstance(number, str):
        return False
    code = code if isinstance(code, str) else None
    country = country if isinstance(country, str) else None
    return is_valid_phone(number, code, country) or is_valid_phone("+" + number.strip())


def refuse_card_numbers(body: Any) -> None:
    """Raise :class:`CardNumberRefusedError` if any value or key holds a full card number
    (a valid phone number in a phone field excepted)."""
    pointers = find_card_numbers(body)
    if pointers:
        pointers = [p for p in pointers if not _valid_phone_field(body, p)]
    if pointers:
        raise CardNumberRefusedError(pointers)


def parse_order(
    body: Any, *, warn_unknown: bool = True
) -> tuple[OrderRequest, list[ScreeningWarning]]:
    """Validate a decoded JSON body; return the order and warnings for unknown fields (none
    looked for with ``warn_unknown=False``: the replay, which keeps no answer)."""
    refuse_card_numbers(body)
    if not isinstance(body, dict):
        raise InvalidRequestError(
            "The request body must be a JSON object.", details=[ErrorDetail("", "must be an object")]
        )
    surrogates = lone_surrogates(body)
    if surrogates:  # in an unknown field too: the stored answer and the digest must encode
        raise InvalidRequestError("The request holds text that is not valid Unicode.",
                                  details=[ErrorDetail(p, LONE_SURROGATE) for p in surrogates])
    try:
        order = OrderRequest.model_validate(body)
    except ValidationError as exc:
        details = validation_details(exc)
        raise InvalidRequestError("The request does not follow the schema.", details=details) from None
    return order, unknown_field_warnings(order) if warn_unknown else []


def parse_time(value: object, pointer: str) -> datetime:
    """:func:`rfc3339` for a request field: InvalidRequestError naming ``pointer``."""
    try:
        return rfc3339(value)
    except ValueError as exc:
        raise InvalidRequestError("Invalid time.", details=[ErrorDetail(pointer, str(exc))]) from None
