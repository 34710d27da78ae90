"""Fraud patterns of the simulated hosting shop (their shares: :data:`FRAUD_SHARES`).

Each pattern is one method that adds one attack (one or more orders) to the event list;
``data/README.md`` describes what each looks like in the data. A crew works from a far-away
country (:data:`~.sim_tables.FRAUD_SOURCES`) and connects from its own IP, from an
anonymizer stand-in (:mod:`.sim_ips`) or from a residential proxy in the victim's country.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fraudscreen.training.sim_actors import Account, Device, Item, Ring, SimBase
from fraudscreen.training.sim_tables import (
    CATALOG,
    COUNTRIES,
    DISCOUNTS,
    DISPOSABLE_MAIL,
    FLAT_HOURS,
    FRAUD_OFFSET,
    LOCAL_HOUR_WEIGHTS,
)

FRAUD_RATE = 0.03
"""Share of fraud orders in the stream."""
FRAUD_SHARES = {
    "stolen_card": 0.24,
    "card_testing": 0.15,
    "fraud_ring": 0.14,
    "geo_mismatch": 0.10,
    "anonymizer": 0.10,
    "friendly_fraud": 0.10,
    "sleeper_accounts": 0.10,
    "disposable_email": 0.07,
}
"""Target share of fraud *orders* per pattern (the run keeps the counts close to these)."""
FRAUD_DOMAIN_SHARE = 0.3
FRAUD_SSL_SHARE = 0.1
"""A crew's first checkout adds a domain or an SSL certificate this often (a site to spam or phish
from; honest new customers: :data:`~.sim_legit.NEW_DOMAIN_SHARE`), so the cart's size and
contents are no giveaway."""
BROWSING_CREW_SHARE = 0.35
"""Share of stolen-card accounts whose crew looks round the shop for 1½ to 30 minutes after
signing up; the others check out within 90 seconds, as a script does."""
DRIFT_PATTERN = "sleeper_accounts"
DRIFT_START = 0.5
"""The drift pattern only appears from this fraction of the time window on."""


class FraudPatterns(SimBase):
    """One method per pattern of :data:`FRAUD_SHARES`; they share a few crew helpers."""

    population: list[Account]
    rings: list[Ring]
    sleeper_bins: tuple[str, ...]
    fraud_budget: int = 1_000_000
    """Orders the pattern about to attack still has room for in the run (set before each
    attack): a burst stops there, so that short runs keep fraud near its share."""

    def init_patterns(self) -> None:
        """State the patterns keep across attacks: rings, and the BINs of a breached issuer."""
        self.rings = []
        visa = [b for b in self.bins[10:80] if b.startswith("4")]  # a mid-sized issuer's
        self.sleeper_bins = tuple(self.rng.sample(visa, 3))

    # ----- crew helpers
    def crew(self) -> str:
        """The far-away country a crew works from."""
        return str(self.pick(self.fraud_codes))

    def connect(self, crew: str, victim: str, *, own: float, exit_: float) -> str:
        """The IP a crew orders from: its own, an anonymizer exit, or a residential proxy."""
        roll = self.rng.random()
        if roll < own:
            return self.ip_in(crew)[0]
        if roll < own + exit_:
            return self.exit_ip().ip
        return self.ip_in(victim)[0]

    def fraud_device(self, crew: str) -> Device:
        """A fraudster's browser (language of the crew; sometimes headless or a script)."""
        return self.device(crew, fraud=True)

    def fraud_cart(self, main: Item) -> list[Item]:
        """A crew's cart: the plan ``main``, sometimes with a domain or a certificate."""
        server = main[0] != "ssl"
        return self.first_cart(main, domain=FRAUD_DOMAIN_SHARE if server else 0.0,
                               ssl=FRAUD_SSL_SHARE if server else 0.0)

    def signup_lag(self) -> timedelta:
        """How long before a stolen-card order its account signed up (:data:`BROWSING_CREW_SHARE`)."""
        if self.chance(BROWSING_CREW_SHARE):
            return timedelta(seconds=self.rng.uniform(90, 1800))
        return timedelta(seconds=self.rng.uniform(5, 90))

    def fraud_card_checks(self) -> tuple[str, str]:
        """AVS and CVV answers on stolen card data: the address often fails, the code less."""
        avs = self.rng.choices("NYZA", weights=(30, 45, 15, 10))[0]
        return avs, "Y" if self.chance(0.85) else "N"

    # ----- patterns
    def stolen_card(self) -> None:
        """New account, order seconds after sign-up, high value, the victim's card."""
        victim, crew = self.country(), self.crew()
        ip = self.connect(crew, victim, own=0.45, exit_=0.25)
        t = self.local_time(FRAUD_OFFSET[crew], LOCAL_HOUR_WEIGHTS)
        email = self.email(victim, domain=self.pick(DISPOSABLE_MAIL) if self.chance(0.3) else None)
        acct = self.account(victim, t - self.signup_lag(), email=email, fraud=True)
        device, card = self.fraud_device(crew), self.card(victim)
        for k in range(2 if self.chance(0.3) else 1):
            self._cash_out(t + timedelta(seconds=k * self.rng.uniform(120, 600)), acct, ip,
                           device, card)
        if self.chance(0.2):  # the card was sold on: more buyers, more new accounts, same day
            for _ in range(self.rng.randint(1, 3)):
                t += timedelta(minutes=self.rng.uniform(10, 300))
                crew = self.crew()
                buyer = self.account(victim, t - self.signup_lag(), fraud=True)
                self._cash_out(t, buyer, self.connect(crew, victim, own=0.45, exit_=0.25),
                               self.fraud_device(crew), card)

    def _cash_out(self, t: datetime, acct: Account, ip: str, device: Device,
                  card: dict[str, str]) -> None:
        """A big server order on a stolen card."""
        category = "dedicated" if self.chance(0.6) else "vps"
        item = self.pick(CATALOG[category][-2:] if self.chance(0.7) else CATALOG[category][:2])
        avs, cvv = self.fraud_card_checks()
        self.request(t, acct, ip=ip, device=device,
                     items=self.fraud_cart((category, item, self.rng.randint(1, 3))),
                     label="fraud", scenario="stolen_card", card=card, method="card", avs=avs,
                     cvv=cvv)

    def card_testing(self) -> None:
        """A burst of small orders from one device and IP on many cards and a few new accounts."""
        crew = self.crew()
        ip = self.connect(crew, self.country(), own=0.5, exit_=0.3)
        t = self.local_time(FRAUD_OFFSET[crew], FLAT_HOURS)
        device = self.fraud_device(crew)
        accounts: list[Account] = []
        # a short run has room for a short burst only: fraud stays near its share
        for _ in range(min(self.rng.randint(6, 20), max(3, self.fraud_budget))):
            if not accounts or self.chance(0.2):
                country = self.country()
                domain = self.pick(DISPOSABLE_MAIL) if self.chance(0.5) else None
                created = t - timedelta(seconds=self.rng.uniform(3, 40))
                accounts.append(self.account(country, created, fraud=True,
                                             email=self.email(country, domain=domain)))
            small = ("domain", self.pick(CATALOG["domain"][-1:] + CATALOG["domain"][:1]), 1) \
                if self.chance(0.6) else ("ssl", CATALOG["ssl"][0], 1)
            self.request(t, accounts[-1], ip=ip, device=device, items=[small], label="fraud",
                         scenario="card_testing", card=self.card(self.country()), method="card",
                         avs=self.pick("NZAY"), cvv="N" if self.chance(0.4) else "Y")
            t += timedelta(seconds=self.rng.uniform(10, 120))

    def fraud_ring(self) -> None:
        """A ring's working session: 1-3 of its accounts order within hours on the few devices
        and IPs the ring reuses, so the sharing shows within a day as well as over months."""
        ring = self._ring()
        t = self.local_time(ring.offset)
        for _ in range(min(self.rng.randint(1, 3), self.fraud_budget)):
            if t >= self.end:
                break
            t = self._ring_order(ring, t) + timedelta(minutes=self.rng.uniform(10, 120))

    def _ring(self) -> Ring:
        """One of the run's rings (a new one now and then, up to one per 8,000 orders)."""
        if not self.rings or (len(self.rings) < 1 + self.n // 8000 and self.chance(0.3)):
            crew = self.crew()
            own = self.chance(0.5)
            self.rings.append(Ring(
                devices=[self.fraud_device(crew) for _ in range(self.rng.randint(2, 3))],
                ips=[self.ip_in(crew)[0] if own else self.exit_ip("vpn", "hosting").ip
                     for _ in range(self.rng.randint(2, 3))],
                offset=FRAUD_OFFSET[crew]))
        return self.pick(self.rings)  # type: ignore[no-any-return]

    def _ring_order(self, ring: Ring, t: datetime) -> datetime:
        """One order of a ring account (often a new one) at ``t`` or later; returns its time."""
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
                     items=self.fraud_cart((category, self.pick(pool), 1)), label="fraud",
                     scenario="fraud_ring", card=self.card(acct.country), avs=avs, cvv=cvv)
        return t

    def geo_mismatch(self) -> None:
        """Account takeover: an existing account orders from far away on a new device and card."""
        acct = self.pick(self.population)
        crew = self.crew()
        t = self.local_time(FRAUD_OFFSET[crew])
        category = "dedicated" if self.chance(0.5) else "vps"
        avs, cvv = self.fraud_card_checks()
        self.request(t, acct, ip=self.ip_in(crew)[0], device=self.fraud_device(crew),
                     label="fraud", scenario="geo_mismatch", card=self.card(acct.country),
                     method="card",
                     items=[(category, self.pick(CATALOG[category][-2:]), 1)], avs=avs, cvv=cvv)

    def anonymizer(self) -> None:
        """A young account ordering through a VPN, hosting or Tor exit to hide where it is."""
        victim, crew = self.country(), self.crew()
        exit_ = self.exit_ip(self.weighted((("tor", 4), ("vpn", 4), ("hosting", 2))))
        t = self.local_time(FRAUD_OFFSET[crew], FLAT_HOURS)
        acct = self.account(victim, t - timedelta(seconds=self.rng.uniform(60, 3 * 86400)),
                            fraud=True)
        category = self.pick(("vps", "vps", "hosting", "dedicated"))
        avs, cvv = self.fraud_card_checks()
        self.request(t, acct, ip=exit_.ip, device=self.fraud_device(crew), label="fraud",
                     scenario="anonymizer",
                     items=self.fraud_cart((category, None, self.rng.randint(1, 2))),
                     card=self.card(victim), avs=avs, cvv=cvv)

    def disposable_email(self) -> None:
        """A new account on a disposable email domain buying a mid-priced plan."""
        country = self.country()
        t = self.local_time(COUNTRIES[country].utc_offset, FLAT_HOURS)
        email = self.email(country, domain=self.pick(DISPOSABLE_MAIL))
        acct = self.account(country, t - timedelta(seconds=self.rng.uniform(30, 2 * 86400)),
                            email=email, fraud=True)
        ip = self.exit_ip("vpn").ip if self.chance(0.4) else acct.home_ip
        category = self.pick(("vps", "hosting", "ssl", "email"))  # mailboxes to spam from
        avs, cvv = self.fraud_card_checks()
        self.request(t, acct, ip=ip, device=self.fraud_device(self.crew()), label="fraud",
                     scenario="disposable_email", items=self.fraud_cart((category, None, 1)),
                     card=self.card(country), avs=avs, cvv=cvv,
                     discount=self.pick(DISCOUNTS) if self.chance(0.4) else None)

    def friendly_fraud(self) -> None:
        """A customer with a clean history buys something bigger, then disputes the charge."""
        acct = self.pick(self.population)
        while acct.method == "bank_transfer":  # bank transfers cannot be charged back
            acct = self.pick(self.population)
        t = self.local_time(acct.utc_offset, first_day=self.days * 0.2)
        history = max(t - self.start - timedelta(hours=12), timedelta(0))
        category, item, price = acct.plan
        earlier = sorted(self.start + history * self.rng.random() for _ in range(self.rng.randint(1, 3)))
        for before in earlier:  # the good-looking history, in the window: renewals, add-ons
            scenario, paid = ("renewal", [(category, (item, price), 1)]) \
                if self.renewal_due(acct, before) else ("addon", [("domain", None, 1)])
            self.request(before, acct, ip=acct.home_ip, device=acct.devices[0],
                         items=paid, label="legit", scenario=scenario)
        roll = self.rng.random()
        if roll < 0.5:  # "I never agreed to this renewal"
            items: list[Item] = [(category, (item, price), 1)]
        elif roll < 0.8:
            items = [self.upgrade_of(category, item)]
        else:  # a big one-off: servers for a project, disputed once it is done
            big = self.pick((("dedicated", CATALOG["dedicated"][1:]), ("vps", CATALOG["vps"][2:])))
            items = [(big[0], self.pick(big[1]), self.rng.randint(1, 2))]
        req = self.request(t, acct, ip=acct.home_ip, device=acct.devices[0], label="fraud",
                           scenario="friendly_fraud", items=items)
        landed = datetime.fromisoformat(req["label_time"])
        acct.traits["disputed_at"] = min(landed, acct.traits.get("disputed_at", landed))

    def sleeper_accounts(self) -> None:
        """Drift: accounts registered weeks earlier wake up and buy GPU servers on breached BINs."""
        victim = self.country()
        t = self.local_time(COUNTRIES[victim].utc_offset, first_day=self.days * DRIFT_START)
        created = t - timedelta(days=self.rng.uniform(14, 45))
        acct = self.account(victim, created, fraud=True)
        ip = self.ip_in(victim)[0]  # a residential proxy in the victim's country
        card = self.card(victim, bin6=self.pick(self.sleeper_bins))
        item = self.pick((CATALOG["dedicated"][3], CATALOG["dedicated"][3], CATALOG["vps"][3]))
        category = "dedicated" if item in CATALOG["dedicated"] else "vps"
        self.request(t, acct, ip=ip, device=acct.devices[0], label="fraud",
                     scenario="sleeper_accounts",
                     items=self.fraud_cart((category, item, self.rng.randint(1, 3))),
                     card=card, method="card", avs="Y", cvv="Y")
