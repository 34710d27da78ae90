"""Repeated transaction ids: the same request again gets the stored answer, another one a 409.

A checkout that retries sends the same body with the same ``event.transaction_id``; the stored
answer comes back and nothing new is stored. A body that differs (another amount, another card)
under a stored transaction id is another order: answering it with the first order's decision
would accept a cart nobody screened, so it is refused (:class:`TransactionReusedError`), as
Stripe refuses an idempotency key reused with other parameters.

Bodies are compared by :func:`request_digest`: an HMAC-SHA256 of the decoded body in one
canonical form (keys sorted, no spaces, a whole number written without a fraction), so key
order, whitespace and ``119.0`` against ``119`` do not count: RFC 8259 makes them one number,
and a retry through another client's JSON writer (JavaScript's writes ``119``) is the same
order. The HMAC
key is the installation's e-mail key: the digest is as pseudonymous as the e-mail hash, and
goes with the order's other personal values at the end of the personal period (after that a
repeat gets the stored answer without the comparison).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import orjson

from fraudscreen.errors import ConflictError, ErrorDetail

__all__ = ["TransactionReusedError", "request_digest"]

_DOMAIN = b"fraudscreen request digest\n"  # the key also makes e-mail hashes: another message domain


class TransactionReusedError(ConflictError):
    """The transaction id is stored for an order with another body."""

    code = "transaction_id_reused"

    def __init__(self) -> None:
        super().__init__(
            "This event.transaction_id was screened before with another body; send the same "
            "body to get the stored answer again, or a new transaction id for a new order.",
            details=[ErrorDetail("/event/transaction_id", "was used for another order")],
        )


_EXACT_WHOLE = 2.0**53
"""Below this, a whole float is exactly one integer."""


def _whole_numbers_as_integers(value: Any) -> Any:
    """``value`` with each whole float below 2**53 as its integer (``119.0`` -> ``119``)."""
    if isinstance(value, dict):
        return {k: _whole_numbers_as_integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_integers(v) for v in value]
    if type(value) is float and value.is_integer() and abs(value) < _EXACT_WHOLE:
        return int(value)
    return value


def request_digest(body: Any, key: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` (decoded JSON) in canonical form under ``key``."""
    body = _whole_numbers_as_integers(body)
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits: the standard library writes any
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(key, _DOMAIN + canonical, hashlib.sha256).hexdigest()
