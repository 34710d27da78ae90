"""Order enrichment: pure functions on primitive values (IP, email, phone, card, user agent, money).

Each module does one lookup and loads its data once per process; the screening code maps
an order onto them. Only :mod:`fraudscreen.enrich.geo` imports ``geoip2``/``maxminddb``.
"""

from __future__ import annotations

from fraudscreen.enrich.card import card_key, find_card_numbers, luhn_valid
from fraudscreen.enrich.currency import KNOWN_CURRENCIES, USD_PER_UNIT, to_usd
from fraudscreen.enrich.device import DeviceInfo, parse_user_agent
from fraudscreen.enrich.email import (
    FREE_EMAIL_DOMAINS,
    EmailInfo,
    analyse_email,
    email_domain,
    email_hash,
    normalise_email,
)
from fraudscreen.enrich.geo import GeoIP, IPLocation
from fraudscreen.enrich.phone import is_valid_phone, phone_country
from fraudscreen.enrich.places import distance_km, locate

__all__ = [
    "FREE_EMAIL_DOMAINS",
    "KNOWN_CURRENCIES",
    "USD_PER_UNIT",
    "DeviceInfo",
    "EmailInfo",
    "GeoIP",
    "IPLocation",
    "analyse_email",
    "card_key",
    "distance_km",
    "email_domain",
    "email_hash",
    "find_card_numbers",
    "is_valid_phone",
    "locate",
    "luhn_valid",
    "normalise_email",
    "parse_user_agent",
    "phone_country",
    "to_usd",
]
