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

from fraudscreen.enrich.phone import is_valid_phone
from fraudscreen.pointers import safe_pointer_token

__all__ = ["CARD_SEGMENT", "MAX_PAN_LENGTH", "MIN_PAN_LENGTH", "card_key", "find_card_numbers", "luhn_valid"]

MIN_PAN_LENGTH = 12
"""Shortest primary account number (ISO/IEC 7812) we look for."""
MAX_PAN_LENGTH = 19
"""Longest primary account number (ISO/IEC 7812)."""

# Candidate runs are found in two C-speed steps (``re`` alone costs ~15 ns a character):
# translate every character that cannot be part of a run to a space, and spaces and tabs
# between digits to "_", then split on whitespace. Only tokens of 12+ characters reach the
# regex: at least 12 digits, each pair separated by nothing or up to three separators
# ("4111  1111\t1111 - 1111"). A "+" is kept: a run right after it may be a phone number.
# Dots are kept in tokens but end a run: an IP address or a version is not a card; dots
# count only between groups of exactly four digits ("4111.1111.1111.1111"), see _DOTTED.
# The other punctuation of _GROUP_SEPARATORS is kept too (a literal "_" as "="), and ends a
# run as well: it counts only in a card's own grouping, see _GROUPED.
_GROUP_SEPARATORS = "/\\:,;~|*=#"
_TOKENISE = "".join(
    c if c.isdigit() or c in "-+." + _GROUP_SEPARATORS
    else "_" if c in " \t" else "=" if c == "_" else " "
    for c in map(chr, range(128))
)
_RUN = re.compile(rf"\d(?:[_-]{{0,3}}\d){{{MIN_PAN_LENGTH - 1},}}", re.ASCII)
_SEPARATORS = str.maketrans("", "", "_-")
_GROUP_SPLIT = re.compile(r"[_-]+")
_DOTTED = re.compile(r"(?<!\d)(?<!\d\.)\d{4}(?:\.\d{4}){2,4}(?!\.?\d)", re.ASCII)
# A card in its printed grouping (4-4-4-4, 4-4-4-4-1..3, 4-4-4-1..3, Amex/Diners 4-6-5, 4-6-4)
# with one separator repeated: any punctuation above, "+" or "." or "-", or any number of
# spaces and tabs ("_" here) or "%20" (a URL's space, decoded first). Only this grouping counts,
# and only from a card network's first digits (_issuer_plausible): "2082,2083,2086,2087" (a
# list of ports) is not a card, though one such list in ten passes the Luhn check.
_GROUPED = re.compile(
    r"(?<!\d)\d{4}(?P<s>_+|[-+.=/\\:,;~|*#])"
    r"(?:\d{4}(?P=s)\d{4}(?P=s)\d{1,4}(?:(?P=s)\d{1,3})?|\d{6}(?P=s)\d{4,5})(?!\d)",
    re.ASCII,
)
_NOT_DIGIT = re.compile(r"\D+", re.ASCII)
_GROUPED_MIN_LENGTH = 15  # 13 digits and two separators
_E164_MAX_DIGITS = 15
CARD_SEGMENT = "[card]"
"""Stands for an object key holding a card number in the pointers :func:`find_card_numbers` gives."""


class _UnicodeFold(dict[int, str | None]):
    """Translation table, filled on first use per character: any decimal digit to its ASCII
    digit, space separators to " ", dashes to "-", invisible format characters removed."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        category = unicodedata.category(char)
        folded: str | None = char
        if category == "Nd":
            folded = str(unicodedata.decimal(char))
        elif category == "Zs":
            folded = " "
        elif category == "Pd" or char == "\u2212":  # minus sign
            folded = "-"
        elif category == "Cf":  # zero-width space and joiners, soft hyphen, ...
            folded = None
        self[code] = folded
        return folded


_UNICODE_FOLD = _UnicodeFold()
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


def _issuer_plausible(digits: str) -> bool:
    """True when ``digits`` starts as the card networks' numbers do: 3 (American Express,
    Diners, JCB), 4 (Visa), 5 and 2221-2720 (Mastercard), 6 (Discover, UnionPay, Maestro)."""
    return digits[0] in "3456" or "2221" <= digits[:4] <= "2720"


def _grouped_card(token: str) -> bool:
    """True when ``token`` holds a card written in its grouping with an unusual separator."""
    for match in _GROUPED.finditer(token):
        digits = _NOT_DIGIT.sub("", match.group())
        if _issuer_plausible(digits) and luhn_valid(digits):
            return True
    return False


def _text_has_card(text: str) -> bool:
    if not text.isascii():
        # full-width and other compatibility digits, other scripts' digits, dashes, spaces
        text = unicodedata.normalize("NFKC", text).translate(_UNICODE_FOLD)
    if "%20" in text:  # a URL's spaces: "4111%201111%201111%201111"
        text = text.replace("%20", " ")
    for token in text.translate(_TOKENISE).split():
        if len(token) >= _GROUPED_MIN_LENGTH and _grouped_card(token):
            return True
        if len(token) >= MIN_PAN_LENGTH:
            for match in _RUN.finditer(token):
                run, start = match.group(), match.start()
                if _run_has_card(run) and not (
                    start and token[start - 1] == "+" and _is_phone_number(run)
                ):
                    return True
            if "." in token and any(
                _run_has_card(m.group().replace(".", "_")) for m in _DOTTED.finditer(token)
            ):
                return True
    return False


def _is_phone_number(run: str) -> bool:
    """True when ``+`` + ``run`` is a valid international phone number (E.164, <= 15 digits).

    A card number is never written after a plus sign; a phone number often is, and one in ten
    of those with 12 or more digits passes the Luhn check.
    """
    digits = run.translate(_SEPARATORS)
    return len(digits) <= _E164_MAX_DIGITS and is_valid_phone("+" + digits)


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


def find_card_numbers(body: object) -> list[str]:
    """RFC 6901 JSON pointers of every string, number or object key that holds a full card number.

    ``body`` is a parsed JSON value. Digits may be separated by up to three spaces, tabs or
    dashes (``"4111 1111 1111 1111"``, Unicode spaces and dashes too, invisible format
    characters ignored), by dots between groups of four, by any one punctuation mark or run of
    spaces repeated in a card's own grouping from a card network's first digits
    (``"4111/1111/1111/1111"``, ``"3782_822463_10005"``), and be any script's decimal digits;
    a card hidden inside a longer digit run is found too. A run written right after ``+``
    that is a valid phone number is not a card. A key holding a card is shown as
    :data:`CARD_SEGMENT` in the pointers: they go into the error answer, the number must not.
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
                if len(key_text) >= MIN_PAN_LENGTH and _text_has_card(key_text):
                    child_pointer = f"{pointer}/{CARD_SEGMENT}"  # the error must not echo it
                    if child_pointer not in found:
                        found.append(child_pointer)
                else:
                    child_pointer = f"{pointer}/{safe_pointer_token(key_text)}"  # nor an e-mail
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
    if issuer_id_number and last_digits:  # the first six digits: a checkout may send 6 or 8
        return f"bin:{issuer_id_number[:6]}:{last_digits}"
    return None
