"""The minimum-data table (privacy policy P2): every request field and every stored column.

This is the machine-readable source of the tables in ``docs/privacy.md``; the tests check
that every column of the store's schema and every field of the request schema has a row
here, and that the document shows exactly these rows (``python -m
fraudscreen.privacy.inventory`` prints them).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

PERSONAL = "personal period (`retention_personal_days`, 180 d)"
ORDERS = "order period (`retention_orders_days`, 730 d)"
ERASE = "erased on request"
NOT_KEPT = "not kept"


@dataclass(frozen=True)
class RequestField:
    """One field of the score request: what screening does with it and what is kept of it."""

    path: str
    """Dotted path in the request; ``[]`` marks a list item."""
    used_for: str
    kept_as: str
    """Where and in what form it is stored, or ``not kept``."""
    kept_for: str


@dataclass(frozen=True)
class StoredColumn:
    """One column the store writes: where its value comes from, its form and its retention."""

    table: str
    column: str
    source: str
    form: str
    kept_for: str

    @property
    def name(self) -> str:
        """``table.column``."""
        return f"{self.table}.{self.column}"


def _ignored(*paths: str) -> list[RequestField]:
    return [RequestField(p, "ignored", NOT_KEPT, "-") for p in paths]


def _used(used_for: str, *paths: str) -> list[RequestField]:
    return [RequestField(p, used_for, NOT_KEPT, "-") for p in paths]


_NAMES = ("first_name", "last_name", "company", "address", "address_2")
REQUEST_FIELDS: tuple[RequestField, ...] = (
    RequestField("device.ip_address", "GeoIP location, shared-IP counts, IP lists and rules",
                 "`orders.ip`, an `ip` entity link (text); country in `orders.ip_country`; location in the answer",
                 f"{PERSONAL}; the country for the {ORDERS}; {ERASE}"),
    *_used("device and OS (features)", "device.user_agent"),
    *_ignored("device.accept_language", "device.session_age", "device.session_id"),
    RequestField("device.id", "shared-device counts, device lists",
                 "`orders.device_id`, a `device` entity link (as sent; an e-mail address is refused)",
                 f"{PERSONAL}; {ERASE}"),
    RequestField("event.transaction_id", "idempotency key, order lookups",
                 "`orders.transaction_id`, `order_id` of the stored answer (as sent; an e-mail address "
                 "is refused)",
                 f"{ORDERS} (dropped when a labelled order is anonymised); {ERASE}"),
    *_ignored("event.shop_id"),
    RequestField("event.time", "profile time windows", "`orders.event_time` (UTC)",
                 f"{ORDERS} (cut to the day when anonymised); {ERASE}"),
    *_ignored("event.type"),
    RequestField("account.user_id", "the account fraud profile",
                 "`accounts.account_id`, `orders.account_id`, links, outcomes (as sent; an e-mail "
                 "address is refused)",
                 f"{ORDERS} after the account's last order; {ERASE}"),
    *_ignored("account.username_md5"),
    RequestField("account.created_at", "account age", "`accounts.created_at`, `orders.account_created_at`",
                 f"{ORDERS}; {ERASE}"),
    RequestField("email.address", "domain flags; shared-email lists",
                 "never raw: HMAC-SHA256 of the normalised address under the installation secret "
                 "(`orders.email_hash`) and its domain (`orders.email_domain`)",
                 f"{PERSONAL}; {ERASE}"),
    RequestField("email.domain", "domain flags when no address is sent", "`orders.email_domain`",
                 f"{PERSONAL}; {ERASE}"),
    *_ignored(*(f"billing.{n}" for n in _NAMES)),
    *_used("distance from the IP location", "billing.city"),
    *_ignored("billing.region"),
    *_used("country mismatches, distance", "billing.country"),
    *_ignored("billing.postal"),
    *_used("phone country", "billing.phone_number", "billing.phone_country_code"),
    *_ignored("billing.delivery_speed"),
    *_ignored(*(f"shipping.{n}" for n in _NAMES), "shipping.city", "shipping.region"),
    *_used("country mismatches", "shipping.country"),
    *_ignored("shipping.postal", "shipping.phone_number", "shipping.phone_country_code",
              "shipping.delivery_speed"),
    *_used("payment features", "payment.method"),
    *_ignored("payment.processor", "payment.was_authorized", "payment.decline_code"),
    RequestField("credit_card.issuer_id_number", "BIN lists and rules; the card key",
                 "in `orders.card_key` as `bin:<BIN>:<last digits>` when no token is sent",
                 f"{PERSONAL}; {ERASE}"),
    RequestField("credit_card.last_digits", "the card key", "in `orders.card_key` (see BIN)",
                 f"{PERSONAL}; {ERASE}"),
    RequestField("credit_card.token", "the card key (shared-card counts)",
                 "`orders.card_key` as `tok:<token>` (an e-mail address is refused), a `card` entity link", f"{PERSONAL}; {ERASE}"),
    *_used("card country mismatch", "credit_card.country"),
    *_ignored("credit_card.bank_name"),
    *_used("AVS / CVV features", "credit_card.avs_result", "credit_card.cvv_result"),
    *_ignored("credit_card.was_3d_secure_successful"),
    RequestField("order.amount", "amount features, spend velocity",
                 "`orders.amount`, `orders.amount_usd`", f"{ORDERS}; kept in anonymised labelled orders"),
    RequestField("order.currency", "conversion to USD", "`orders.currency`",
                 f"{ORDERS}; kept in anonymised labelled orders"),
    *_used("has-discount feature", "order.discount_code"),
    *_ignored("order.affiliate_id", "order.subaffiliate_id", "order.referrer_uri", "order.is_gift",
              "order.has_gift_message"),
    *_used("cart features", "shopping_cart[].category", "shopping_cart[].quantity"),
    *_ignored("shopping_cart[].item_id", "shopping_cart[].price", "custom_inputs"),
)
"""Every field the score request accepts (a full card number anywhere is refused, never kept)."""

_ACCT = f"{ORDERS} after the last order; {ERASE}"
_ORD = f"{ORDERS}; {ERASE}"
_ANON = f"{ORDERS}; kept in anonymised labelled orders; {ERASE}"
_LINK = f"{PERSONAL}; {ERASE}"
_STAFF = ("until removed by an admin (the audit entries of its changes then keep the value for the "
          "personal period only); entries naming an erased account are removed, unless other "
          "accounts' orders carry the same IP, device id or email hash; notes naming it are cleared; "
          "entries on an email domain, a BIN or a country name no one and stay")
STORED_COLUMNS: tuple[StoredColumn, ...] = (
    StoredColumn("accounts", "account_id", "account.user_id", "as sent", _ACCT),
    StoredColumn("accounts", "created_at", "account.created_at", "UTC time", _ACCT),
    *(StoredColumn("accounts", c, "derived", "time / counter", _ACCT) for c in (
        "first_seen", "last_order_time", "order_count", "accepts", "reviews", "rejects",
        "outcome_count")),
    StoredColumn("accounts", "generation", "generated", "random hex, made with the row", _ACCT),
    StoredColumn("orders", "order_id", "generated", "random hex; `anon_` + random when anonymised", _ANON),
    StoredColumn("orders", "transaction_id", "event.transaction_id", "as sent; dropped when anonymised", _ORD),
    StoredColumn("orders", "account_id", "account.user_id", "as sent; dropped when anonymised", _ORD),
    StoredColumn("orders", "event_time", "event.time", "UTC; the day only when anonymised", _ANON),
    StoredColumn("orders", "received_at", "the service's clock", "UTC; the day only when anonymised", _ANON),
    StoredColumn("orders", "account_created_at", "account.created_at", "UTC; dropped when anonymised", _ORD),
    StoredColumn("orders", "amount", "order.amount", "number", _ANON),
    StoredColumn("orders", "currency", "order.currency", "ISO 4217", _ANON),
    StoredColumn("orders", "amount_usd", "derived", "number", _ANON),
    StoredColumn("orders", "ip", "device.ip_address", "text", _LINK),
    StoredColumn("orders", "ip_country", "GeoIP of the IP", "ISO 3166 code", _ANON),
    StoredColumn("orders", "device_id", "device.id", "as sent", _LINK),
    StoredColumn("orders", "card_key", "credit_card.*", "`tok:<token>` or `bin:<BIN>:<last digits>`", _LINK),
    StoredColumn("orders", "email_domain", "email.address / email.domain", "lower-case domain", _LINK),
    StoredColumn("orders", "email_hash", "email.address", "HMAC-SHA256 (hex) of the normalised address", _LINK),
    StoredColumn("orders", "decision", "derived", "accept / review / reject", _ANON),
    StoredColumn("orders", "risk_score", "derived", "number", _ANON),
    StoredColumn("orders", "response", "the answer",
                 "JSON; `ip_location` cut to the country after the personal period; ids and "
                 "warnings dropped when anonymised", _ANON),
    StoredColumn("orders", "features", "derived",
                 "JSON: the model's feature values (numbers: amounts, counts, ages, distance, "
                 "flags) and the ids of the rules that fired or failed; no identifiers", _ANON),
    StoredColumn("orders", "outcome", "POST /v1/orders/{id}/outcome", "label", _ANON),
    StoredColumn("orders", "outcome_at", "POST /v1/orders/{id}/outcome", "UTC; the day only when anonymised", _ANON),
    StoredColumn("orders", "request_digest", "the whole request body",
                 "HMAC-SHA256 (hex) under the e-mail key, to tell a retry from another order", _LINK),
    *(StoredColumn("order_entities", c, "the order's IP, device, card key, email domain and hash",
                   "copies of the order's values", _LINK)
      for c in ("order_id", "kind", "value", "account_id", "event_time")),
    StoredColumn("outcomes", "id", "generated", "integer", _ANON),
    StoredColumn("outcomes", "order_id", "POST /v1/orders/{id}/outcome", "the order's id", _ANON),
    StoredColumn("outcomes", "account_id", "the order's account", "as sent; dropped when anonymised", _ORD),
    StoredColumn("outcomes", "outcome", "POST /v1/orders/{id}/outcome", "label", _ANON),
    StoredColumn("outcomes", "reported_at", "POST /v1/orders/{id}/outcome", "UTC; the day only when anonymised", _ANON),
    *(StoredColumn("api_keys", c, "admin", "no customer data; only a SHA-256 of the key",
                   "until deleted (revoked keys stay for the audit trail)")
      for c in ("id", "name", "prefix", "key_hash", "scopes", "created_at", "revoked_at")),
    *(StoredColumn("list_entries", c, "admin", "normalised value (IP, network, hash, id, ...)", _STAFF)
      for c in ("id", "list_name", "kind", "value", "note", "created_at")),
    *(StoredColumn("meta", c, "the service", "counters", "always") for c in ("key", "value")),
    *(StoredColumn("audit_log", c, "every admin change and every read of personal data",
                   "actor = API key name; target = object id (an account or order id); details = counts, or the listed value of a list change (an IP, id or hash)",
                   "`retention_audit_days` (730 d); the value of a list change (`list.add`, "
                   "`list.remove`) becomes `[purged]` after the personal period unless it is still "
                   "on that list; target and details anonymised on erasure")
      for c in ("id", "at", "actor", "action", "target", "details")),
)
"""Every column the store writes."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def request_table() -> str:
    """The request-field table as Markdown."""
    lines = ["| Request field | Used for | Kept as | Kept for |", "|---|---|---|---|"]
    for f in REQUEST_FIELDS:
        lines.append(f"| `{f.path}` | {_cell(f.used_for)} | {_cell(f.kept_as)} | {_cell(f.kept_for)} |")
    return "\n".join(lines)


def stored_table() -> str:
    """The stored-column table as Markdown."""
    lines = ["| Column | Source | Form | Kept for |", "|---|---|---|---|"]
    for c in STORED_COLUMNS:
        lines.append(f"| `{c.name}` | {_cell(c.source)} | {_cell(c.form)} | {_cell(c.kept_for)} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(request_table() + "\n\n" + stored_table() + "\n")
