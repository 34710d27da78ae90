"""Run-time allow / block / review lists and their in-memory matcher.

The entries live in the database (edited through the admin API); this module
normalises entry values and matches one order against all entries in a few set
look-ups. IP entries are single addresses or CIDR networks (IPv4 or IPv6); an
``email_domain`` entry matches the domain itself and all its subdomains; a 6-digit
``bin`` entry also matches 8-digit BINs that start with it. An ``email_hash`` entry is this
installation's keyed hash of a normalised address (64 hex digits, as the stored orders and
``fraudscreen export`` show it): a raw email, or a hash made elsewhere, could never match.

:func:`make_list_entry` is the one validation of a new entry (API and CLI): it refuses
full card numbers in the value and the note, notes naming an email address and notes longer
than :data:`NOTE_MAX`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fraudscreen.enrich.countries import country_code_problem
from fraudscreen.enrich.email import EMAIL_IN_TEXT, holds_email, normalise_domain
from fraudscreen.enrich.geo import unmapped
from fraudscreen.errors import ErrorDetail, InvalidRequestError
from fraudscreen.jsontext import holds_lone_surrogate
from fraudscreen.logs import mask
from fraudscreen.rules.context import LIST_KINDS
from fraudscreen.schema import MAX_ACCOUNT_ID, NO_EMAIL_IN_IDS, refuse_card_numbers

logger = logging.getLogger(__name__)

LIST_NAMES: tuple[str, ...] = ("allow", "block", "review")
"""The lists an entry can belong to."""

_BIN_RE = re.compile(r"[0-9]{6}(?:[0-9]{2})?")  # ASCII only, as orders carry them
_HASH_RE = re.compile(r"[0-9a-f]{64}")  # HMAC-SHA256, the only email hash the service computes
# Values earlier versions accepted though they could never match: still removable.
_LEGACY_RE = {
    "email_hash": re.compile(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{128}"),
    "bin": re.compile(r"\d{6}(?:\d{2})?"),
}
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_ID = 255

NOTE_MAX = 500
"""Longest note of a list entry, in characters (the store's column); longer ones are refused."""


@dataclass(frozen=True)
class ListEntry:
    """One entry of one list."""

    list_name: str
    """``allow``, ``block`` or ``review``."""
    kind: str
    """One of ``fraudscreen.rules.context.LIST_KINDS`` (``ip``, ``email_domain``, ``bin``...)."""
    value: str
    """The normalised value (see :func:`normalise_list_value`)."""
    note: str = ""
    """Why the entry exists; for staff, never personal data."""


def _bad(pointer: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"invalid list entry: {message}", details=[ErrorDetail(pointer, message)]
    )


def _ip_value(value: str) -> str:
    if "%" in value:
        raise _bad("/value", "IP addresses with a zone id are not accepted")
    try:
        if "/" not in value:
            return str(unmapped(ipaddress.ip_address(value)))
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise _bad("/value", "not an IP address or a CIDR network with no host bits set") from None
    if (
        isinstance(net, ipaddress.IPv6Network)
        and net.prefixlen >= 96
        and net.network_address.ipv4_mapped
    ):
        net = ipaddress.IPv4Network((net.network_address.ipv4_mapped, net.prefixlen - 96))
    if net.prefixlen == 0:
        raise _bad("/value", "a /0 network would match every address")
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def _domain(value: str) -> str | None:
    """Lower-case IDNA form of a domain, or None if it is not a valid domain name."""
    normal = normalise_domain(value)  # as an order's email domain is
    if normal is None:
        return None
    value, labels = normal, normal.split(".")
    if len(value) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        return None
    return value


def normalise_list_value(kind: str, value: str) -> str:
    """The canonical form of ``value`` for ``kind``; InvalidRequestError if bad."""
    if kind not in LIST_KINDS:
        raise _bad("/kind", f"kind must be one of {', '.join(LIST_KINDS)}")
    if not isinstance(value, str) or not value.strip():
        raise _bad("/value", "value must be a non-empty string")
    value = value.strip()
    if kind == "ip":
        return _ip_value(value)
    if kind == "email_domain":
        domain = _domain(value.removeprefix("@"))
        if domain is None:
            raise _bad("/value", "not a domain name (give the part after '@')")
        return domain
    if kind == "email_hash":
        if not _HASH_RE.fullmatch(value.lower()):
            raise _bad(
                "/value",
                "email hash must be 64 hexadecimal digits: this installation's keyed hash of the "
                "address, as `fraudscreen export` and the stored orders show it (a raw email "
                "or another shop's hash never matches)",
            )
        return value.lower()
    if kind == "bin":
        if not _BIN_RE.fullmatch(value):
            raise _bad("/value", "BIN must be 6 or 8 ASCII digits (0-9)")
        return value
    if kind == "country":
        problem = country_code_problem(value.upper())
        if problem:
            raise _bad("/value", f"country {problem}")
        return value.upper()
    longest = MAX_ACCOUNT_ID if kind == "account_id" else _MAX_ID  # as the score request's
    if len(value) > longest or not value.isprintable():
        raise _bad("/value", f"{kind} must be printable and at most {longest} characters")
    return value


def _holds_phone_number(text: str) -> bool:
    """True when ``text`` holds a valid international phone number (``+44 7944 117715``)."""
    import phonenumbers

    return next(iter(phonenumbers.PhoneNumberMatcher(text, None)), None) is not None


def _refuse_cards(value: object, note: object = "") -> None:
    """CardNumberRefusedError (pointers ``/value``, ``/note``) if either holds a card number."""
    refuse_card_numbers({"value": value, "note": note})


def _note(note: object) -> str:
    if not isinstance(note, str):
        raise _bad("/note", "note must be a string")
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise _bad("/note", f"note must be at most {NOTE_MAX} characters (it has {len(note)})")
    if any(unicodedata.category(c) == "Cc" for c in note):  # a forged line in `lists show`
        raise _bad("/note", "note must be one line: no tabs, line breaks or other control characters")
    if EMAIL_IN_TEXT.search(note):  # raw emails are never kept (P2): a list holds their hash
        raise _bad("/note", "note must not hold an email address (emails are kept only as a "
                            "keyed hash: list the account's email_hash instead)")
    if _holds_phone_number(note):  # phone numbers are never kept (P2)
        raise _bad("/note", "note must not hold a phone number (phone numbers are never kept)")
    if mask(note) != note:  # what the logs never show is not kept either
        raise _bad("/note", "note must not hold a secret (an API key, a password, a token)")
    if holds_lone_surrogate(note):
        raise _bad("/note", "note must be valid Unicode text")
    return note


def _check_names(list_name: str, kind: str) -> None:
    if list_name not in LIST_NAMES:
        raise _bad("/list_name", f"list_name must be one of {', '.join(LIST_NAMES)}")
    if kind not in LIST_KINDS:
        raise _bad("/kind", f"kind must be one of {', '.join(LIST_KINDS)}")


def make_list_entry(list_name: str, kind: str, value: str, note: str = "") -> ListEntry:
    """A validated entry with a normalised value and a stripped note; the one check of a new
    entry, for the API and the CLI.

    Raises CardNumberRefusedError when the value or the note holds a full card number, and
    InvalidRequestError with a pointer (``/list_name``, ``/kind``, ``/value``, ``/note``)
    otherwise; neither message repeats the value.
    """
    _refuse_cards(value, note)
    _check_names(list_name, kind)
    if kind in ("account_id", "device_id") and isinstance(value, str) and holds_email(value):
        raise _bad("/value", f"{kind} {NO_EMAIL_IN_IDS}")  # no order could carry it: refused
    checked_note = _note(note)
    normalised = normalise_list_value(kind, value)
    if kind == "email_domain" and _public_suffixes().is_public(normalised):
        raise _bad("/value", f"{normalised} is a public suffix, under which every address of "
                   "many organisations falls: list the domain of one (example.co.uk)")
    return ListEntry(list_name, kind, normalised, checked_note)


@lru_cache(maxsize=1)
def _public_suffixes() -> Any:
    """The ICANN part of the Public Suffix List that ``publicsuffixlist`` ships (no download):
    ``com``, ``co.uk``, and any single label. An ``email_domain`` entry on one would match every
    buyer under it (``allow email_domain com`` accepted a card-testing order)."""
    from publicsuffixlist import PublicSuffixList  # type: ignore[import-untyped]

    return PublicSuffixList(only_icann=True)


def entry_to_remove(list_name: str, kind: str, value: str) -> ListEntry:
    """The entry a removal names, its value normalised as when it was added.

    Values earlier versions stored though they could never match (an MD5 or SHA-1
    ``email_hash``, a BIN in non-ASCII digits) are still accepted here, so they can be
    removed. A full card number is refused as in :func:`make_list_entry`.
    """
    _refuse_cards(value)
    _check_names(list_name, kind)
    try:
        return ListEntry(list_name, kind, normalise_list_value(kind, value))
    except InvalidRequestError:
        legacy = _LEGACY_RE.get(kind)
        text = value.strip().lower() if isinstance(value, str) else ""
        if legacy is None or not legacy.fullmatch(text):
            raise
        return ListEntry(list_name, kind, text)


def _empty_result() -> dict[str, Any]:
    return {
        "allow": False,
        "block": False,
        "review": False,
        "allow_matches": [],
        "block_matches": [],
        "review_matches": [],
    }


class ListMatcher:
    """All list entries, indexed to match one order in O(number of IP prefix lengths) look-ups."""

    def __init__(self, entries: Iterable[ListEntry]) -> None:
        """Index ``entries``; invalid ones are skipped, logged and counted in :attr:`skipped`."""
        self._exact: dict[str, dict[str, set[str]]] = {
            kind: {} for kind in LIST_KINDS if kind != "ip"
        }
        # (ip version, prefix length) -> {network bits >> host bits: list names}
        networks: dict[tuple[int, int], dict[int, set[str]]] = {}
        self.size = 0
        """Number of entries indexed."""
        self.skipped = 0
        """Number of entries ignored because their list, kind or value is invalid."""
        for entry in entries:
            try:
                if entry.list_name not in LIST_NAMES:
                    raise _bad("/list_name", "unknown list")
                value = normalise_list_value(entry.kind, entry.value)
            except InvalidRequestError:
                logger.warning(
                    "skipping invalid %s list entry of kind %s", entry.list_name, entry.kind
                )
                self.skipped += 1
                continue
            self.size += 1
            if entry.kind == "ip":
                net = ipaddress.ip_network(value)
                key = int(net.network_address) >> (net.max_prefixlen - net.prefixlen)
                networks.setdefault((net.version, net.prefixlen), {}).setdefault(key, set()).add(
                    entry.list_name
                )
            else:
                self._exact[entry.kind].setdefault(value, set()).add(entry.list_name)
        self._networks: dict[int, tuple[tuple[int, dict[int, set[str]]], ...]] = {
            version: tuple(
                (bits - plen, table)
                for (v, plen), table in sorted(networks.items(), reverse=True)
                if v == version
            )
            for version, bits in ((4, 32), (6, 128))
        }

    def __len__(self) -> int:
        return self.size

    def _ip_lists(self, ip: str) -> set[str]:
        try:
            addr = unmapped(ipaddress.ip_address(ip.strip()))
        except ValueError:
            return set()
        number = int(addr)
        found: set[str] = set()
        for shift, table in self._networks[addr.version]:
            names = table.get(number >> shift)
            if names:
                found |= names
        return found

    def match(
        self,
        *,
        ip: str | None = None,
        email_domain: str | None = None,
        email_hash: str | None = None,
        bin: str | None = None,
        countries: tuple[str, ...] = (),
        device_id: str | None = None,
        account_id: str | None = None,
    ) -> dict[str, Any]:
        """The ``lists`` part of the rule context for one order; malformed inputs match nothing.

        ``countries`` holds every country to check (the IP country and the billing country).
        """
        result = _empty_result()
        hits: list[tuple[str, set[str]]] = []
        if ip and any(self._networks.values()):
            hits.append(("ip", self._ip_lists(ip)))
        exact = self._exact
        if email_domain and exact["email_domain"]:
            domain = _domain(email_domain)
            if domain:
                labels = domain.split(".")
                found: set[str] = set()
                for i in range(len(labels)):
                    found |= exact["email_domain"].get(".".join(labels[i:]), set())
                hits.append(("email_domain", found))
        if email_hash:
            hits.append(("email_hash", exact["email_hash"].get(email_hash.strip().lower(), set())))
        if bin:
            digits = bin.strip()
            hits.append(
                ("bin", exact["bin"].get(digits[:6], set()) | exact["bin"].get(digits[:8], set()))
            )
        if countries:
            table = exact["country"]
            hits.append(
                (
                    "country",
                    set().union(*(table.get(c.strip().upper(), set()) for c in countries if c)),
                )
            )
        if device_id:
            hits.append(("device_id", exact["device_id"].get(device_id.strip(), set())))
        if account_id:
            hits.append(("account_id", exact["account_id"].get(account_id.strip(), set())))
        for kind, names in hits:
            for name in names:
                result[name] = True
                result[f"{name}_matches"].append(kind)
        return result
