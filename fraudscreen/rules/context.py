"""The rule context schema: every variable a rule may read, its CEL type and its default.

The screening code fills a dict of this exact shape for each order and passes it to
:meth:`fraudscreen.rules.engine.RuleSet.evaluate`. Every key is always present: an
unknown value takes the documented default, never ``None`` (CEL has no implicit null
handling: ``null > 1.0`` is a type error, so a missing value would break the rule).

Types, in CEL terms:

* ``double`` -- a Python ``float``, never ``int`` or ``bool``, never NaN. CEL does not
  convert between int and double in arithmetic (``order.amount * 2`` fails with an
  int literal when ``amount`` is a double, ``order.amount * 2.0`` works), although
  comparisons between the two do work (``profile.orders_1h >= 4`` is fine). The rules
  files write double literals (``4.0``) everywhere so the question never arises.
  NaN makes every comparison a CEL type error, so it is not allowed.
* ``string`` -- a Python ``str``; ``""`` when unknown.
* ``bool`` -- a Python ``bool``; ``False`` when unknown.
* ``list<string>`` -- a Python ``list`` of ``str``; empty when unknown.

Profile counts describe the account's history **before** this order (point in time,
as in the design). ``*_accounts_1d`` / ``*_accounts_ever`` count the distinct accounts
**other than this order's account** seen with the same IP, device, card or email
domain; they are ``0.0`` when the order has no such entity.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fraudscreen.errors import RuleError

ORDER_CATEGORIES: tuple[str, ...] = (
    "hosting",
    "vps",
    "dedicated",
    "domain",
    "ssl",
    "email",
    "other",
)
"""The values ``order.categories`` may hold."""

LIST_KINDS: tuple[str, ...] = (
    "ip",
    "email_domain",
    "email_hash",
    "bin",
    "country",
    "device_id",
    "account_id",
)
"""The values ``lists.*_matches`` may hold (the kinds of list entry that matched)."""


@dataclass(frozen=True)
class Field:
    """One context variable: its CEL type, its default and what it means."""

    type: str
    """``"double"``, ``"string"``, ``"bool"`` or ``"list<string>"``."""
    default: Any
    """The value used when the screening code does not know it."""
    doc: str
    """One line for rule authors."""


def _d(doc: str, default: float = 0.0) -> Field:
    return Field("double", default, doc)


def _s(doc: str) -> Field:
    return Field("string", "", doc)


def _b(doc: str) -> Field:
    return Field("bool", False, doc)


def _l(doc: str) -> Field:
    return Field("list<string>", [], doc)


_PROFILE_COUNTS = {
    "orders_1h": "orders by this account in the previous hour",
    "orders_24h": "orders by this account in the previous 24 hours",
    "orders_30d": "orders by this account in the previous 30 days",
    "amount_usd_1h": "sum of USD amounts of this account's orders in the previous hour",
    "amount_usd_24h": "sum of USD amounts of this account's orders in the previous 24 hours",
    "amount_usd_30d": "sum of USD amounts of this account's orders in the previous 30 days",
    "distinct_ips_30d": "distinct IP addresses of this account's orders in the previous 30 days",
    "distinct_ip_countries_30d": "distinct IP countries of this account's orders, previous 30 days",
    "distinct_cards_30d": "distinct cards (token, or BIN + last 4) of this account's orders, 30d",
    "distinct_devices_30d": "distinct device ids of this account's orders in the previous 30 days",
    "prior_orders": "all earlier orders of this account",
    "prior_accepts": "earlier orders of this account that were accepted",
    "prior_reviews": "earlier orders of this account that were sent to review",
    "prior_rejects": "earlier orders of this account that were rejected",
    "chargebacks": "chargebacks reported on this account's orders",
    "fraud_reports": "orders of this account reported as fraud",
    "not_fraud_reports": "orders of this account reported as not fraud",
    "refunds": "refunds reported on this account's orders",
    "ip_accounts_1d": "other accounts seen with this IP address in the previous 24 hours",
    "ip_accounts_ever": "other accounts ever seen with this IP address",
    "device_accounts_1d": "other accounts seen with this device id in the previous 24 hours",
    "device_accounts_ever": "other accounts ever seen with this device id",
    "card_accounts_1d": "other accounts seen with this card in the previous 24 hours",
    "card_accounts_ever": "other accounts ever seen with this card",
    "email_domain_accounts_1d": "other accounts seen with this email domain, previous 24 hours",
    "email_domain_accounts_ever": "other accounts ever seen with this email domain",
}

SCHEMA: dict[str, dict[str, Field]] = {
    "order": {
        "amount": _d("order total in the order currency; 0.0 when not given"),
        "amount_usd": _d("order total converted to USD; -1.0 when the currency has no rate", -1.0),
        "currency": _s("ISO 4217 code, upper case"),
        "item_count": _d("number of items in the shopping cart"),
        "has_discount_code": _b("a discount code was used"),
        "categories": _l("product categories in the cart: " + ", ".join(ORDER_CATEGORIES)),
        **{f"cart_{c}": _b(f"the cart holds {c} items") for c in ORDER_CATEGORIES},
        **{
            f"payment_{m}": _b(f"paid by {m.replace('_', ' ')}")
            for m in ("card", "paypal", "bank_transfer")
        },
    },
    "account": {
        "age_days": _d("days since the account was created; -1.0 unknown", -1.0),
        "is_new": _b("account younger than one day, or this is its first order"),
    },
    "ip": {
        "address": _s("the customer IP address as text"),
        "country": _s("ISO 3166-1 alpha-2 country of the IP; '' unknown"),
        "found": _b("the IP is in the GeoIP database"),
        "is_private": _b("private, loopback or reserved address"),
        "is_anonymous": _b("any anonymizer: VPN, hosting provider, proxy or Tor"),
        "is_anonymous_vpn": _b("a known anonymous VPN"),
        "is_hosting_provider": _b("a hosting or cloud provider"),
        "is_public_proxy": _b("a public proxy"),
        "is_residential_proxy": _b("a residential proxy"),
        "is_tor_exit_node": _b("a Tor exit node"),
        "anonymous_ip_checked": _b("an anonymous-IP database was available for this lookup"),
        "distance_to_billing_km": _d(
            "km from the IP location to the billing location; -1.0 unknown", -1.0
        ),
        "asn": _d("autonomous system number; -1.0 unknown", -1.0),
    },
    "email": {
        "domain": _s("email domain, lower case, IDNA (punycode)"),
        "is_disposable": _b("the domain is a known disposable-mail provider"),
        "is_free": _b("the domain is a free webmail provider"),
        "present": _b("an email was given"),
    },
    "billing": {"country": _s("billing ISO 3166-1 alpha-2 country; '' unknown")},
    "shipping": {"country": _s("shipping ISO 3166-1 alpha-2 country; '' unknown")},
    "card": {
        "bin": _s("issuer identification number, 6 or 8 digits"),
        "country": _s("card issuing country from the BIN; '' unknown"),
        "present": _b("the order was paid by card"),
        "avs_result": _s("address verification result code as given by the processor"),
        "cvv_result": _s("card verification result code: 'Y', 'N', ... ; '' unknown"),
        "avs_mismatch": _b("the address check failed (AVS result N, A, Z or W)"),
        "cvv_mismatch": _b("the card security code check failed (CVV result N)"),
    },
    "phone": {
        "country": _s("country of the billing phone number; '' unknown"),
        "valid": _b("the phone number parses as a valid number"),
    },
    "device": {
        "id_present": _b("the order carries a device id"),
        "browser": _s("browser family from the user agent, e.g. 'Chrome', 'HeadlessChrome'"),
        "os": _s("operating system family from the user agent"),
        "type": _s("'desktop', 'mobile', 'tablet', 'bot' or ''"),
        "is_bot": _b("the user agent is a bot, crawler, script or headless browser"),
        "is_mobile": _b("the device is a phone or tablet"),
    },
    "mismatch": {
        "ip_billing_country": _b("IP and billing countries are both known and differ"),
        "card_billing_country": _b("card and billing countries are both known and differ"),
        "phone_billing_country": _b("phone and billing countries are both known and differ"),
        "billing_shipping_country": _b("billing and shipping countries are both known and differ"),
    },
    "profile": {
        "seconds_since_last_order": _d(
            "seconds since this account's previous order; -1.0 none", -1.0
        ),
        **{name: _d(doc) for name, doc in _PROFILE_COUNTS.items()},
    },
    "lists": {
        "allow": _b("something about the order is on the allow list"),
        "block": _b("something about the order is on the block list"),
        "review": _b("something about the order is on the review list"),
        "allow_matches": _l("kinds of allow-list entries that matched, e.g. 'ip', 'email_domain'"),
        "block_matches": _l("kinds of block-list entries that matched"),
        "review_matches": _l("kinds of review-list entries that matched"),
    },
    "model": {"score": _d("model risk score 0-99; -1.0 when no model answered", -1.0)},
}
"""Every variable rules can read, as ``SCHEMA[root][field]``."""

_EMPTY: dict[str, dict[str, Any]] = {
    root: {name: f.default for name, f in fields.items()} for root, fields in SCHEMA.items()
}


def empty_context() -> dict[str, dict[str, Any]]:
    """A fresh context holding every variable at its default (safe to mutate)."""
    return copy.deepcopy(_EMPTY)


def build_context(
    values: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The defaults overlaid with ``values`` (``{"order": {"amount": 5.0}}``).

    Unknown names raise RuleError.
    """
    ctx = empty_context()
    for root, fields in (values or {}).items():
        if root not in SCHEMA:
            raise RuleError(f"unknown context variable {root!r}")
        for name, value in fields.items():
            if name not in SCHEMA[root]:
                raise RuleError(f"unknown context variable {root}.{name}")
            ctx[root][name] = list(value) if isinstance(value, (list, tuple)) else value
    return ctx


def _type_problem(f: Field, value: Any) -> str | None:
    if f.type == "double":
        if type(value) is not float:
            return f"must be a float, not {type(value).__name__}"
        if math.isnan(value):
            return "must not be NaN"
    elif f.type == "string":
        if not isinstance(value, str):
            return f"must be a str, not {type(value).__name__}"
    elif f.type == "bool":
        if not isinstance(value, bool):
            return f"must be a bool, not {type(value).__name__}"
    elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "must be a list of str"
    return None


def validate_context(ctx: Mapping[str, Any]) -> None:
    """Check that ``ctx`` has exactly the schema's keys and types; RuleError if not."""
    problems: list[str] = []
    for root in sorted(set(ctx) ^ set(SCHEMA)):
        problems.append(f"{root}: {'unknown' if root in ctx else 'missing'}")
    for root, fields in SCHEMA.items():
        sub = ctx.get(root)
        if sub is None:
            continue
        if not isinstance(sub, Mapping):
            problems.append(f"{root}: must be a dict")
            continue
        for name in sorted(set(sub) ^ set(fields)):
            problems.append(f"{root}.{name}: {'unknown' if name in sub else 'missing'}")
        for name, f in fields.items():
            if name in sub and (problem := _type_problem(f, sub[name])):
                problems.append(f"{root}.{name}: {problem}")
    order, lists = ctx.get("order"), ctx.get("lists")
    categories = order.get("categories") if isinstance(order, Mapping) else None
    if isinstance(categories, list) and any(c not in ORDER_CATEGORIES for c in categories):
        problems.append("order.categories: unknown category")
    for key in ("allow_matches", "block_matches", "review_matches"):
        kinds = lists.get(key) if isinstance(lists, Mapping) else None
        if isinstance(kinds, list) and any(k not in LIST_KINDS for k in kinds):
            problems.append(f"lists.{key}: unknown list kind")
    if problems:
        raise RuleError("invalid rule context: " + "; ".join(problems))
