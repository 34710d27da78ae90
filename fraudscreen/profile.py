"""The account fraud profile: what an account's own history and its shared entities say.

Pure Python (no SQL): the live store and the in-memory replay store both hand an
:class:`AccountHistory` to :func:`build_profile`, so serving and training compute the
same :class:`ProfileSnapshot`. The profile is always the state strictly *before* an
order (point in time): nothing at or after the order's time, no label reported later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

WINDOW_1H = timedelta(hours=1)
WINDOW_24H = timedelta(hours=24)
WINDOW_30D = timedelta(days=30)
"""Length of the recent-orders window; :attr:`AccountHistory.recent_orders` covers it."""

SHARED_KINDS: tuple[str, ...] = ("ip", "device", "card", "email_domain")
"""Entity kinds whose sharing with other accounts the profile counts."""

SHARED_COUNT_CAP = 100
"""Shared-entity account counts saturate here: 100 other accounts on one IP, device, card or
email domain already says everything, and a store may stop counting at the cap (so the
query stays bounded for entities like a free-mail domain). :func:`build_profile` clamps too."""

OUTCOMES: tuple[str, ...] = ("chargeback", "fraud", "not_fraud", "refund")


@dataclass(frozen=True, slots=True)
class EntityKeys:
    """The shared entities of one order, already normalised (keys, hashes; never raw card or email)."""

    ip: str | None = None
    """The buyer's IP address as text."""
    device_id: str | None = None
    """The device identifier sent by the checkout."""
    card_key: str | None = None
    """An opaque card key (BIN, last digits, token), never a card number."""
    email_domain: str | None = None
    """The lower-cased domain of the buyer's email."""
    email_hash: str | None = None
    """The keyed hash (HMAC) of the normalised email."""

    def shared_items(self) -> list[tuple[str, str]]:
        """(kind, value) for each shared-entity kind present, in :data:`SHARED_KINDS` order."""
        values = (self.ip, self.device_id, self.card_key, self.email_domain)
        return [(k, v) for k, v in zip(SHARED_KINDS, values, strict=True) if v]


@dataclass(frozen=True, slots=True)
class PastOrder:
    """One earlier order of the account, as the profile needs it."""

    event_time: datetime
    amount_usd: float | None
    ip: str | None
    ip_country: str | None
    card_key: str | None
    device_id: str | None
    decision: str
    """accept, review or reject."""


@dataclass(frozen=True)
class AccountHistory:
    """What the store knows of an account strictly before a time."""

    account_id: str | None
    """The account; None when the order has no account id (then only ``shared`` is meaningful)."""
    created_at: datetime | None
    """Account creation time as last reported by the checkout."""
    first_seen: datetime | None
    """Event time of the account's first order before the time."""
    prior_orders: int
    """Number of the account's orders before the time."""
    prior_decisions: Mapping[str, int]
    """decision (accept, review, reject) -> number of prior orders with it."""
    last_order_time: datetime | None
    """Event time of the latest order before the time."""
    recent_orders: Sequence[PastOrder]
    """The account's orders in the 30 days before the time, oldest first."""
    outcomes: Mapping[str, int] = field(default_factory=dict)
    """outcome (chargeback, fraud, not_fraud, refund) -> earlier orders whose latest report
    before the time is that outcome (a corrected label counts only as corrected)."""
    shared: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """kind (ip, device, card, email_domain) -> (OTHER accounts in the last 24 h, ever) with it;
    a store may stop counting at :data:`SHARED_COUNT_CAP`."""
    generation: str | None = field(default=None, compare=False)
    """The store's generation of the account's record, when it keeps one: another generation
    when the order is stored means the account was erased in between."""


@dataclass(frozen=True, slots=True)
class ProfileSnapshot:
    """The account fraud profile as of one order: the state before it."""

    account_age_days: float | None
    """Days since the account was created (or first seen); None when unknown; never negative."""
    orders_1h: int
    """The account's orders in the hour before."""
    orders_24h: int
    """The account's orders in the 24 hours before."""
    orders_30d: int
    """The account's orders in the 30 days before."""
    amount_usd_1h: float
    """Sum of USD amounts of the orders in the hour before."""
    amount_usd_24h: float
    """Sum of USD amounts of the orders in the 24 hours before."""
    amount_usd_30d: float
    """Sum of USD amounts of the orders in the 30 days before."""
    seconds_since_last_order: float | None
    """Seconds since the account's previous order; None for a first order."""
    distinct_ips_30d: int
    """Distinct IP addresses of the account's orders in the 30 days before."""
    distinct_ip_countries_30d: int
    """Distinct IP countries of the account's orders in the 30 days before."""
    distinct_cards_30d: int
    """Distinct cards of the account's orders in the 30 days before."""
    distinct_devices_30d: int
    """Distinct device ids of the account's orders in the 30 days before."""
    prior_orders: int
    """All earlier orders of the account."""
    prior_accepts: int
    """Earlier orders that were accepted."""
    prior_reviews: int
    """Earlier orders sent to review."""
    prior_rejects: int
    """Earlier orders that were rejected."""
    chargebacks: int
    """Earlier orders whose latest outcome reported before this order is a chargeback."""
    fraud_reports: int
    """Earlier orders whose latest outcome reported before this order is fraud."""
    not_fraud_reports: int
    """Earlier orders whose latest outcome reported before this order is not_fraud."""
    refunds: int
    """Earlier orders whose latest outcome reported before this order is a refund."""
    ip_accounts_1d: int
    """Other accounts that used this order's IP in the 24 hours before.

    This and the other ``*_accounts_*`` counts saturate at :data:`SHARED_COUNT_CAP`."""
    ip_accounts_ever: int
    """Other accounts that ever used this order's IP before."""
    device_accounts_1d: int
    """Other accounts that used this order's device in the 24 hours before."""
    device_accounts_ever: int
    """Other accounts that ever used this order's device before."""
    card_accounts_1d: int
    """Other accounts that used this order's card in the 24 hours before."""
    card_accounts_ever: int
    """Other accounts that ever used this order's card before."""
    email_domain_accounts_1d: int
    """Other accounts with this order's email domain in the 24 hours before."""
    email_domain_accounts_ever: int
    """Other accounts that ever had this order's email domain before."""

    def to_dict(self) -> dict[str, Any]:
        """The profile as a JSON-ready dict (field name -> number or null)."""
        return {name: getattr(self, name) for name in _PROFILE_FIELDS}

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The field names in declaration order (stable; features rely on it)."""
        return tuple(f.name for f in fields(cls))


def empty_profile(*, age_days: float | None = None) -> ProfileSnapshot:
    """The profile of an account with no history: zeros, unknown age unless given."""
    values: dict[str, Any] = {name: 0 for name in ProfileSnapshot.field_names()}
    values["account_age_days"] = age_days
    values["seconds_since_last_order"] = None
    for name in ("amount_usd_1h", "amount_usd_24h", "amount_usd_30d"):
        values[name] = 0.0
    return ProfileSnapshot(**values)


def _age_days(created: datetime | None, at: datetime) -> float | None:
    if created is None:
        return None
    return max(0.0, (at - created).total_seconds() / 86400.0)


def _capped(counts: tuple[int, int] | None) -> tuple[int, int]:
    if counts is None:
        return 0, 0
    return min(counts[0], SHARED_COUNT_CAP), min(counts[1], SHARED_COUNT_CAP)


def build_profile(
    history: AccountHistory | None, *, at: datetime, account_created_at: datetime | None
) -> ProfileSnapshot:
    """The profile as of ``at`` (exclusive) from the history and the order's own ``account.created_at``.

    Account age comes from ``account_created_at``, else the stored creation time, else
    the first order seen; windows count orders with ``at - window <= t < at``.
    """
    if history is None:
        return empty_profile(age_days=_age_days(account_created_at, at))
    created = account_created_at or history.created_at or history.first_seen
    start_1h, start_24h, start_30d = at - WINDOW_1H, at - WINDOW_24H, at - WINDOW_30D
    n1 = n24 = n30 = 0
    a1 = a24 = a30 = 0.0
    ips: set[str] = set()
    countries: set[str] = set()
    cards: set[str] = set()
    devices: set[str] = set()
    for order in history.recent_orders:
        t = order.event_time
        if not start_30d <= t < at:
            continue
        amount = order.amount_usd or 0.0
        n30 += 1
        a30 += amount
        if t >= start_24h:
            n24 += 1
            a24 += amount
            if t >= start_1h:
                n1 += 1
                a1 += amount
        if order.ip:
            ips.add(order.ip)
        if order.ip_country:
            countries.add(order.ip_country)
        if order.card_key:
            cards.add(order.card_key)
        if order.device_id:
            devices.add(order.device_id)
    last = history.last_order_time
    since_last = None if last is None else max(0.0, (at - last).total_seconds())
    decisions, outcomes, shared = history.prior_decisions, history.outcomes, history.shared
    ip_1d, ip_ever = _capped(shared.get("ip"))
    dev_1d, dev_ever = _capped(shared.get("device"))
    card_1d, card_ever = _capped(shared.get("card"))
    dom_1d, dom_ever = _capped(shared.get("email_domain"))
    return ProfileSnapshot(
        account_age_days=_age_days(created, at),
        orders_1h=n1,
        orders_24h=n24,
        orders_30d=n30,
        amount_usd_1h=a1,
        amount_usd_24h=a24,
        amount_usd_30d=a30,
        seconds_since_last_order=since_last,
        distinct_ips_30d=len(ips),
        distinct_ip_countries_30d=len(countries),
        distinct_cards_30d=len(cards),
        distinct_devices_30d=len(devices),
        prior_orders=history.prior_orders,
        prior_accepts=decisions.get("accept", 0),
        prior_reviews=decisions.get("review", 0),
        prior_rejects=decisions.get("reject", 0),
        chargebacks=outcomes.get("chargeback", 0),
        fraud_reports=outcomes.get("fraud", 0),
        not_fraud_reports=outcomes.get("not_fraud", 0),
        refunds=outcomes.get("refund", 0),
        ip_accounts_1d=ip_1d,
        ip_accounts_ever=ip_ever,
        device_accounts_1d=dev_1d,
        device_accounts_ever=dev_ever,
        card_accounts_1d=card_1d,
        card_accounts_ever=card_ever,
        email_domain_accounts_1d=dom_1d,
        email_domain_accounts_ever=dom_ever,
    )


_PROFILE_FIELDS = ProfileSnapshot.field_names()
