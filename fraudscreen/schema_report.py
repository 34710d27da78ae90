"""How a score request is reported back: error details with JSON pointers for a request that
fails the schema, and warnings for the unknown fields of one that passes it."""

from __future__ import annotations

import re
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from fraudscreen.errors import ErrorDetail
from fraudscreen.pointers import safe_pointer_token
from fraudscreen.result import ScreeningWarning

__all__ = ["NON_BLANK", "PRINTABLE", "unknown_field_warnings", "validation_details"]

PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"
"""No control characters, C0 or C1: what is stored must fit every database (PostgreSQL refuses
NUL) and every terminal it is shown on (``\x9b`` starts a terminal command as ``\x1b[`` does)."""
NON_BLANK = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
""":data:`PRINTABLE` and not only white space. Ids are stripped before they are checked; this
makes the documented schema refuse what stripping would leave empty."""


def _pointer(loc: tuple[int | str, ...]) -> str:
    parts = [safe_pointer_token(p) if isinstance(p, str) else str(p) for p in loc]
    return "/" + "/".join(parts) if parts else ""


def validation_details(exc: ValidationError) -> list[ErrorDetail]:
    """One detail per JSON pointer of a pydantic error; the branches of a ``custom_inputs``
    value count as one."""
    details: dict[str, ErrorDetail] = {}
    for err in exc.errors(include_url=False, include_input=False):
        loc = err["loc"]
        if len(loc) == 3 and loc[0] == "custom_inputs":  # (field, key, union branch)
            pointer = _pointer(loc[:2])
            details.setdefault(pointer, ErrorDetail(pointer, "must be a string, number or boolean"))
        else:
            pointer = _pointer(loc)
            details.setdefault(pointer, ErrorDetail(pointer, _clean_message(err)))  # type: ignore[arg-type]
    return list(details.values())


def _clean_message(error: dict[str, Any]) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") in (
        PRINTABLE, NON_BLANK
    ):  # stripped first, so a NON_BLANK value fails only on a control character
        return "must not contain control characters"
    if error["type"] == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
        return "must not be empty or blank"
    if error["type"] == "extra_forbidden":
        return "is not allowed"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _may_hold_model(annotation: Any) -> bool:
    """True if a field of this type can hold a model (or a list of them) worth walking."""
    if annotation is Any:
        return True
    if isinstance(annotation, type):
        return issubclass(annotation, BaseModel)
    return any(_may_hold_model(arg) for arg in get_args(annotation))


_NESTED: dict[type[BaseModel], tuple[str, ...]] = {}
"""Per model class, the fields that can hold models (found once per class from annotations)."""


def _nested_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    names = _NESTED.get(cls)
    if names is None:
        names = tuple(n for n, f in cls.model_fields.items() if _may_hold_model(f.annotation))
        _NESTED[cls] = names
    return names


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_MOST_DIGITS = 4
"""Unknown keys named in warnings: plain names of at most this many digits (``ip-89.160.20.112``
or ``447946000999`` as a key is an IP address or a phone number, and the answer is stored);
others are reported at their parent, unnamed."""


def _plain_key(key: str) -> bool:
    return _PLAIN_KEY.match(key) is not None and sum(c.isdigit() for c in key) <= _MOST_DIGITS
_UNKNOWN = "This field is not known and was ignored."
_UNKNOWN_ODD = "A field with an unusual name is not known and was ignored; its name is not repeated."
MAX_UNKNOWN_WARNINGS = 20
"""Unknown fields named in an answer; one more warning counts the rest (a 64 KiB body of
5,500 unknown keys made a 600 KB answer, and the answer is stored)."""


def unknown_field_warnings(model: BaseModel, prefix: str = "") -> list[ScreeningWarning]:
    """A warning per unknown key of ``model`` and its sub-models (``extra="allow"``), in field
    order, the first :data:`MAX_UNKNOWN_WARNINGS` of them and one that counts the rest; a key
    that is not a plain name is reported at its parent without repeating it."""
    warnings: list[ScreeningWarning] = []
    _collect_unknown(model, prefix, warnings)
    if len(warnings) > MAX_UNKNOWN_WARNINGS:
        more = len(warnings) - MAX_UNKNOWN_WARNINGS
        warnings[MAX_UNKNOWN_WARNINGS:] = [ScreeningWarning(
            "unknown_field", f"{more} more unknown fields were ignored; they are not named.")]
    return warnings


def _collect_unknown(model: BaseModel, prefix: str, warnings: list[ScreeningWarning]) -> None:
    """Append a warning per unknown key of ``model`` and its sub-models, in field order."""
    extra = model.__pydantic_extra__
    if extra:
        for key in extra:
            if _plain_key(key):
                warnings.append(ScreeningWarning("unknown_field", _UNKNOWN, f"{prefix}/{key}"))
            else:  # the answer is stored: an odd key (an email, a name) is not repeated in it
                warnings.append(ScreeningWarning("unknown_field", _UNKNOWN_ODD, prefix))
    values = model.__dict__
    for name in _nested_fields(type(model)):
        value = values.get(name)
        if isinstance(value, BaseModel):
            if value.__pydantic_extra__ or _nested_fields(type(value)):  # else nothing to report
                _collect_unknown(value, f"{prefix}/{name}", warnings)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel) and (
                    item.__pydantic_extra__ or _nested_fields(type(item))
                ):
                    _collect_unknown(item, f"{prefix}/{name}/{i}", warnings)
