"""Ids the service makes never look like card numbers (so logs never mask them)."""

from __future__ import annotations

import random
import re

import pytest

from fraudscreen.enrich.card import find_card_numbers, luhn_valid
from fraudscreen.ids import _may_hold_card, new_id


def test_ids_never_hold_a_card_like_run() -> None:
    ids = [new_id() for _ in range(5_000)] + [new_id("anon_", 12) for _ in range(5_000)]
    assert not [i for i in ids if find_card_numbers(i)]
    assert len(set(ids)) == len(ids)


def test_id_shape() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", new_id())
    assert re.fullmatch(r"erasure_[0-9a-f]{16}", new_id("erasure_", 8))


USED_PREFIXES = ["", "erasure_", "anon_"]
PREFIXES = [*USED_PREFIXES, "4111", "411111111111", "4111-1111-", "4111.1111.", "id "]
"""The prefixes the code uses, and prefixes with digits, dashes, dots and spaces."""
SEPARATORS = [" ", "  ", "\t", "-", " - ", ".", "\u2009", "\u2013", "\u00a0", "\u200b"]
"""What card.py joins digits across: spaces, tabs, dashes, dots, Unicode spaces and dashes,
an invisible zero-width space."""


def _luhn_number(rng: random.Random, length: int) -> str:
    """A Luhn-valid number of ``length`` digits, not starting with 0."""
    body = str(rng.randrange(1, 10)) + "".join(rng.choice("0123456789") for _ in range(length - 2))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def _written(rng: random.Random, digits: str) -> str:
    """``digits`` as they might appear: plain, in groups of four, in another script's digits."""
    style = rng.randrange(3)
    if style == 1:
        return rng.choice(SEPARATORS).join(digits[i:i + 4] for i in range(0, len(digits), 4))
    if style == 2:  # full-width or Arabic-Indic digits
        base = rng.choice((0xFF10, 0x0660))
        return "".join(chr(base + int(d)) for d in digits)
    return digits


def test_the_prefilter_never_skips_an_id_the_card_scan_would_refuse() -> None:
    """``_may_hold_card`` says False only for texts where ``find_card_numbers`` finds nothing."""
    rng = random.Random(7)
    used_ids, other_ids = (
        [p + rng.randbytes(n).hex() for p in prefixes for n in (8, 12, 16) for _ in range(1000)]
        for prefixes in (USED_PREFIXES, PREFIXES[len(USED_PREFIXES):])
    )
    cards = []
    for _ in range(4000):
        digits = _luhn_number(rng, rng.randrange(12, 20))
        cut = rng.randrange(len(digits))  # a prefix ending in digits joins the digits after it
        head = rng.choice([*PREFIXES, digits[:cut]])
        body = _written(rng, digits[len(head):] if head == digits[:cut] else digits)
        cards.append(head + rng.choice(("", rng.randbytes(1).hex())) + body
                     + rng.choice(("", "abc", rng.randbytes(4).hex())))
    missed = [t for t in used_ids + other_ids + cards
              if find_card_numbers(t) and not _may_hold_card(t)]
    assert missed == []
    # the comparison means something: most card texts hold a card, most ids skip the scan
    assert sum(1 for t in other_ids if find_card_numbers(t)) > 100
    assert sum(1 for t in cards if find_card_numbers(t)) > len(cards) // 2
    assert sum(1 for t in used_ids if not _may_hold_card(t)) > len(used_ids) * 0.9


@pytest.mark.parametrize("separator", SEPARATORS)
def test_card_numbers_written_with_any_separator_are_scanned(separator: str) -> None:
    text = "anon_" + separator.join(("4111", "1111", "1111", "1111"))
    assert find_card_numbers(text)
    assert _may_hold_card(text)


def test_twelve_digits_are_scanned_and_eleven_are_not() -> None:
    card = "411111111117"  # 12 digits, Luhn-valid
    assert find_card_numbers("anon_" + card) and _may_hold_card("anon_" + card)
    assert _may_hold_card("\uff14" + card[1:])  # a full-width first digit
    assert not _may_hold_card("anon_" + card[:11] + "abc" + card[:11])
