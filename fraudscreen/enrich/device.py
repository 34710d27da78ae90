"""Device enrichment: browser, OS and kind of device from the User-Agent, and automation detection.

Parsing uses ``ua_parser`` 1.x, whose default parser picks the fastest installed resolver
(the Rust ``ua-parser-rs`` backend here) behind its own cache; :func:`parse_user_agent` adds
an LRU cache of finished results, since a shop sees the same few hundred agents all day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import ua_parser

__all__ = ["DEVICE_TYPES", "DeviceInfo", "parse_user_agent", "warm_up"]

DEVICE_TYPES = ("desktop", "mobile", "tablet", "bot", "unknown")
"""The values of :attr:`DeviceInfo.device_type`."""

# Scripted clients and browser automation, which ua_parser reports as browsers or not at all.
_AUTOMATION = re.compile(
    r"headless|phantomjs|selenium|webdriver|puppeteer|playwright|cypress|slimerjs|"
    r"python-requests|python-urllib|python-httpx|aiohttp|\bhttpx/|\bcurl/|\bwget/|libwww-perl|"
    r"go-http-client|java/\d|apache-httpclient|scrapy|\bbot\b|crawler|spider",
    re.IGNORECASE,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|\bsm-[tpx]\d", re.IGNORECASE)
_MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS"})
_DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "Linux", "Ubuntu", "Fedora", "Debian", "Chrome OS", "FreeBSD"}
)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the User-Agent header says about the buyer's device."""

    browser: str | None
    """Browser family without version, e.g. ``"Chrome"``, ``"Mobile Safari"``; None when unknown."""
    os: str | None
    """Operating system family, e.g. ``"Windows"``, ``"iOS"``; None when unknown."""
    device_type: str
    """One of ``desktop``, ``mobile``, ``tablet``, ``bot``, ``unknown``."""
    is_bot: bool
    """A crawler, a scripted HTTP client or a headless/automated browser."""


_MAX_UA_LENGTH = 1024  # real agents are < 500 characters; longer ones are truncated
_UNKNOWN = DeviceInfo(browser=None, os=None, device_type="unknown", is_bot=False)


def _family(value: object) -> str | None:
    family = getattr(value, "family", None)
    return family if family and family != "Other" else None


@lru_cache(maxsize=4096)
def _parse(ua: str) -> DeviceInfo:
    result = ua_parser.parse(ua)
    browser = _family(result.user_agent)
    os = _family(result.os)
    device = _family(result.device)
    brand = getattr(result.device, "brand", None) or ""

    if device == "Spider" or _AUTOMATION.search(ua):
        return DeviceInfo(browser=browser, os=os, device_type="bot", is_bot=True)
    if device == "iPad" or "tablet" in brand.lower() or _TABLET.search(ua):
        kind = "tablet"
    elif os in _MOBILE_OS:
        # Android tablets leave "Mobile" out of the agent (Google's guidance for tablet browsers).
        kind = "mobile" if os != "Android" or "Mobile" in ua else "tablet"
    elif os in _DESKTOP_OS:
        kind = "desktop"
    elif device is not None:
        kind = "mobile"
    else:
        kind = "unknown"
    return DeviceInfo(browser=browser, os=os, device_type=kind, is_bot=False)


def parse_user_agent(ua: str | None) -> DeviceInfo:
    """Browser, OS and device type of a User-Agent string; an empty agent gives ``unknown``."""
    if not ua or not ua.strip():
        return _UNKNOWN
    return _parse(ua.strip()[:_MAX_UA_LENGTH])


def warm_up() -> None:
    """Load ua_parser's regexes now (~150 ms) instead of on the first order of a worker."""
    ua_parser.parse("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")
