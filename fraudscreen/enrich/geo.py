"""GeoIP enrichment: where an IP address is, who routes it, and whether it hides someone.

The only module of fraudscreen that imports ``geoip2``/``maxminddb``. Databases are opened
once with the C extension over mmap (``MODE_MMAP_EXT``): ~20 µs in the reader, ~35 µs per
new address in all, ~0.2 µs for a repeated one (LRU cache), and every worker process
shares the same pages. A missing database is recorded, not raised: lookups
then answer ``found=False`` and :meth:`GeoIP.databases` tells ``/readyz`` what is missing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

import geoip2.database
import geoip2.errors
import maxminddb

from fraudscreen.files import require_regular_file

__all__ = ["CityRecords", "GeoIP", "IPAddress", "IPLocation", "unmapped"]

_CACHE_SIZE = 32_768
"""Addresses each :class:`GeoIP` remembers: ~550 bytes each with the City database alone (the
address and its :class:`IPLocation`, measured filling 10,000 with simulated orders' addresses),
so ~18 MB when full. A miss costs ~31 µs; a 100,000-order replay of a dense shop has 26,563
distinct addresses, which thrashed the former 8,192 entries (52 % misses, 27 % now)."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def unmapped(addr: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped IPv6 address stands for (``::ffff:a.b.c.d``), else ``addr``.

    One host has one address everywhere: in the request, the lists and the GeoIP lookups.
    """
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr
_OPEN_ERRORS = (OSError, ValueError, maxminddb.InvalidDatabaseError)
# Lookup misses: not in the database, or an IPv6 address asked of an IPv4-only database.
_MISSES = (geoip2.errors.AddressNotFoundError, ValueError)

try:  # the C extension over mmap: ~19 µs per city() against ~104 µs in pure Python
    import maxminddb.extension

    _MODE = maxminddb.MODE_MMAP_EXT
except ImportError:  # pragma: no cover - a maxminddb wheel without its extension
    _MODE = maxminddb.MODE_MMAP


@dataclass(frozen=True, slots=True)
class IPLocation:
    """What the GeoIP databases say about one IP address (``found=False``: location unknown)."""

    ip_address: str
    """The address as looked up, in canonical form."""
    found: bool
    """True when the City database has an entry for the address."""
    country: str | None = None
    """ISO 3166-1 alpha-2 country code of the location."""
    region: str | None = None
    """ISO 3166-2 code (without country prefix) of the most specific subdivision, e.g. ``ENG``.
    DB-IP City Lite carries no subdivision codes, so it is None there."""
    city: str | None = None
    """English city name."""
    postal: str | None = None
    """Postal code (GeoIP2 only)."""
    latitude: float | None = None
    """Approximate latitude of the location."""
    longitude: float | None = None
    """Approximate longitude of the location."""
    accuracy_radius: int | None = None
    """Radius in km around the coordinates that likely holds the address (GeoIP2 only)."""
    asn: int | None = None
    """Autonomous system number (needs an ASN database)."""
    as_organization: str | None = None
    """Organisation of the autonomous system (needs an ASN database)."""
    is_anonymous: bool = False
    """Any of the anonymity flags below (needs an Anonymous-IP database)."""
    is_anonymous_vpn: bool = False
    """A known anonymising VPN exit."""
    is_hosting_provider: bool = False
    """Belongs to a hosting or cloud provider."""
    is_public_proxy: bool = False
    """A known public proxy."""
    is_residential_proxy: bool = False
    """A residential address known to relay proxy traffic."""
    is_tor_exit_node: bool = False
    """A Tor exit node."""
    is_private: bool = False
    """Private, loopback, link-local, multicast or otherwise reserved: never in a database."""
    anonymous_ip_checked: bool = False
    """True only when an Anonymous-IP database was consulted; otherwise the flags mean 'unknown'."""

    def to_dict(self) -> dict[str, Any]:
        """The public ``ip_location`` JSON object of a score response."""
        return {
            "country": self.country,
            "region": self.region,
            "city": self.city,
            "postal": self.postal,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "accuracy_radius": self.accuracy_radius,
            "asn": self.asn,
            "as_organization": self.as_organization,
            "is_anonymous": self.is_anonymous,
            "is_anonymous_vpn": self.is_anonymous_vpn,
            "is_hosting_provider": self.is_hosting_provider,
            "is_public_proxy": self.is_public_proxy,
            "is_residential_proxy": self.is_residential_proxy,
            "is_tor_exit_node": self.is_tor_exit_node,
        }


def _is_private(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for addresses no GeoIP database locates: RFC 1918/4193, loopback, link-local,
    carrier-grade NAT, documentation, multicast, reserved (one ``is_global`` test covers most)."""
    return not addr.is_global or addr.is_multicast or addr.is_reserved


class _Database:
    """One opened database of one role (city, asn, anonymous_ip)."""

    __slots__ = ("build_epoch", "database_type", "path", "reader", "role")

    def __init__(self, role: str, path: str, reader: geoip2.database.Reader) -> None:
        meta = reader.metadata()
        self.role = role
        self.path = path
        self.reader = reader
        self.database_type: str = meta.database_type
        self.build_epoch: int = meta.build_epoch

    def describe(self) -> dict[str, Any]:
        built = datetime.fromtimestamp(self.build_epoch, tz=UTC).date().isoformat()
        return {
            "available": True,
            "type": self.database_type,
            "build_date": built,
            "file": Path(self.path).name,  # /readyz answers anyone: no folders
        }


class GeoIP:
    """Reads a City database (GeoIP2, GeoLite2 or DB-IP Lite), optional ASN and Anonymous-IP ones.

    Never raises on a missing or unreadable file: ``city_available`` turns False and
    ``problems`` says which database failed. Lookups are cached (LRU, per instance).
    """

    def __init__(
        self,
        city_path: str | None,
        asn_path: str | None = None,
        anonymous_ip_path: str | None = None,
    ) -> None:
        self.problems: list[str] = []
        """Human-readable reasons why a configured database is not in use (no personal data)."""
        self._city = self._open("city", city_path, ("City",), required=True)
        self._asn = self._open("asn", asn_path, ("ASN", "ISP"), required=False)
        self._anon = self._open(
            "anonymous_ip", anonymous_ip_path, ("Anonymous-IP",), required=False
        )
        self._asn_is_isp = self._asn is not None and "ISP" in self._asn.database_type
        self._cached_lookup = lru_cache(maxsize=_CACHE_SIZE)(self._lookup)

    # -- opening -----------------------------------------------------------------------------

    def _open(
        self, role: str, path: str | None, type_markers: tuple[str, ...], *, required: bool
    ) -> _Database | None:
        if not path:
            if required:
                self.problems.append(f"{role} database: not configured")
            return None
        try:
            require_regular_file(Path(path))  # a FIFO would block the service's start
            reader = geoip2.database.Reader(str(path), mode=_MODE)
        except _OPEN_ERRORS as exc:
            self.problems.append(f"{role} database {path}: cannot be opened ({type(exc).__name__})")
            return None
        db = _Database(role, str(path), reader)
        if not any(marker in db.database_type for marker in type_markers):
            reader.close()
            self.problems.append(
                f"{role} database {path}: wrong type {db.database_type!r}, "
                f"expected {'/'.join(type_markers)}"
            )
            return None
        return db

    @property
    def city_available(self) -> bool:
        """True when a City database is open; without one every lookup answers found=False."""
        return self._city is not None

    @property
    def asn_available(self) -> bool:
        """True when an ASN (or ISP) database is open."""
        return self._asn is not None

    @property
    def anonymous_ip_available(self) -> bool:
        """True when an Anonymous-IP database is open."""
        return self._anon is not None

    def databases(self) -> dict[str, dict[str, Any]]:
        """The configured databases by role (type, build date) for ``/readyz``."""
        out: dict[str, dict[str, Any]] = {}
        for role, db in (("city", self._city), ("asn", self._asn), ("anonymous_ip", self._anon)):
            out[role] = db.describe() if db is not None else {"available": False}
        return out

    # -- lookups -----------------------------------------------------------------------------

    def lookup(self, ip: str) -> IPLocation:
        """Locate ``ip``. A miss is data (``found=False``); an invalid address raises ValueError."""
        return self._cached_lookup(ip)

    def cache_clear(self) -> None:
        """Forget cached lookups (after swapping databases, or in tests)."""
        self._cached_lookup.cache_clear()

    def _lookup(self, ip: str) -> IPLocation:
        if not isinstance(ip, str):
            raise TypeError("IP address must be a string")
        try:
            addr = ipaddress.ip_address(ip.strip())
        except ValueError:
            # The value stays out of the message: an IP address is personal data.
            raise ValueError("not a valid IPv4 or IPv6 address") from None
        canonical = str(addr)
        addr = unmapped(addr)
        anon_checked = self._anon is not None
        if _is_private(addr):
            return IPLocation(canonical, False, is_private=True, anonymous_ip_checked=anon_checked)

        fields: dict[str, Any] = {}
        found = False
        if self._city is not None:
            try:
                rec = self._city.reader.city(addr)
            except _MISSES:
                pass
            else:
                found = True
                loc = rec.location
                fields.update(
                    country=rec.country.iso_code,
                    region=rec.subdivisions.most_specific.iso_code,
                    city=rec.city.name,
                    postal=rec.postal.code,
                    latitude=loc.latitude,
                    longitude=loc.longitude,
                    accuracy_radius=loc.accuracy_radius,
                )
        if self._asn is not None:
            try:
                rec_as = (
                    self._asn.reader.isp(addr) if self._asn_is_isp else self._asn.reader.asn(addr)
                )
                fields.update(
                    asn=rec_as.autonomous_system_number,
                    as_organization=rec_as.autonomous_system_organization,
                )
            except _MISSES:
                pass
        if self._anon is not None:
            try:
                anon = self._anon.reader.anonymous_ip(addr)
            except _MISSES:
                pass
            else:
                fields.update(
                    is_anonymous=bool(anon.is_anonymous),
                    is_anonymous_vpn=bool(anon.is_anonymous_vpn),
                    is_hosting_provider=bool(anon.is_hosting_provider),
                    is_public_proxy=bool(anon.is_public_proxy),
                    is_residential_proxy=bool(anon.is_residential_proxy),
                    is_tor_exit_node=bool(anon.is_tor_exit_node),
                )
        return IPLocation(canonical, found, anonymous_ip_checked=anon_checked, **fields)

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every open database; lookups afterwards answer found=False."""
        for db in (self._city, self._asn, self._anon):
            if db is not None:
                db.reader.close()
        self._city = self._asn = self._anon = None
        self._cached_lookup.cache_clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CityRecords:
    """Country, English city name and network prefix length of addresses, straight from a City
    database's records, without geoip2's models: for sampling many addresses (the simulator's
    address pools), not for screening."""

    def __init__(self, path: str) -> None:
        """Open the database; OSError or ValueError if it cannot be read."""
        self._reader = maxminddb.open_database(path, _MODE)

    def locate(self, ip: str) -> tuple[str, str, int]:
        """``(ISO country or "", English city or "", prefix length)`` of the network holding ``ip``."""
        record, prefix = self._reader.get_with_prefix_len(ip)
        return _record_text(record, "country", "iso_code"), _record_text(record, "city", "names", "en"), prefix

    def close(self) -> None:
        """Close the database."""
        self._reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _record_text(record: Any, *path: str) -> str:
    for key in path:
        record = record.get(key) if isinstance(record, dict) else None
    return str(record) if record else ""
