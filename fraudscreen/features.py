"""One order, enriched and profiled, as the rule context and as the model's feature vector.

:func:`build_context` gives the nested dict that rules read (its schema is
:mod:`fraudscreen.rules.context`); :func:`feature_vector` reads the model's features from that
same dict, so the rules, the live model and training all see one set of numbers. Unknown
numeric values are ``-1`` in the rule context and ``NaN`` in the feature vector (the model
handles missing values natively). Earlier *decisions* (prior reviews and rejects) are in the
profile and the rule context but not model features: they depend on the model itself, and a
replay of history without a model could not reproduce them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from fraudscreen.profile import ProfileSnapshot
from fraudscreen.rules.context import SCHEMA
from fraudscreen.schema import CART_CATEGORIES, OrderRequest
from fraudscreen.signals import OrderSignals

PAYMENT_METHODS = ("card", "paypal", "bank_transfer")

def _sentence(doc: str) -> str:
    text = doc.split(";")[0]
    return text[:1].upper() + text[1:]


# name -> (path into the rule context, description shown as a model reason)
FEATURES: dict[str, tuple[tuple[str, str], str]] = {
    "amount_usd": (("order", "amount_usd"), "Order amount (USD)"),
    "item_count": (("order", "item_count"), "Number of items in the cart"),
    "has_discount_code": (("order", "has_discount_code"), "A discount code was used"),
    **{
        f"cart_{c}": (("order", f"cart_{c}"), f"The cart holds {c} items")
        for c in CART_CATEGORIES
    },
    **{
        f"payment_{m}": (("order", f"payment_{m}"), f"Paid by {m.replace('_', ' ')}")
        for m in PAYMENT_METHODS
    },
    "account_age_days": (("account", "age_days"), "Age of the account (days)"),
    "ip_found": (("ip", "found"), "The IP address has a known location"),
    "ip_is_anonymous": (("ip", "is_anonymous"), "The IP address is anonymous"),
    "ip_is_hosting_provider": (("ip", "is_hosting_provider"), "The IP belongs to a hosting provider"),
    "ip_is_tor_exit_node": (("ip", "is_tor_exit_node"), "The IP is a Tor exit node"),
    "ip_distance_to_billing_km": (("ip", "distance_to_billing_km"), "Distance from the IP location to the billing place (km)"),
    "email_present": (("email", "present"), "An email address was given"),
    "email_is_disposable": (("email", "is_disposable"), "The email domain is disposable"),
    "email_is_free": (("email", "is_free"), "The email domain is a free-mail provider"),
    "card_present": (("card", "present"), "Card details were given"),
    "card_avs_mismatch": (("card", "avs_mismatch"), "The address check failed"),
    "card_cvv_mismatch": (("card", "cvv_mismatch"), "The card security code check failed"),
    "phone_valid": (("phone", "valid"), "The phone number is valid"),
    "device_id_present": (("device", "id_present"), "A device id was given"),
    "device_is_bot": (("device", "is_bot"), "The user agent is an automated client"),
    "device_is_mobile": (("device", "is_mobile"), "The device is a phone or tablet"),
    "mismatch_ip_billing_country": (("mismatch", "ip_billing_country"), "IP country differs from billing country"),
    "mismatch_card_billing_country": (("mismatch", "card_billing_country"), "Card country differs from billing country"),
    "mismatch_phone_billing_country": (("mismatch", "phone_billing_country"), "Phone country differs from billing country"),
    **{
        f"profile_{name}": (("profile", name), _sentence(SCHEMA["profile"][name].doc))
        for name in (
            "orders_1h", "orders_24h", "orders_30d", "amount_usd_24h", "amount_usd_30d",
            "seconds_since_last_order", "distinct_ips_30d", "distinct_ip_countries_30d",
            "distinct_cards_30d", "distinct_devices_30d", "prior_orders", "chargebacks", "fraud_reports", "not_fraud_reports", "refunds",
            "ip_accounts_1d", "ip_accounts_ever", "device_accounts_1d", "device_accounts_ever",
            "card_accounts_1d", "card_accounts_ever", "email_domain_accounts_1d",
            "email_domain_accounts_ever",
        )
    },
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}
FEATURE_SCHEMA: str = hashlib.sha256("\n".join(FEATURE_NAMES).encode("utf-8")).hexdigest()[:16]
"""Identifies :data:`FEATURE_NAMES` (names and order) in logged feature vectors."""
_PATHS = tuple(path for path, _ in FEATURES.values())
# Features whose -1 in the rule context means "unknown" (NaN for the model).
_UNKNOWN_IS_MINUS_ONE = frozenset(
    {"account_age_days", "ip_distance_to_billing_km", "amount_usd", "profile_seconds_since_last_order"}
)
_FLAGS = frozenset(
    {"phone_valid", "device_id_present", "device_is_bot", "device_is_mobile"}
    | {n for n in FEATURES if n.startswith("mismatch_")}
)
_PROFILE_CONTEXT_FIELDS = tuple(n for n in ProfileSnapshot.field_names() if n != "account_age_days")
_MINUS_ONE_INDEXES = tuple(i for i, n in enumerate(FEATURE_NAMES) if n in _UNKNOWN_IS_MINUS_ONE)


_MISSING_VALUE = {
    "profile_seconds_since_last_order": "none, its first order",
    "account_age_days": "unknown, no sign-up time sent",
}
"""What a missing value (NaN) of a feature means, where more is known than "unknown"."""


def describe_feature(name: str, value: float | None = None) -> str:
    """The reviewer-facing description of a model feature, with this order's value if given
    (a missing value, NaN, is said: a reason must not leave the reviewer guessing)."""
    text = FEATURES[name][1] if name in FEATURES else name
    if value is None:
        return text
    if math.isnan(value):
        return f"{text}: {_MISSING_VALUE.get(name, 'unknown')}"
    if name.startswith(("has_", "cart_", "payment_", "ip_is_", "ip_found", "email_", "card_")) or name in _FLAGS:
        return f"{text}: {'yes' if value else 'no'}"
    if "amount" in name:
        return f"{text}: {value:,.2f}"
    return f"{text}: {_plain_number(value)}"


def _plain_number(value: float) -> str:
    """A number as a reviewer reads it: no exponent; whole from 100 on, two decimals from 1."""
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    text = f"{value:.4g}"
    return text if "e" not in text else f"{value:.10f}".rstrip("0").rstrip(".")


def _num(value: float | None) -> float:
    return -1.0 if value is None else float(value)


def _category(value: str | None) -> str:
    value = (value or "other").lower()
    return value if value in CART_CATEGORIES else "other"


def _differs(a: str | None, b: str | None) -> bool:
    return bool(a and b and a != b)


def build_context(
    order: OrderRequest,
    signals: OrderSignals,
    profile: ProfileSnapshot,
    lists: Mapping[str, Any],
) -> dict[str, Any]:
    """The rule context of one order (see :mod:`fraudscreen.rules.context` for the schema)."""
    return add_history(order_context(order, signals), profile, lists)


def order_context(order: OrderRequest, signals: OrderSignals) -> dict[str, Any]:
    """The parts of the rule context the order alone gives (no ``account``, ``profile``,
    ``lists`` or ``model``): plain values only, so that it can be made in another process
    (the replay's workers) and completed by :func:`add_history` where the history is."""
    ip, card, cart = signals.ip, order.credit_card, order.shopping_cart
    categories = sorted({_category(i.category) for i in cart})
    method = order.payment.method or ("card" if card.issuer_id_number or card.token else None)
    order_part: dict[str, Any] = {
        "amount": float(order.order.amount or 0.0),
        "amount_usd": _num(signals.amount_usd),
        "currency": order.order.currency or "",
        "item_count": float(sum(1 if i.quantity is None else i.quantity for i in cart)),
        "has_discount_code": bool(order.order.discount_code),
        "categories": categories,
    }
    for c in CART_CATEGORIES:
        order_part[f"cart_{c}"] = c in categories
    for m in PAYMENT_METHODS:
        order_part[f"payment_{m}"] = method == m
    return {
        "order": order_part,
        "ip": {
            "address": ip.ip_address,
            "country": ip.country or "",
            "found": ip.found,
            "is_private": ip.is_private,
            "is_anonymous": ip.is_anonymous,
            "is_anonymous_vpn": ip.is_anonymous_vpn,
            "is_hosting_provider": ip.is_hosting_provider,
            "is_public_proxy": ip.is_public_proxy,
            "is_residential_proxy": ip.is_residential_proxy,
            "is_tor_exit_node": ip.is_tor_exit_node,
            "anonymous_ip_checked": ip.anonymous_ip_checked,
            "distance_to_billing_km": _num(signals.distance_to_billing_km),
            "asn": _num(ip.asn),
        },
        "email": {
            "domain": signals.email.domain or "",
            "is_disposable": signals.email.is_disposable,
            "is_free": signals.email.is_free,
            "present": signals.email.has_email,
        },
        "billing": {"country": signals.billing_country or ""},
        "shipping": {"country": signals.shipping_country or ""},
        "card": {
            "bin": card.issuer_id_number or "",
            "country": card.country or "",
            "present": bool(card.issuer_id_number or card.last_digits or card.token),
            "avs_result": (card.avs_result or "").upper(),
            "cvv_result": (card.cvv_result or "").upper(),
            "avs_mismatch": (card.avs_result or "").upper() in {"N", "A", "Z", "W"},
            "cvv_mismatch": (card.cvv_result or "").upper() == "N",
        },
        "phone": {"country": signals.phone_country or "", "valid": signals.phone_valid},
        "device": {
            "id_present": bool(order.device.id),
            "browser": signals.device.browser or "",
            "os": signals.device.os or "",
            "type": signals.device.device_type,
            "is_bot": signals.device.is_bot,
            "is_mobile": signals.device.device_type in ("mobile", "tablet"),
        },
        "mismatch": {
            "ip_billing_country": _differs(ip.country, signals.billing_country),
            "card_billing_country": _differs(signals.card_country, signals.billing_country),
            "phone_billing_country": _differs(signals.phone_country, signals.billing_country),
            "billing_shipping_country": _differs(signals.billing_country, signals.shipping_country),
        },
    }


def add_history(
    context: Mapping[str, Any], profile: ProfileSnapshot, lists: Mapping[str, Any]
) -> dict[str, Any]:
    """The whole rule context: an :func:`order_context` plus the account, its profile, the
    lists the order is on and an unset model score (the ``context`` is not changed)."""
    age = profile.account_age_days
    return {
        "order": context["order"],
        "account": {"age_days": _num(age), "is_new": age is None or age < 1 or profile.prior_orders == 0},
        **{part: context[part] for part in _ORDER_PARTS},
        "profile": {k: _num(getattr(profile, k)) for k in _PROFILE_CONTEXT_FIELDS},
        "lists": dict(lists),
        "model": {"score": -1.0},
    }


_ORDER_PARTS = ("ip", "email", "billing", "shipping", "card", "phone", "device", "mismatch")
"""The parts :func:`order_context` gives after ``order``, in the context's order."""


def feature_log(vector: np.ndarray, rule_hits: Iterable[tuple[str, str]],
                rule_errors: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """What the store keeps of a screened order's features: JSON-ready, no personal data.

    ``{"schema": FEATURE_SCHEMA, "x": [...], "rules": [[rule id, action], ...]}``, plus
    ``"rule_errors"`` (the same pairs) when a rule failed at run time; a missing value (NaN) is
    ``null``. Exported with the order's label, these are training rows that are point-in-time
    correct by construction: the live service computed them at the time.
    """
    logged: dict[str, Any] = {
        "schema": FEATURE_SCHEMA,
        "x": [None if math.isnan(v) else v for v in vector.tolist()],
        "rules": [list(hit) for hit in rule_hits],
    }
    failed = [list(rule) for rule in rule_errors]
    if failed:
        logged["rule_errors"] = failed
    return logged


def feature_vector(context: Mapping[str, Any]) -> np.ndarray:
    """The model's features, in :data:`FEATURE_NAMES` order, read from a rule context."""
    values = [float(context[a][b]) for a, b in _PATHS]
    for i in _MINUS_ONE_INDEXES:
        if values[i] < 0:
            values[i] = math.nan
    return np.asarray(values, dtype=np.float64)
