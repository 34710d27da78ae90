"""Repeated transaction ids: the same request again gets the stored answer, another one a 409.

A checkout that retries sends the same body with the same ``event.transaction_id``; the stored
answer comes back and nothing new is stored. A body that differs (another amount, another card)
under a stored transaction id is another order: answering it with the first order's decision
would accept a cart nobody screened, so it is refused (:class:`TransactionReusedError`), as
Stripe refuses an idempotency key reused with other parameters.

Bodies are compared by :func:`request_digest`: an HMAC-SHA256 of the decoded body in one
canonical form (keys sorted, no spaces), so key order and whitespace do not count. The HMAC
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


def request_digest(body: Any, key: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` (decoded JSON) in canonical form under ``key``."""
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits: the standard library writes any
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(key, _DOMAIN + canonical, hashlib.sha256).hexdigest()
