"""List entry validation (fraudscreen.rules.lists): the one check the API and the CLI share.

Values that could never match an order, card numbers and overlong notes are refused; found
by the review of rules, lists and model reload (rev-rules).
"""

from __future__ import annotations

import pytest

from fraudscreen.enrich import email_hash, normalise_email
from fraudscreen.errors import CardNumberRefusedError, InvalidRequestError
from fraudscreen.rules.lists import (
    NOTE_MAX,
    ListEntry,
    ListMatcher,
    entry_to_remove,
    make_list_entry,
    normalise_list_value,
)

HASH = email_hash(normalise_email("jane@example.org"), b"installation-key")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("bin", "４１１１１１"),  # full-width digits: orders only carry ASCII ones
        ("bin", "٤١١١١١١١"),  # Arabic-Indic digits
        ("email_hash", "a" * 32),  # MD5
        ("email_hash", "a" * 40),  # SHA-1
        ("email_hash", "a" * 128),  # SHA-512
        ("email_hash", "a" * 63),
        ("email_hash", "jane@example.org"),  # a raw email
        ("country", "UK"),  # the United Kingdom is GB
        ("country", "ZZ"),
        ("account_id", "a" * 129),  # a score request's account.user_id has at most 128
    ],
)
def test_list_values_that_can_never_match_are_refused(kind: str, value: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        normalise_list_value(kind, value)
    assert [d.pointer for d in info.value.details] == ["/value"]
    assert value not in info.value.message


def test_countries_are_iso_codes_and_kosovo_as_geoip_databases_give_it() -> None:
    assert [normalise_list_value("country", c) for c in ("gb", "XK", "us")] == ["GB", "XK", "US"]
    assert normalise_list_value("account_id", "a" * 128) == "a" * 128
    with pytest.raises(InvalidRequestError, match=r"the United Kingdom is GB"):
        normalise_list_value("country", "uk")


def test_the_email_hash_error_says_where_the_hash_comes_from() -> None:
    with pytest.raises(InvalidRequestError) as info:
        normalise_list_value("email_hash", "a" * 32)
    message = info.value.details[0].message
    assert "64 hexadecimal digits" in message and "fraudscreen export" in message
    assert "raw email" in message and "never matches" in message


def test_the_installation_email_hash_is_accepted_and_matches() -> None:
    assert len(HASH) == 64
    entry = make_list_entry("block", "email_hash", f" {HASH.upper()} ")
    assert entry.value == HASH
    assert ListMatcher([entry]).match(email_hash=HASH)["block_matches"] == ["email_hash"]
    assert make_list_entry("review", "bin", "411111").value == "411111"


@pytest.mark.parametrize(
    ("value", "note", "pointers"),
    [
        ("4111-1111-1111-1111", "", ["/value"]),
        ("dev-1", "card 4111 1111 1111 1111 used by jane@example.org", ["/note"]),
        ("4111111111111111", "and 5500 0000 0000 0004", ["/value", "/note"]),
    ],
)
def test_make_list_entry_refuses_card_numbers(value: str, note: str, pointers: list[str]) -> None:
    with pytest.raises(CardNumberRefusedError) as info:
        make_list_entry("block", "account_id", value, note)
    assert [d.pointer for d in info.value.details] == pointers
    shown = [info.value.message, *(d.message for d in info.value.details)]
    assert not any("4111" in text or "5500" in text for text in shown)


def test_a_note_with_dates_times_and_ips_is_no_phone_number() -> None:
    note = "wave of 2026-01-15 12:30 from 81.2.69.160, ticket 4711"
    assert make_list_entry("block", "device_id", "d", note).note == note


def test_a_note_over_the_limit_is_refused_not_cut() -> None:
    assert NOTE_MAX == 500  # the store's column (String(500))
    kept = make_list_entry("block", "device_id", "d", " " + "n" * NOTE_MAX + " ")
    assert kept.note == "n" * NOTE_MAX  # counted after stripping
    with pytest.raises(InvalidRequestError) as info:
        make_list_entry("block", "device_id", "d", "n" * (NOTE_MAX + 1))
    assert [d.pointer for d in info.value.details] == ["/note"]
    assert f"at most {NOTE_MAX} characters" in info.value.details[0].message


@pytest.mark.parametrize("note", ["a\x00b", "\ud800", 7, "line1\nfake\tblock\tip\t6.6.6.6", "x\rOVERWRITE",
                                  "ask jane＠example．org", "called +44 7944 117715", "+1 (415) 555-2671"])
def test_a_note_no_database_can_hold_is_refused(note: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        make_list_entry("block", "device_id", "d", note)  # type: ignore[arg-type]
    assert [d.pointer for d in info.value.details] == ["/note"]


def test_entries_stored_by_earlier_versions_can_still_be_removed() -> None:
    """An MD5 email hash or a full-width BIN was accepted before: it can be named for removal."""
    expected = ListEntry("block", "email_hash", "ab" * 16)
    assert entry_to_remove("block", "email_hash", "AB" * 16) == expected
    assert entry_to_remove("block", "bin", "４１１１１１").value == "４１１１１１"
    assert entry_to_remove("block", "email_hash", HASH.upper()).value == HASH
    for kind, value in (("email_hash", "xyz"), ("bin", "12345"), ("ip", "300.1.1.1")):
        with pytest.raises(InvalidRequestError):
            entry_to_remove("block", kind, value)
    with pytest.raises(CardNumberRefusedError):
        entry_to_remove("block", "account_id", "4111 1111 1111 1111")
    with pytest.raises(InvalidRequestError) as info:
        entry_to_remove("deny", "ip", "192.0.2.1")
    assert info.value.details[0].pointer == "/list_name"


def test_the_matcher_skips_stored_values_that_can_never_match() -> None:
    legacy = [ListEntry("block", "email_hash", "ab" * 16), ListEntry("block", "bin", "４１１１１１")]
    matcher = ListMatcher([*legacy, ListEntry("block", "email_hash", HASH)])
    assert (len(matcher), matcher.skipped) == (1, 2)


@pytest.mark.parametrize("domain", ["com", "co.uk", "@CO.UK", "localhost", "xn--p1ai"])
def test_an_email_domain_entry_on_a_public_suffix_is_refused(domain: str) -> None:
    """`allow email_domain com` made every .com buyer allow-listed."""
    with pytest.raises(InvalidRequestError, match="is a public suffix") as info:
        make_list_entry("allow", "email_domain", domain)
    assert [d.pointer for d in info.value.details] == ["/value"]


def test_an_email_domain_of_one_organisation_is_taken_and_an_old_suffix_entry_can_go() -> None:
    assert make_list_entry("block", "email_domain", "example.co.uk").value == "example.co.uk"
    assert make_list_entry("block", "email_domain", "mailinator.com").value == "mailinator.com"
    assert make_list_entry("block", "email_domain", "user.github.io").value == "user.github.io"
    assert entry_to_remove("allow", "email_domain", "com").value == "com"  # added by an earlier release
