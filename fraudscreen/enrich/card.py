"""Card data: refuse full card numbers anywhere in a request; key cards by BIN + last 4 or token.

:func:`find_card_numbers` runs on every request body before anything is stored (privacy
policy P2): a request whose strings, numbers or keys hold a Luhn-valid run of 12 to 19
digits is refused with the JSON pointers it returns.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

import numpy as np

__all__ = ["MAX_PAN_LENGTH", "MIN_PAN_LENGTH", "card_key", "find_card_numbers", "luhn_valid"]

MIN_PAN_LENGTH = 12
"""Shortest primary account number (ISO/IEC 7812) we look for."""
MAX_PAN_LENGTH = 19
"""Longest primary account number (ISO/IEC 7812)."""

# Candidate runs are found in two C-speed steps (``re`` alone costs ~15 ns a character):
# translate every character that cannot be part of a run to a space, and spaces between
# digits to "_", then split on whitespace. Only tokens of 12+ characters reach the regex:
# at least 12 digits, each pair separated by nothing or one separator.
_TOKENISE = "".join(
    c if c.isdigit() or c == "-" else "_" if c == " " else " " for c in map(chr, range(128))
)
_RUN = re.compile(rf"\d(?:[_-]?\d){{{MIN_PAN_LENGTH - 1},}}", re.ASCII)
_SEPARATORS = str.maketrans("", "", "_-")
_GROUP_SPLIT = re.compile(r"[_-]")
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # Luhn value of a doubled digit
_DOUBLE_BYTES = bytes.maketrans(b"0123456789", "".join(map(str, _DOUBLED)).encode("ascii"))
_SMALLEST_CANDIDATE = 10 ** (MIN_PAN_LENGTH - 1)
_DOUBLED_NP = np.array(_DOUBLED, dtype=np.int64)


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (ASCII digits only) passes the Luhn check; False for anything else."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    raw = digits.encode("ascii")
    # Sums of ASCII codes: each digit counts 48 too much, removed at the end.
    total = sum(raw[-1::-2]) + sum(raw[-2::-2].translate(_DOUBLE_BYTES)) - 48 * len(raw)
    return total % 10 == 0


def _long_run_has_card(digits: str) -> bool:
    """True when some 12..19-digit window of a run longer than 19 digits could be a card.

    Vectorised and linear: prefix sums of plain and doubled digit values per index parity
    give every window's Luhn sum at once, 8 array passes for any run length (a 64 KB body
    of digits with no card in it takes ~10 ms, where a pure-Python loop took ~140 ms).
    """
    values = np.frombuffer(digits.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    n = values.size
    odd = (np.arange(n) & 1).astype(bool)
    zero = np.zeros(1, dtype=np.int64)
    # plain[p][k]: sum of values[i] for i < k with i % 2 == p; doubled likewise with _DOUBLED.
    dbl = _DOUBLED_NP[values]
    plain = [np.concatenate((zero, np.cumsum(np.where(odd == bool(p), values, 0)))) for p in (0, 1)]
    doubled = [np.concatenate((zero, np.cumsum(np.where(odd == bool(p), dbl, 0)))) for p in (0, 1)]
    for length in range(MIN_PAN_LENGTH, min(MAX_PAN_LENGTH, n) + 1):
        starts = np.arange(n - length + 1)
        ends = starts + length
        check_odd = ((ends - 1) & 1).astype(bool)  # the check digit's parity is not doubled
        sum_if_even = plain[0][ends] - plain[0][starts] + doubled[1][ends] - doubled[1][starts]
        sum_if_odd = plain[1][ends] - plain[1][starts] + doubled[0][ends] - doubled[0][starts]
        total = np.where(check_odd, sum_if_odd, sum_if_even)
        if np.any((total % 10 == 0) & (values[starts] != 0)):
            return True
    return False


def _run_has_card(run: str) -> bool:
    """True when a run of >= 12 digits (single "_" or "-" between them) holds a card.

    * 12-19 digits: the whole run passes Luhn, or, when it is written in groups, a
      sequence of whole groups of 12-19 digits does ("4111 1111 1111 1111 123").
      Shorter windows of an unbroken run are not tried: one in ten would pass by chance,
      so nearly every 16-digit order id would be refused.
    * more than 19 digits: it cannot be one card, so every 12-19-digit window is tried.

    No issuer number starts with 0 (ISO/IEC 7812 major industry identifier 0 is not used
    for cards), so candidates starting with 0 are skipped: runs of zeros are not cards.
    """
    digits = run.translate(_SEPARATORS)
    if len(digits) > MAX_PAN_LENGTH:
        return _long_run_has_card(digits)
    if digits[0] != "0" and luhn_valid(digits):
        return True
    if len(digits) == len(run):
        return False
    groups = _GROUP_SPLIT.split(run)
    for i in range(len(groups)):
        candidate = ""
        for group in groups[i:]:
            candidate += group
            if len(candidate) > MAX_PAN_LENGTH:
                break
            if len(candidate) >= MIN_PAN_LENGTH and candidate[0] != "0" and luhn_valid(candidate):
                return True
    return False


def _text_has_card(text: str) -> bool:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # full-width and other compatibility digits
    for token in text.translate(_TOKENISE).split():
        if len(token) >= MIN_PAN_LENGTH:
            for match in _RUN.finditer(token):
                if _run_has_card(match.group()):
                    return True
    return False


def _number_text(value: object) -> str | None:
    """The digits a JSON number shows, when it is large enough to hold 12 of them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if abs(value) >= _SMALLEST_CANDIDATE else None
    if isinstance(value, float) and math.isfinite(value) and 1e11 <= abs(value) < 1e16:
        # Only the integer part: the fraction digits of a float are not an account number;
        # from 1e16 on a float cannot hold 16 exact digits.
        return str(int(value))
    return None


def _may_hold_card(body: object) -> bool:
    """False when no string, key or number of ``body`` holds a card (the usual case, ~35 µs/2 KB).

    Gathers every text long enough to matter and tests them joined by newlines in one pass,
    instead of paying the per-call cost for each; only a hit pays for the pointer walk.
    Exact type tests first: parsed JSON holds only dict, list, str, int, float, bool, None.
    """
    texts: list[str] = []
    stack: list[Any] = [body]
    while stack:
        container = stack.pop()
        if type(container) is dict:
            for key in container:
                if type(key) is not str:
                    key = str(key)
                if len(key) >= MIN_PAN_LENGTH:
                    texts.append(key)
            children: Any = container.values()
        elif isinstance(container, (list, tuple)):
            children = container
        elif isinstance(container, dict):
            stack.append(dict(container))
            continue
        else:
            children = (container,)
        for child in children:
            kind = type(child)
            if kind is str:
                if len(child) >= MIN_PAN_LENGTH:
                    texts.append(child)
            elif kind is dict or kind is list:
                stack.append(child)
            elif child is None or kind is bool:
                pass
            elif kind is int or kind is float:
                if child >= _SMALLEST_CANDIDATE or child <= -_SMALLEST_CANDIDATE:
                    text = _number_text(child)
                    if text is not None:
                        texts.append(text)
            elif isinstance(child, (dict, list, tuple)):
                stack.append(child)
            elif isinstance(child, str):
                if len(child) >= MIN_PAN_LENGTH:
                    texts.append(str(child))
            else:
                text = _number_text(child)
                if text is not None:
                    texts.append(text)
    return bool(texts) and _text_has_card("\n".join(texts))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1") if ("~" in token or "/" in token) else token


def find_card_numbers(body: object) -> list[str]:
    """RFC 6901 JSON pointers of every string, number or object key that holds a full card number.

    ``body`` is a parsed JSON value. Digits may be separated by single spaces or dashes
    (``"4111 1111 1111 1111"``); a card hidden inside a longer digit run is found too.
    Floats count by their integer part, below 1e16 (larger ones cannot hold 16 exact digits).
    A key hit points at that member. Pointers come in document order, without duplicates.
    """
    if not _may_hold_card(body):
        return []
    return _walk(body)


def _walk(body: object) -> list[str]:
    """The pointer walk of :func:`find_card_numbers`, testing each text on its own."""
    found: list[str] = []
    # Depth-first with an explicit stack: deep bodies cannot exhaust the recursion limit.
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        value, pointer = stack.pop()
        text: str | None = None
        if isinstance(value, dict):
            children: list[tuple[Any, str]] = []
            for key, child in value.items():
                key_text = key if isinstance(key, str) else str(key)
                child_pointer = f"{pointer}/{_escape(key_text)}"
                if (
                    len(key_text) >= MIN_PAN_LENGTH
                    and child_pointer not in found
                    and _text_has_card(key_text)
                ):
                    found.append(child_pointer)
                children.append((child, child_pointer))
            stack.extend(reversed(children))
        elif isinstance(value, (list, tuple)):
            stack.extend((value[i], f"{pointer}/{i}") for i in range(len(value) - 1, -1, -1))
        elif isinstance(value, str):
            text = value
        else:
            text = _number_text(value)
        if (
            text is not None
            and len(text) >= MIN_PAN_LENGTH
            and pointer not in found
            and _text_has_card(text)
        ):
            found.append(pointer)
    return found


def card_key(
    issuer_id_number: str | None, last_digits: str | None, token: str | None
) -> str | None:
    """A card's identity for profiles and links: its token, else BIN + last digits, else None."""
    if token:
        return f"tok:{token}"
    if issuer_id_number and last_digits:
        return f"bin:{issuer_id_number}:{last_digits}"
    return None
