"""Honest traffic of the simulated hosting shop, oddities included.

Returning customers renew, add, upgrade or start a project of several servers, mostly from
home on a known device; some travel, sit behind a VPN, order by API from their servers, or
share an office IP with colleagues.
New customers sign up and order minutes, days or weeks later; a few businesses buy a
dedicated server at once; a few privacy-minded buyers use a disposable mailbox. Web agencies
sign up several client accounts in one sitting on one device, office IP and company card.
Each of these trips a default rule now and then, so that no single rule is perfect.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fraudscreen.training.sim_actors import (
    MAX_ACCOUNT_AGE_DAYS,
    Account,
    Device,
    Item,
    SimBase,
    cumulative,
)
from fraudscreen.training.sim_tables import (
    ADDON_WEIGHTS,
    API_AGENTS,
    CATALOG,
    COMPANY_SUFFIX,
    COMPANY_WORDS,
    COUNTRIES,
    DISCOUNTS,
    DISPOSABLE_MAIL,
    MOBILE_AGENTS,
)

MAX_ACTIVITY = 25.0
"""Cap of an account's relative activity (Pareto, median about 1.6): the busiest customer
makes a few dozen orders in 20,000, not a twentieth of the shop's traffic."""
CARD_RETRY_SHARE = 0.006
"""Share of new customers whose card is declined and who try two or three more cards."""
FAR_TRIP_SHARE = 0.25
"""Share of travellers' trips to a country no customer bills to (holidays, family visits,
business trips): the countries crews work from included, so that none of them is fraud's alone."""
NEW_DOMAIN_SHARE = 0.6
NEW_SSL_SHARE = 0.15
"""A new customer's hosting, server or email plan comes with a domain, and any plan with an SSL
certificate, this often (:meth:`~.sim_actors.SimBase.first_cart`)."""
PROJECT_SHARE = 0.04
"""Share of returning customers' orders that are a new project: 2–3 units of a hosting, VPS or
server plan, with a domain (:data:`PROJECT_DOMAIN_SHARE`) or a certificate now and then."""
PROJECT_DOMAIN_SHARE = 0.5
PROJECT_SSL_SHARE = 0.2
NEW_BUSINESS_SHARE = 0.05
"""Share of new customers that are businesses buying 1–3 dedicated servers at sign-up."""
BUSINESS_GPU_SHARE = 0.5
"""Share of those businesses buying GPU servers (machine-learning teams): the largest honest
orders, as stolen cards' and sleepers' GPU servers are the largest fraud ones."""
PRIVACY_BUYER_SHARE = 0.02
"""Share of new customers who sign up with a disposable mailbox (on the domains fraud uses)."""
LATE_FIRST_ORDER_SHARE = 0.12
"""Share of new customers who sign up, leave, and place their first order 5 to 75 days later."""



class LegitScenarios(SimBase):
    """Existing customers (the population), new customers and agencies."""

    population: list[Account]
    agencies: list[Account]
    activity_cum: list[float]

    def build_population(self) -> None:
        """Accounts that signed up before the window: they make the returning-customer orders."""
        self.population, self.agencies = [], []
        for _ in range(max(40, self.n // 4)):
            self._existing_customer()
        self.activity_cum = cumulative(a.activity for a in self.population)

    def _existing_customer(self) -> None:
        created = self.start - timedelta(days=self.rng.uniform(20, MAX_ACCOUNT_AGE_DAYS))
        country = self.country()
        if self.chance(0.06):  # a company: 2-6 buyers on one office IP and a company domain
            domain = f"{self.pick(COMPANY_WORDS)}-{self.pick(COMPANY_SUFFIX)}"
            domain += f".{COUNTRIES[country].tld}"
            office, _ = self.ip_in(country)
            for _ in range(self.rng.randint(2, 6)):
                acct = self.account(country, created + timedelta(days=self.rng.uniform(0, 15)),
                                    email=self.email(country, domain=domain))
                acct.office_ip, acct.activity = office, self._activity()
                self.population.append(acct)
            return
        acct = self.account(country, created)
        if self.chance(0.3):
            acct.devices.append(self.device(country))
        if acct.plan[0] in ("vps", "dedicated") and self.chance(0.15):
            acct.traits["devops"] = True
        acct.activity = self._activity()
        self.population.append(acct)

    def _activity(self) -> float:
        """How often an existing customer orders, relative to the others (heavy-tailed, capped)."""
        return min(self.rng.paretovariate(1.5), MAX_ACTIVITY)

    def legit_card_checks(self) -> tuple[str, str]:
        """AVS and CVV answers of honest buyers: mostly matches, a few typos."""
        avs = self.rng.choices("YAZN", weights=(88, 5, 4, 3))[0]
        return avs, ("Y" if self.chance(0.98) else "N")

    def returning_order(self) -> None:
        """An existing customer renews, adds or upgrades; usually from home on a known device."""
        acct = self.rng.choices(self.population, cum_weights=self.activity_cum)[0]
        t = self.local_time(acct.utc_offset)
        category, item, price = acct.plan
        roll = self.rng.random()
        items: list[Item]
        if roll < 0.5 and self.renewal_due(acct, t):
            scenario, items = "renewal", [(category, (item, price), 1)]
        elif roll < 0.85 - PROJECT_SHARE:
            addon = self.weighted(ADDON_WEIGHTS)
            scenario = "addon"
            items = [(addon, None, self.rng.randint(2, 12) if addon == "email" else 1)]
        elif roll < 0.85:
            scenario, items = "project", self._project(acct)
        else:
            scenario, items = "upgrade", [self.upgrade_of(category, item)]
        if acct.method == "card" and self.chance(0.04):
            acct.cards.insert(0, self.card(acct.cards[0]["country"]))  # a new card replaces it
        if self.chance(0.1):
            acct.devices.append(self.device(acct.country))
        device = self.pick(acct.devices)
        where = self.rng.random()
        if acct.traits.get("devops") and where < 0.4:  # ordered by API from their own servers
            scenario = "api_client"
            ip = self.exit_ip("hosting").ip
            device = acct.traits.setdefault("api_device", self.device(
                acct.country, agents=API_AGENTS, with_id=0.0))
            items = [("vps", self.pick(CATALOG["vps"]), self.rng.randint(1, 4))]
        elif acct.office_ip and where < 0.8:
            scenario, ip = "office", acct.office_ip
        elif where < 0.76:
            ip = acct.home_ip
        elif where < 0.88:
            ip = self.ip_in(acct.country)[0]  # dynamic address, mobile network
        elif where < 0.95:
            scenario = "traveller"
            ip = self.ip_in(self._elsewhere(acct.country))[0]
            if self.chance(0.5):
                device = Device(device.id, self.pick(MOBILE_AGENTS), device.accept_language)
        else:
            scenario, ip = "vpn_user", self._privacy_exit()
        avs, cvv = self.legit_card_checks()
        self.request(t, acct, ip=ip, device=device, items=items, label="legit",
                     scenario=scenario, avs=avs, cvv=cvv)

    def _project(self, acct: Account) -> list[Item]:
        """A new project's cart: 2–3 more units of the plan the customer runs (a VPS plan for
        mail and domain accounts), sometimes with a domain or a certificate for it."""
        category, item, price = acct.plan
        plan = (item, price)
        if category not in ("hosting", "vps", "dedicated"):
            category, plan = "vps", self.pick(CATALOG["vps"])
        return self.first_cart((category, plan, self.rng.randint(2, 3)),
                               domain=PROJECT_DOMAIN_SHARE, ssl=PROJECT_SSL_SHARE)

    def _privacy_exit(self) -> str:
        """The exit an honest privacy-minded buyer uses: a commercial VPN, seldom Tor."""
        return str(self.exit_ip(self.weighted((("vpn", 19), ("tor", 1)))).ip)

    def _elsewhere(self, home: str) -> str:
        """Where a traveller orders from: another billing country, sometimes a far one."""
        if self.chance(FAR_TRIP_SHARE):
            return str(self.pick(self.fraud_codes))
        other = self.country()
        return other if other != home else self.pick(("US", "GB", "ES", "JP", "SG"))

    def new_customer(self) -> None:
        """Sign-up, then a first order minutes (sometimes days or weeks) later; maybe an add-on
        later."""
        country = self.country()
        t = self.local_time(COUNTRIES[country].utc_offset)
        scenario = "new_customer"
        business = self.chance(NEW_BUSINESS_SHARE)  # dedicated servers at once
        roll = self.rng.random()
        if business or roll < 0.4:  # the sign-up is part of the checkout: seconds to minutes
            lag = self.rng.uniform(2, 300)
        elif roll < 0.7 - LATE_FIRST_ORDER_SHARE / 2:
            lag = self.rng.uniform(300, 1800)
        elif roll < 1 - LATE_FIRST_ORDER_SHARE:
            lag = self.rng.uniform(3600, 5 * 86400)
        else:
            lag = self.rng.uniform(5 * 86400, 75 * 86400)
        email = None
        if self.chance(PRIVACY_BUYER_SHARE):
            scenario = "privacy_buyer"
            email = self.email(country, domain=self.pick(DISPOSABLE_MAIL))
        acct = self.account(country, t - timedelta(seconds=lag), email=email)
        if business:
            scenario = "new_business"
            acct.method = "card"
            gpu = CATALOG["dedicated"][-1]
            item, price = gpu if self.chance(BUSINESS_GPU_SHARE) else self.pick(CATALOG["dedicated"][:-1])
            acct.plan = ("dedicated", item, price)
        category, item, price = acct.plan
        items = self.first_cart((category, (item, price), self.rng.randint(1, 3) if business else 1),
                                domain=NEW_DOMAIN_SHARE if category != "domain" else 0.0,
                                ssl=NEW_SSL_SHARE)
        ip = acct.home_ip
        if self.chance(0.05):
            scenario, ip = "vpn_user", self._privacy_exit()
        avs, cvv = self.legit_card_checks()
        discount = self.pick(DISCOUNTS) if self.chance(0.15) else None
        if acct.method == "card" and self.chance(CARD_RETRY_SHARE):
            t = self._card_retries(t, acct, ip, items)
            scenario = "card_retry"
        self.request(t, acct, ip=ip, device=acct.devices[0], items=items, label="legit",
                     scenario=scenario, avs=avs, cvv=cvv, discount=discount)
        if self.chance(0.3):
            later = t + timedelta(days=self.rng.uniform(1, 20))
            if later < self.end:
                self.request(later, acct, ip=acct.home_ip, device=acct.devices[0],
                             items=[(self.pick(("domain", "ssl", "email")), None, 1)],
                             label="legit", scenario="addon")

    def _card_retries(self, t: datetime, acct: Account, ip: str, items: list[Item]) -> datetime:
        """The bank declines the first card; the buyer tries one or two more, minutes apart,
        before the last one goes through. Returns the time of that last attempt."""
        for _ in range(self.rng.randint(2, 3)):
            self.request(t, acct, ip=ip, device=acct.devices[0], items=items, label="legit",
                         scenario="card_retry", avs=self.pick("YNZ"), cvv=self.pick("YN"))
            acct.cards.insert(0, self.card(acct.country if self.chance(0.8) else self.country()))
            t += timedelta(seconds=self.rng.uniform(40, 600))
        return t

    def agency_batch(self) -> None:
        """A web agency sets up clients: several accounts in an hour, one device, IP and card."""
        if not self.agencies or (len(self.agencies) < 1 + self.n // 6000 and self.chance(0.3)):
            country = self.pick(("US", "GB", "DE", "NL", "FR", "CA"))
            owner = self.account(country, self.start - timedelta(days=self.rng.uniform(60, 900)))
            owner.office_ip = self.ip_in(country)[0]
            owner.method = "card"
            self.agencies.append(owner)
        agency = self.pick(self.agencies)
        assert agency.office_ip is not None
        t = self.local_time(agency.utc_offset)
        device, card = agency.devices[0], agency.cards[0]
        if self.chance(0.5):  # bulk: one client's domains, one order each
            client = self._client(agency, t - timedelta(days=self.rng.uniform(1, 90)))
            for _ in range(self.rng.randint(5, 8)):
                self.request(t, client, ip=agency.office_ip, device=device, card=card,
                             items=[("domain", None, 1)], label="legit", scenario="agency")
                t += timedelta(seconds=self.rng.uniform(30, 500))
            return
        for _ in range(self.rng.randint(4, 6)):
            client = self._client(agency, t - timedelta(seconds=self.rng.uniform(60, 600)))
            self.request(t, client, ip=agency.office_ip, device=device, card=card,
                         items=[(client.plan[0], client.plan[1:], 1), ("domain", None, 1)],
                         label="legit", scenario="agency")
            t += timedelta(seconds=self.rng.uniform(120, 900))

    def _client(self, agency: Account, created_at: datetime) -> Account:
        """A client account the agency manages: agency's address, client's own domain."""
        domain = f"{self.pick(COMPANY_WORDS)}-{self.pick(COMPANY_SUFFIX)}.com"
        client = self.account(agency.country, created_at,
                              email=self.email(agency.country, domain=domain))
        client.city, client.postal, client.region = agency.city, agency.postal, agency.region
        client.method = "card"
        item, price = self.pick(CATALOG["hosting"][3:6])
        client.plan = ("hosting", item, price)
        return client
