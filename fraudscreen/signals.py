"""Enrich one order: everything screening derives from the request before it looks at history.

:class:`Enricher` maps an :class:`~fraudscreen.schema.OrderRequest` onto the pure functions
of :mod:`fraudscreen.enrich` and returns :class:`OrderSignals`: the IP location, email, phone,
card and device facts, the distance from the IP to the billing place, the amount in USD, and
the keys of the entities the order shares with other accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fraudscreen.enrich import (
    DeviceInfo,
    EmailInfo,
    GeoIP,
    IPLocation,
    analyse_email,
    card_key,
    distance_km,
    email_domain,
    email_hash,
    locate,
    normalise_email,
    parse_user_agent,
    phone_country,
    to_usd,
)
from fraudscreen.profile import EntityKeys
from fraudscreen.result import ScreeningWarning
from fraudscreen.schema import OrderRequest


@dataclass(frozen=True, slots=True)
class OrderSignals:
    """What one order says about itself once enriched (no history yet)."""

    event_time: datetime
    ip: IPLocation
    email: EmailInfo
    device: DeviceInfo
    phone_country: str | None
    phone_valid: bool
    billing_country: str | None
    shipping_country: str | None
    card_country: str | None
    distance_to_billing_km: float | None
    amount_usd: float | None
    entities: EntityKeys
    warnings: tuple[ScreeningWarning, ...]


class Enricher:
    """Turns orders into :class:`OrderSignals` with one GeoIP instance and the email secret."""

    def __init__(self, geoip: GeoIP, email_secret: bytes) -> None:
        self.geoip = geoip
        self._email_secret = email_secret

    def enrich(self, order: OrderRequest, *, received_at: datetime) -> OrderSignals:
        """Enrich ``order``; ``received_at`` stands in for a missing ``event.time``."""
        warnings: list[ScreeningWarning] = []
        ip = self.geoip.lookup(order.device.ip_address)
        if ip.is_private:
            warnings.append(
                ScreeningWarning(
                    "ip_private",
                    "The IP address is private or reserved; it has no location.",
                    "/device/ip_address",
                )
            )
        elif not ip.found and self.geoip.city_available:
            warnings.append(
                ScreeningWarning(
                    "ip_location_unknown",
                    "The IP address is not in the GeoIP database.",
                    "/device/ip_address",
                )
            )

        address = order.email.address
        domain = order.email.domain or (email_domain(address) if address else None)
        email = analyse_email(address, domain)
        hashed = email_hash(normalise_email(address), self._email_secret) if address else None

        billing = order.billing
        phone_cc = phone_country(
            billing.phone_number, billing.phone_country_code, default_region=billing.country
        )
        distance = None
        if ip.latitude is not None and ip.longitude is not None and billing.country:
            place = locate(billing.country, billing.city)
            if place is not None:
                distance = round(distance_km(ip.latitude, ip.longitude, place[0], place[1]), 1)

        amount = order.order.amount
        amount_usd = to_usd(amount, order.order.currency or "USD") if amount is not None else None
        created, at = order.account.created_at, order.event.time or received_at
        if created is not None and created > at:  # a clock or time zone wrong at the shop
            warnings.append(
                ScreeningWarning(
                    "account_created_after_order",
                    "account.created_at is later than the order's time: the account's age "
                    "counts as 0, as a brand-new account's does.",
                    "/account/created_at",
                )
            )
        if amount is not None and amount_usd is None:  # an ISO 4217 currency without a rate
            warnings.append(
                ScreeningWarning(
                    "currency_not_converted",
                    "There is no US-dollar rate for this currency: the amount is unknown to the "
                    "rules and the model, and adds nothing to the account's spend in later "
                    "profiles.",
                    "/order/currency",
                )
            )
        card = order.credit_card
        entities = EntityKeys(
            ip=ip.ip_address,
            device_id=order.device.id,
            card_key=card_key(card.issuer_id_number, card.last_digits, card.token),
            email_domain=email.domain,
            email_hash=hashed,
        )
        return OrderSignals(
            event_time=order.event.time or received_at,
            ip=ip,
            email=email,
            device=parse_user_agent(order.device.user_agent),
            phone_country=phone_cc,
            phone_valid=phone_cc is not None,
            billing_country=billing.country,
            shipping_country=order.shipping.country,
            card_country=card.country,
            distance_to_billing_km=distance,
            amount_usd=amount_usd,
            entities=entities,
            warnings=tuple(warnings),
        )
