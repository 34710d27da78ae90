"""The simulator's actors (devices, accounts, rings) and the base that turns them into requests.

:class:`SimBase` owns the random generator, the clock and the event list; the scenario
mixins (:mod:`.sim_legit`, :mod:`.sim_patterns`) only decide *who* orders *what*, *when*
and *from where*, then call :meth:`SimBase.request`.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers

from fraudscreen.training.sim_ips import Exit, anonymizer_pool, ip_pool
from fraudscreen.training.sim_tables import (
    CATALOG,
    COUNTRIES,
    CREW_ENGLISH_SHARE,
    CREW_LANGUAGE_SHARE,
    ENGLISH_UI_SHARE,
    FIRST,
    FRAUD_AGENTS,
    FRAUD_LANG,
    FRAUD_SOURCES,
    GLOBAL_MAIL,
    LAST,
    LOCAL_HOUR_WEIGHTS,
    OLD_AGENT,
    OLD_AGENT_SHARE,
    OTHER_LANGUAGE_SHARE,
    PER_EUR,
    PLAN_WEIGHTS,
    REFERRERS,
    USER_AGENTS,
)

ORDERS_PER_DAY = 150
"""Average orders a day: 20,000 orders span about 4.4 months."""
LEGIT_LABEL_DAYS = 90.0
"""A legit label is known once the chargeback window has passed without a dispute."""
LABEL_JOB_DAYS = 7.0
"""The shop's weekly job (Mondays 06:00 UTC) marks the orders whose window has passed: a legit
label lands 90 to 97 days after its order (:func:`legit_label_time`)."""
CHARGEBACK_DAYS = (20.0, 60.0)
"""A fraud label (a chargeback) arrives this many days after the order, uniformly."""
FRAUD_PAYPAL_SHARE = 0.15
"""Share of new fraud accounts that pay with a taken-over PayPal account instead of a card (the
card patterns, :meth:`~.sim_patterns.FraudPatterns.stolen_card` and the like, pay by card)."""
PHONE_TYPO_SHARE = 0.03
"""Share of buyers whose phone number lacks a digit; everyone else's number is valid."""
_PERSONAL_PHONE_TYPES = frozenset({phonenumbers.PhoneNumberType.MOBILE,
                                   phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})
"""The types a buyer's own number has (North American numbers are FIXED_LINE_OR_MOBILE):
never toll-free, premium-rate, personal-number or pager ranges."""
ISSUER_BINS = 600
"""Issuer BINs the simulated cards come from, the busiest first (weight ``1 / (rank + 10)``:
the busiest holds about 2 % of the cards, the 40th 0.5 %): a BIN is shared by many
cardholders, honest and defrauded alike, as a real issuer's is."""
MAX_ACCOUNT_AGE_DAYS = 1500.0
"""The oldest customer account signed up this many days before the window."""
_LONG_DIGITS = re.compile(r"\d(?:[ -]?\d){11}")  # 12+ digits, maybe grouped like a card
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_LANGUAGES = tuple(sorted({c.language for c in COUNTRIES.values()} | set(FRAUD_LANG.values())))
"""Every language the simulator knows, billing countries' and crews'."""

Event = tuple[datetime, int, "SimOrder"]
"""(event time, sequence number, order): the sort key of an order, then the order."""
Item = tuple[str, tuple[str, float] | None, int]
"""A cart line to build: category, (item_id, EUR price) or None for a random one, quantity."""


@dataclass
class Device:
    """One browser or script: id (None when the checkout sends none), user agent, language."""

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
    activity: float = 1.0
    """Relative chance of being the buyer of a returning-customer order."""
    traits: dict[str, Any] = field(default_factory=dict)
    """Scenario flags: ``devops`` (orders by API from servers), ``disputed_at`` (a chargeback),
    ``renewal_due`` (when the plan is next paid)."""


@dataclass(slots=True)
class SimOrder:
    """One generated order, kept as its JSON text until it is written: about 1 KB against about
    6 KB as nested dicts, so that a simulation of a million orders fits in a laptop's memory.

    ``head`` is the compact JSON of the labelled request without its last field, ``scenario``,
    which a later order can still change (``after_dispute``); :meth:`json` adds it."""

    user_id: str
    label: str
    scenario: str
    head: str

    def json(self) -> str:
        """The row as compact JSON: what ``json.dumps`` of the request, ``scenario`` last, gives."""
        return f'{self.head},"scenario":{json.dumps(self.scenario, ensure_ascii=False)}}}'


@dataclass
class Ring:
    """A fraud ring: a handful of devices and IPs shared by its accounts."""

    devices: list[Device]
    ips: list[str]
    offset: float
    accounts: list[Account] = field(default_factory=list)


def plan_period_days(item_id: str) -> float:
    """How long one payment of a plan lasts: yearly plans and domains a year, the rest a month."""
    return 365.0 if item_id.endswith("-1y") or item_id.startswith("domain-") else 30.0


def legit_label_time(t: datetime) -> datetime:
    """When the honest order placed at ``t`` gets its legit label: the first run of the weekly
    label job after its chargeback window (:data:`LEGIT_LABEL_DAYS`) has passed."""
    due = t + timedelta(days=LEGIT_LABEL_DAYS)
    monday = (due + timedelta(days=(7 - due.weekday()) % 7)).replace(
        hour=6, minute=0, second=0, microsecond=0)
    return monday if monday > due else monday + timedelta(days=LABEL_JOB_DAYS)


def cumulative(weights: Iterable[float]) -> list[float]:
    """Running sums, for ``random.choices(..., cum_weights=...)``."""
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def money(value: float, currency: str) -> float:
    """Round an amount the way the currency is written (no minor unit for JPY)."""
    return float(round(value)) if currency == "JPY" else round(value, 2)


def iso(t: datetime) -> str:
    """ISO 8601 UTC with a ``Z``, to the second."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimBase:
    """Random helpers, actor factories and the request builder shared by every scenario."""

    def __init__(self, n: int, *, seed: int, start: datetime,
                 orders_per_day: float = ORDERS_PER_DAY) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.start = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
        self.days = max(1.0, n / orders_per_day)
        self.end = self.start + timedelta(days=self.days)
        self.pool = ip_pool()
        self.exits: tuple[Exit, ...] = anonymizer_pool()
        self.codes = [c for c in COUNTRIES if c in self.pool]
        self.fraud_codes = [c for c in FRAUD_SOURCES if c in self.pool]
        """The far-away countries crews work from (and honest travellers visit)."""
        self.code_cum = cumulative(COUNTRIES[c].weight for c in self.codes)
        self._used: set[str] = set()
        self._seq = 0
        self.events: list[Event] = []
        self.bins = self._issuer_bins()
        self.bin_cum = cumulative(1 / (rank + 10) for rank in range(1, ISSUER_BINS + 1))

    def _issuer_bins(self) -> list[str]:
        """:data:`ISSUER_BINS` distinct BINs: 55 % Visa, 35 % Mastercard, 10 % American Express."""
        bins: dict[str, None] = {}
        while len(bins) < ISSUER_BINS:
            brand = self.rng.random()
            if brand < 0.55:
                bins["4" + self.digits(5)] = None
            elif brand < 0.9:
                bins["5" + str(self.rng.randint(1, 5)) + self.digits(4)] = None
            else:
                bins["3" + self.pick("47") + self.digits(4)] = None
        return list(bins)

    # ----- small random helpers
    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.rng.random() < p

    def pick(self, seq: Sequence[Any]) -> Any:
        """One element of ``seq``, uniformly."""
        return seq[self.rng.randrange(len(seq))]

    def weighted(self, pairs: Sequence[tuple[Any, float]]) -> Any:
        """One ``value`` of ``(value, weight)`` pairs."""
        return self.rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]

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

    def digits(self, k: int) -> str:
        """``k`` random decimal digits."""
        return "".join(self.rng.choices("0123456789", k=k))

    def country(self) -> str:
        """A billing country, weighted like the shop's customers."""
        return str(self.rng.choices(self.codes, cum_weights=self.code_cum)[0])

    def ip_in(self, country: str) -> tuple[str, str]:
        """A residential-looking ``(ip, city)`` whose GeoIP country is ``country``."""
        return self.pick(self.pool[country])  # type: ignore[no-any-return]

    def exit_ip(self, *kinds: str) -> Exit:
        """An anonymizer stand-in address of one of ``kinds`` (any kind when none given)."""
        exits = [e for e in self.exits if not kinds or e.kind in kinds]
        return self.pick(exits)  # type: ignore[no-any-return]

    def local_time(self, offset: float, weights: Sequence[float] = LOCAL_HOUR_WEIGHTS, *,
                   first_day: float = 0.0) -> datetime:
        """A time in the window (from ``first_day`` on, exactly) whose local hour follows ``weights``."""
        lo = math.floor(first_day)
        earliest = self.start + timedelta(days=first_day)
        span = timedelta(days=self.days - lo)
        shift = timedelta(days=lo)
        while True:  # whole days keep the local hours aligned; drop a draw before ``first_day``
            day = self.rng.randrange(lo, max(lo + 1, math.ceil(self.days)))
            hour = self.rng.choices(range(24), weights=weights)[0]
            local = timedelta(days=day, hours=hour, seconds=self.rng.randrange(3600))
            t = self.start + shift + (local - shift - timedelta(hours=offset)) % span
            if t >= earliest:
                return t

    # ----- actors
    def device(self, country: str, *, fraud: bool = False, agents: Sequence[str] = USER_AGENTS,
               with_id: float = 0.92) -> Device:
        """A browser of someone living in ``country``, or of a crew working from it (``fraud``:
        sometimes headless, outdated or a script). Honest buyers run an outdated browser now and
        then too, and not every browser speaks its country's language (:meth:`language`)."""
        if fraud:
            agent = self.pick(FRAUD_AGENTS) if self.chance(0.35) else self.pick(agents)
        elif agents is USER_AGENTS and self.chance(OLD_AGENT_SHARE):
            agent = OLD_AGENT
        else:
            agent = self.pick(agents)
        lang = self.language(country, fraud=fraud)
        base = lang.split("-")[0]
        return Device(self.uuid() if self.chance(with_id) else None, agent,
                      f"{lang},{base};q=0.9,en;q=0.8" if base != "en" else f"{lang},en;q=0.9")

    def language(self, country: str, *, fraud: bool = False) -> str:
        """The first Accept-Language tag of a browser of ``country``: mostly the country's own;
        honest buyers sometimes US English or another country's language (expatriates), crews
        often US English or a billing country's language instead of their own."""
        own = COUNTRIES[country].language if country in COUNTRIES else FRAUD_LANG[country]
        roll = self.rng.random()
        if fraud:
            if roll < CREW_LANGUAGE_SHARE:
                return own
            if roll < CREW_LANGUAGE_SHARE + CREW_ENGLISH_SHARE:
                return "en-US"
            return COUNTRIES[self.country()].language
        if roll < ENGLISH_UI_SHARE:
            return "en-US"
        if roll < ENGLISH_UI_SHARE + OTHER_LANGUAGE_SHARE:
            return str(self.pick(_LANGUAGES))
        return own

    def card(self, country: str, bin6: str | None = None) -> dict[str, str]:
        """A card known by BIN (one of the issuers' :data:`ISSUER_BINS` unless given), last 4
        digits and token only (never a full number)."""
        if bin6 is None:
            bin6 = str(self.rng.choices(self.bins, cum_weights=self.bin_cum)[0])
        return {"issuer_id_number": bin6, "last_digits": self.digits(4),
                "token": self.token("tok_", 24), "country": country}

    def phone(self, country: str) -> str:
        """A national number shaped like a mobile one, valid in ``country`` and of a personal
        type (:data:`_PERSONAL_PHONE_TYPES`): drawn until ``phonenumbers`` says so (at most 200
        draws, far more than any country here needs), so that validity does not depend on the
        country. A few buyers drop a digit (:data:`PHONE_TYPO_SHARE`)."""
        number = self._phone_digits(country)
        for _ in range(200):
            parsed = phonenumbers.parse(number, country)
            if (phonenumbers.is_valid_number_for_region(parsed, country)
                    and phonenumbers.number_type(parsed) in _PERSONAL_PHONE_TYPES):
                break
            number = self._phone_digits(country)
        if self.chance(PHONE_TYPO_SHARE):
            gone = self.rng.randrange(len(number))
            number = number[:gone] + number[gone + 1:]
        return number

    def _phone_digits(self, country: str) -> str:
        """National digits shaped like a mobile number of ``country`` (NANP for US/CA)."""
        c = COUNTRIES[country]
        if c.calling_code == "1":
            return (str(self.rng.randint(2, 9)) + self.digits(2) + str(self.rng.randint(2, 9))
                    + self.digits(6))
        return c.mobile_prefix + self.digits(c.national_len - len(c.mobile_prefix))

    def postal(self, country: str) -> str:
        """A postal code of the country's shape."""
        return "".join(self.pick("0123456789") if ch == "#" else
                       self.pick("ABCDEFGHJKLMNPRSTUVWXYZ") if ch == "A" else ch
                       for ch in COUNTRIES[country].postal)

    def email(self, country: str, *, domain: str | None = None) -> str:
        """A plausible address at ``domain`` or at a global / national free-mail provider."""
        first, last = self.pick(FIRST), self.pick(LAST)
        if domain is None:
            local_mail = COUNTRIES[country].free_mail
            domain = (self.pick(local_mail) if local_mail and self.chance(0.25)
                      else self.weighted(GLOBAL_MAIL))
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
        if fraud:
            method = "paypal" if self.chance(FRAUD_PAYPAL_SHARE) else "card"
        else:
            method = "card" if self.chance(0.75) else (
                "bank_transfer" if bank_country and self.chance(0.4) else "paypal")
        category = self.weighted(PLAN_WEIGHTS)
        item, price = self.pick(CATALOG[category])
        card_country = country
        if not fraud and self.chance(0.04):  # expatriates and company cards from abroad
            card_country = self.country()
        return Account(
            user_id=self.token("cust_", 7, "0123456789"), created_at=created_at, country=country,
            email=email or self.email(country), city=city,
            region=self.pick(c.regions) if c.regions else None, postal=self.postal(country),
            phone=None if self.chance(0.15) else self.phone(country), home_ip=ip,
            utc_offset=offset, devices=[self.device(country)], cards=[self.card(card_country)],
            method=method, plan=(category, item, price))

    @staticmethod
    def renewal_due(acct: Account, t: datetime) -> bool:
        """True, and the next renewal a plan period later, unless the plan was paid lately."""
        due = acct.traits.get("renewal_due")
        if due is not None and t < due:
            return False
        acct.traits["renewal_due"] = t + timedelta(days=plan_period_days(acct.plan[1]))
        return True

    def upgrade_of(self, category: str, item: str) -> Item:
        """The next bigger plan (a VPS at the top moves to a dedicated server)."""
        plans = CATALOG[category]
        ids = [p[0] for p in plans]
        i = ids.index(item) if item in ids else 0
        if i + 1 < len(plans):
            return category, plans[i + 1], 1
        if category == "vps":
            return "dedicated", CATALOG["dedicated"][0], 1
        return category, plans[i], 2

    def first_cart(self, main: Item, *, domain: float, ssl: float) -> list[Item]:
        """A first checkout's cart: the plan ``main``, with a domain for it (chance ``domain``)
        and an SSL certificate (chance ``ssl``) now and then, for new customers and fraud alike."""
        items = [main]
        if self.chance(domain):
            items.append(("domain", None, 1))
        if self.chance(ssl):
            items.append(("ssl", None, 1))
        return items

    # ----- the request
    def item(self, category: str, currency: str, item: tuple[str, float] | None = None,
             quantity: int = 1) -> dict[str, Any]:
        """One shopping-cart line priced in ``currency``."""
        item_id, eur = item or self.pick(CATALOG[category])
        return {"category": category, "item_id": item_id, "quantity": quantity,
                "price": money(eur * PER_EUR[currency], currency)}

    def request(self, t: datetime, acct: Account, *, ip: str, device: Device,
                items: Sequence[Item], label: str, scenario: str,
                card: dict[str, str] | None = None, method: str | None = None,
                avs: str = "Y", cvv: str = "Y", discount: str | None = None) -> dict[str, Any]:
        """Build one labelled score request, add it to the event list and return it (changing
        the returned dict changes nothing: the event keeps the request as its JSON text)."""
        currency = COUNTRIES[acct.country].currency
        cart = [self.item(cat, currency, it, qty) for cat, it, qty in items]
        amount = money(sum(i["price"] * i["quantity"] for i in cart), currency)
        dev: dict[str, Any] = {"ip_address": ip}
        if not self.chance(0.03):
            dev["user_agent"] = device.user_agent
        if not self.chance(0.05):
            dev["accept_language"] = device.accept_language
        if device.id is not None:
            dev["id"] = device.id
        account: dict[str, Any] = {"user_id": acct.user_id}
        if not self.chance(0.02):
            account["created_at"] = iso(acct.created_at)
        billing: dict[str, Any] = {"country": acct.country}
        if acct.region:
            billing["region"] = acct.region
        billing.update(city=acct.city, postal=acct.postal)
        if acct.phone:
            billing.update(phone_number=acct.phone,
                           phone_country_code=COUNTRIES[acct.country].calling_code)
        req: dict[str, Any] = {
            "device": dev,
            "event": {"transaction_id": self.token("txn_", 20), "time": iso(t),
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
        labelled = (t + timedelta(days=self.rng.uniform(*CHARGEBACK_DAYS)) if label == "fraud"
                    else legit_label_time(t))
        req["label"] = label
        req["label_time"] = iso(labelled)
        head = json.dumps(req, ensure_ascii=False, separators=(",", ":"))[:-1]  # without "}"
        req["scenario"] = scenario
        self._seq += 1
        self.events.append((t, self._seq, SimOrder(acct.user_id, label, scenario, head)))
        return req
