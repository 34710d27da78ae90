"""JSON text as RFC 8259 defines it: the bodies the API and ``fraudscreen score`` decode.

The standard library's decoder also reads ``NaN``, ``Infinity`` and ``-Infinity``, and turns
a number too large for a double (``1e400``) into infinity. None of them is a JSON number, most
JSON readers refuse them, and so does the JSON Lines reader of back-tests and training
(:func:`fraudscreen.training.jsonl.decode_line`). :func:`loads` refuses them too, so that the
service accepts only what a replay of its history can read back.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fraudscreen.errors import pointer_token

__all__ = ["NOT_A_JSON_NUMBER", "NotAJsonNumber", "loads", "non_json_number_pointers"]

NOT_A_JSON_NUMBER = ("NaN, Infinity and numbers beyond the range of a double (about 1.8e308) "
                     "are not JSON numbers")
"""Why a body with one of them is refused (it names no value of the body)."""


class NotAJsonNumber(ValueError):
    """The text holds ``NaN``, ``Infinity``, ``-Infinity`` or a number too large for a double."""


def _constant(_name: str) -> float:
    raise NotAJsonNumber(NOT_A_JSON_NUMBER)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise NotAJsonNumber(NOT_A_JSON_NUMBER)
    return value


def loads(data: str | bytes) -> Any:
    """Decode one JSON text (bytes in UTF-8, -16 or -32, as :func:`json.loads` detects them).

    Raises :class:`NotAJsonNumber` for the values above, another ValueError when the text is
    not JSON (``UnicodeDecodeError`` included), RecursionError when it is nested too deeply.
    """
    return json.loads(data, parse_constant=_constant, parse_float=_finite)


def non_json_number_pointers(data: str | bytes) -> list[str]:
    """RFC 6901 pointers of the values :func:`loads` refused as :class:`NotAJsonNumber`, in
    document order, to name them in the error; none when the text is not JSON for another
    reason as well. An object key holding a card number shows as
    :data:`~fraudscreen.enrich.card.CARD_SEGMENT`: the error must not echo it."""
    from fraudscreen.enrich.card import CARD_SEGMENT, find_card_numbers

    try:
        body = json.loads(data)  # the standard library's reading: those values as floats
    except (ValueError, RecursionError):
        return []
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        value, pointer = stack.pop()
        if isinstance(value, dict):
            stack.extend(reversed([
                (child, f"{pointer}/{CARD_SEGMENT if find_card_numbers(key) else pointer_token(key)}")
                for key, child in value.items()]))
        elif isinstance(value, list):
            stack.extend((value[i], f"{pointer}/{i}") for i in range(len(value) - 1, -1, -1))
        elif isinstance(value, float) and not math.isfinite(value):
            found.append(pointer)
    return found
