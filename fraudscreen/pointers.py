"""JSON pointers (RFC 6901) that name a request's values without repeating what must not be."""

from __future__ import annotations

from fraudscreen.errors import pointer_token

__all__ = ["EMAIL_SEGMENT", "safe_pointer_token"]

EMAIL_SEGMENT = "[email]"
"""Stands for an object key holding an e-mail address in the pointers of errors
(:data:`fraudscreen.enrich.card.CARD_SEGMENT` for one holding a card number)."""


def safe_pointer_token(key: str) -> str:
    """``key`` as a reference token for an error's pointer: :data:`CARD_SEGMENT` for a key that
    holds a card number, :data:`EMAIL_SEGMENT` for one that holds an e-mail address (errors and
    logs never repeat either), else the key escaped."""
    from fraudscreen.enrich.card import (  # here: fraudscreen.enrich imports this module
        CARD_SEGMENT,
        MIN_PAN_LENGTH,
        find_card_numbers,
    )
    from fraudscreen.enrich.email import EMAIL_IN_TEXT

    if len(key) >= MIN_PAN_LENGTH and find_card_numbers(key):
        return CARD_SEGMENT
    if EMAIL_IN_TEXT.search(key):
        return EMAIL_SEGMENT
    return pointer_token(key)
