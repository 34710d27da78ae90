"""The country codes an order or a list entry may name: ISO 3166-1 alpha-2, and ``XK``."""

from __future__ import annotations

from functools import lru_cache

__all__ = ["country_code_problem", "iso_3166_codes"]


@lru_cache(maxsize=1)
def iso_3166_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 (``pycountry``, 249 codes, read once), and XK, which GeoIP databases
    give Kosovo: a code outside them (``UK``, ``ZZ``) names no country an IP address is in."""
    import pycountry  # type: ignore[import-untyped]

    return frozenset(c.alpha_2 for c in pycountry.countries) | {"XK"}


def country_code_problem(code: str) -> str | None:
    """Why upper-case ``code`` is no country code, or None when it is one."""
    if code in iso_3166_codes():
        return None
    hint = " (the United Kingdom is GB)" if code == "UK" else ""
    return f"must be an ISO 3166-1 alpha-2 country code such as 'GB'{hint}"
