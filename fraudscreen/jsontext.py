"""JSON text as RFC 8259 defines it: the bodies the API and ``fraudscreen score`` decode.

The standard library's decoder also reads ``NaN``, ``Infinity`` and ``-Infinity``, and turns
a number too large for a double (``1e400``) into infinity. None of them is a JSON number, most
JSON readers refuse them, and so does the JSON Lines reader of back-tests and training
(:func:`fraudscreen.training.jsonl.decode_line`). :func:`loads` refuses them too, so that the
service accepts only what a replay of its history can read back. An integer too large for a
double (``1`` and 400 zeros) is refused as ``1e400`` is, as the JSON Lines reader refuses it.

A ``\ud800`` escape alone (a lone surrogate, half of a UTF-16 pair) decodes to a string that
no UTF-8 encoder, database or log accepts: :func:`lone_surrogates` names where a decoded body
holds one, so that it is refused with a 400 rather than failing later.

A key repeated in one object is refused too (:class:`RepeatedKey`): RFC 8259 leaves its meaning
open, and a reader that keeps the first value would see another order than one that keeps the
last (``{"token": "4111111111111111", "token": "tok-1"}`` hid a card number from the check).
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = [
    "LONE_SURROGATE",
    "NOT_A_JSON_NUMBER",
    "REPEATED_KEY",
    "NotAJsonNumber",
    "RepeatedKey",
    "loads",
    "lone_surrogates",
    "refused_pointers",
]

NOT_A_JSON_NUMBER = ("NaN, Infinity and numbers beyond the range of a double (about 1.8e308) "
                     "are not JSON numbers")
"""Why a body with one of them is refused (it names no value of the body)."""
REPEATED_KEY = "is repeated in its object: each key must appear once"
"""Why a body with a repeated key is refused, said of the key's pointer."""
LONE_SURROGATE = "must be valid Unicode text (no lone surrogate such as \\ud800)"
"""Why a string or a key holding a lone surrogate is refused."""
_DOUBLE_DIGITS = 309  # an integer of more digits than this may be beyond the range of a double


class NotAJsonNumber(ValueError):
    """The text holds ``NaN``, ``Infinity``, ``-Infinity`` or a number too large for a double."""


class RepeatedKey(ValueError):
    """An object of the text holds one key twice."""


def _constant(_name: str) -> float:
    raise NotAJsonNumber(NOT_A_JSON_NUMBER)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise NotAJsonNumber(NOT_A_JSON_NUMBER)
    return value


def _too_large(text: str) -> bool:
    """True for an integer beyond the range of a double (tested before ``int()``, which refuses
    4,301 digits and more)."""
    return len(text) > _DOUBLE_DIGITS and math.isinf(float(text))


def _integer(text: str) -> int:
    if _too_large(text):
        raise NotAJsonNumber(NOT_A_JSON_NUMBER)
    return int(text)


def _integer_or_infinity(text: str) -> float:
    return math.inf if _too_large(text) else int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise RepeatedKey(REPEATED_KEY)
    return value


def loads(data: str | bytes) -> Any:
    """Decode one JSON text (bytes in UTF-8, -16 or -32, as :func:`json.loads` detects them).

    Raises :class:`NotAJsonNumber` for the values above, :class:`RepeatedKey`, another ValueError
    when the text is not JSON (``UnicodeDecodeError`` included), RecursionError when it is nested
    too deeply.
    """
    return json.loads(data, parse_constant=_constant, parse_float=_finite, parse_int=_integer,
                      object_pairs_hook=_unique_keys)


class _Object(dict[str, Any]):
    """A decoded object that remembers its repeated keys."""

    repeated: tuple[str, ...] = ()


def _recording_object(pairs: list[tuple[str, Any]]) -> _Object:
    value = _Object(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        value.repeated = tuple(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
    return value


def refused_pointers(data: str | bytes) -> list[tuple[str, str]]:
    """(RFC 6901 pointer, why) of each value :func:`loads` refused, in document order: the
    numbers that are no JSON numbers (:data:`NOT_A_JSON_NUMBER`) and the repeated keys
    (:data:`REPEATED_KEY`); none when the text is not JSON for another reason as well. A key
    holding a card number or an e-mail address is not echoed
    (:func:`fraudscreen.pointers.safe_pointer_token`)."""
    from fraudscreen.pointers import safe_pointer_token

    try:  # the standard library's reading: those numbers as floats, repeated keys recorded
        body = json.loads(data, object_pairs_hook=_recording_object, parse_int=_integer_or_infinity)
    except (ValueError, RecursionError):
        return []
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        value, pointer = stack.pop()
        if isinstance(value, _Object):
            found.extend((f"{pointer}/{safe_pointer_token(key)}", REPEATED_KEY) for key in value.repeated)
            stack.extend(reversed([(child, f"{pointer}/{safe_pointer_token(key)}")
                                   for key, child in value.items()]))
        elif isinstance(value, list):
            stack.extend((value[i], f"{pointer}/{i}") for i in range(len(value) - 1, -1, -1))
        elif isinstance(value, float) and not math.isfinite(value):
            found.append((pointer, NOT_A_JSON_NUMBER))
    return found


def holds_lone_surrogate(text: str) -> bool:
    """True when ``text`` cannot be UTF-8 (a lone surrogate: a ``\\ud800`` escape, or bytes a
    command-line argument passed undecoded)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def lone_surrogates(body: Any) -> list[str]:
    """RFC 6901 pointers, in document order, of the strings of a decoded body that hold a lone
    surrogate, and of the members whose key holds one (the key shown escaped, ``\\ud800``)."""
    import orjson

    from fraudscreen.errors import pointer_token
    from fraudscreen.pointers import safe_pointer_token

    try:
        orjson.dumps(body)  # a few microseconds; refuses a lone surrogate anywhere
        return []
    except TypeError:
        pass
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        value, pointer = stack.pop()
        if isinstance(value, dict):
            children = []
            for key, child in value.items():
                if holds_lone_surrogate(key):
                    escaped = key.encode("utf-8", "backslashreplace").decode("utf-8")
                    found.append(f"{pointer}/{pointer_token(escaped)}")
                else:
                    children.append((child, f"{pointer}/{safe_pointer_token(key)}"))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend((value[i], f"{pointer}/{i}") for i in range(len(value) - 1, -1, -1))
        elif isinstance(value, str) and holds_lone_surrogate(value):
            found.append(pointer)
    return found
