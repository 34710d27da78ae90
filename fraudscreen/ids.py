"""Random identifiers the service makes (order ids, anonymised ids, erasure ids).

A random hex string holds a Luhn-valid run of 12 or more digits about once in 250 draws
(measured over 20,000 UUIDs): the log filter would mask such an id as a card number, and a
request echoing it would be refused. Ids are therefore drawn again until they hold none.
"""

from __future__ import annotations

import secrets

from fraudscreen.enrich.card import find_card_numbers


def new_id(prefix: str = "", nbytes: int = 16) -> str:
    """``prefix`` + ``2 * nbytes`` random hex digits, never looking like a card number."""
    while True:
        candidate = prefix + secrets.token_hex(nbytes)
        if not find_card_numbers(candidate):
            return candidate
