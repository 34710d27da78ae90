"""Ids the service makes never look like card numbers (so logs never mask them)."""

from __future__ import annotations

import re

from fraudscreen.enrich.card import find_card_numbers
from fraudscreen.ids import new_id


def test_ids_never_hold_a_card_like_run() -> None:
    ids = [new_id() for _ in range(5_000)] + [new_id("anon_", 12) for _ in range(5_000)]
    assert not [i for i in ids if find_card_numbers(i)]
    assert len(set(ids)) == len(ids)


def test_id_shape() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", new_id())
    assert re.fullmatch(r"erasure_[0-9a-f]{16}", new_id("erasure_", 8))
