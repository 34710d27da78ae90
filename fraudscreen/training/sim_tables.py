"""Reference tables of the order simulator: buyer countries, money, products, mail, user agents.

Plain data, no logic. Prices are in EUR and converted with :data:`PER_EUR`; the field-level
meaning of everything generated is in ``data/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    """How buyers of one country look: traffic weight, money, clock, phone and address formats."""

    weight: float
    """Relative share of the shop's customers living there."""
    currency: str
    """ISO 4217 code the shop charges buyers of this country in."""
    utc_offset: float
    """Hours east of UTC of the buyers' local time (the US picks one of four zones per account)."""
    calling_code: str
    mobile_prefix: str
    national_len: int
    postal: str
    """Postal code shape: ``#`` a digit, ``A`` a letter, anything else literal."""
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
"""Billing countries of the shop's customers (legit and fraud orders bill to these only)."""

FRAUD_SOURCES = ("NG", "VN", "ID", "RU", "UA", "RO", "PK", "BD", "PH", "CN")
"""Countries far-away fraud connects from (IP country only; never a billing country here).
Honest travellers order from them too (``sim_legit.FAR_TRIP_SHARE``)."""
FRAUD_LANG = {"NG": "en-NG", "VN": "vi-VN", "ID": "id-ID", "RU": "ru-RU", "UA": "uk-UA",
              "RO": "ro-RO", "PK": "ur-PK", "BD": "bn-BD", "PH": "en-PH", "CN": "zh-CN"}
FRAUD_OFFSET = {"NG": 1, "VN": 7, "ID": 7, "RU": 3, "UA": 2, "RO": 2, "PK": 5, "BD": 6,
                "PH": 8, "CN": 8}
PER_EUR = {"USD": 1.08, "GBP": 0.86, "EUR": 1.0, "CAD": 1.47, "AUD": 1.65, "INR": 90.0,
           "BRL": 5.4, "PLN": 4.3, "SEK": 11.3, "CHF": 0.95, "DKK": 7.46, "NOK": 11.5,
           "CZK": 25.0, "MXN": 18.5, "JPY": 160.0, "SGD": 1.45, "ZAR": 20.0, "NZD": 1.78}
"""Units of each currency per EUR (fixed 2024 rates; the shop's price list is in EUR)."""

GLOBAL_MAIL = (("gmail.com", 45), ("outlook.com", 15), ("yahoo.com", 10), ("hotmail.com", 8),
               ("icloud.com", 7), ("proton.me", 3))
DISPOSABLE_MAIL = ("mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com",
                   "trashmail.com", "sharklasers.com", "maildrop.cc", "dispostable.com")
"""Disposable domains, all on the ``disposable-email-domains`` block list: fraud and honest,
privacy-minded buyers draw from the same ones, so that no domain tells one from the other."""

FIRST = ("anna", "ben", "carla", "david", "emma", "felix", "grace", "hugo", "ines", "jonas",
         "kate", "liam", "maria", "noah", "olivia", "paul", "rosa", "sam", "tara", "victor",
         "wei", "yuki", "zoe", "arjun", "lucas", "sofia", "mateo", "elena", "omar", "lena")
LAST = ("smith", "mueller", "martin", "jansen", "brown", "rossi", "garcia", "kowalski",
        "nilsson", "dubois", "silva", "patel", "tanaka", "oconnor", "novak", "schmidt",
        "johnson", "weber", "moreau", "costa", "lee", "kumar", "berg", "fischer", "walker")
COMPANY_WORDS = ("acme", "nordwind", "bluefox", "pixel", "alpen", "brightline", "cobalt",
                 "delta", "ember", "fjord", "granite", "harbor", "ion", "juniper", "kestrel")
COMPANY_SUFFIX = ("hosting", "media", "labs", "web", "digital", "systems", "studio")

CATALOG: dict[str, tuple[tuple[str, float], ...]] = {
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
"""Products per cart category: ``(item_id, price per unit in EUR)``, cheapest plans first."""
PLAN_WEIGHTS = (("hosting", 55), ("vps", 25), ("dedicated", 8), ("email", 7), ("domain", 5))
"""The main plan of a new account, by category."""
ADDON_WEIGHTS = (("domain", 50), ("ssl", 25), ("email", 15), ("vps", 10))

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
MOBILE_AGENTS = USER_AGENTS[4:6]
"""The phone browsers of :data:`USER_AGENTS` (travellers often order from their phone)."""
FRAUD_AGENTS = (
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/122.0.6261.94 Safari/537.36"),
    ("Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/96.0.4664.45 Safari/537.36"),
    "python-requests/2.31.0",
)
"""Fraud crews' browsers when they are not ordinary ones: headless Chrome, an outdated Chrome on
Windows 7, a script. Honest buyers show each of them too (:data:`OLD_AGENT`, :data:`API_AGENTS`)."""
OLD_AGENT = FRAUD_AGENTS[1]
"""The outdated browser of an honest buyer's old PC (also what some crews run)."""
OLD_AGENT_SHARE = 0.02
"""Share of honest browsers that are :data:`OLD_AGENT`."""
API_AGENTS = (
    "curl/8.5.0",
    "python-requests/2.31.0",
    ("HashiCorp Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-hostshop/2.1.0 "
     "Go-http-client/1.1"),
    FRAUD_AGENTS[0],
)
"""Scripted clients of honest ops teams ordering servers through the shop's API (one drives a
headless Chrome through the web checkout)."""
ENGLISH_UI_SHARE = 0.10
"""Share of honest browsers set to US English whatever the buyer's country."""
OTHER_LANGUAGE_SHARE = 0.06
"""Share of honest browsers in another country's language: expatriates, families abroad. The
languages include the crews' (:data:`FRAUD_LANG`): Vietnamese, Russian, Chinese, ... speakers
live in every billing country."""
CREW_LANGUAGE_SHARE = 0.55
"""Share of crew browsers in the crew's own language."""
CREW_ENGLISH_SHARE = 0.30
"""Share of crew browsers set to US English; the rest (15 %) say a billing country's language."""

DISCOUNTS = ("WELCOME10", "SPRING24", "HOSTING20", "BLACKFRIDAY", "PARTNER15")
REFERRERS = ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/",
             "https://www.reddit.com/", "https://hostingcompare.example.org/top-10")
LOCAL_HOUR_WEIGHTS = (1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 4, 6, 7, 7, 6, 6, 6, 6, 5, 5, 6, 7, 7,
                      6, 4, 2)
"""Relative order volume per local hour 0-23 of honest buyers (office hours and evenings)."""
FLAT_HOURS = (1.0,) * 24
"""Fraud crews work in shifts: any hour of the victim's day is as likely as any other."""
