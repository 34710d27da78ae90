"""What the store keeps of a screened order and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fraudscreen.profile import EntityKeys


@dataclass(frozen=True)
class OrderRecord:
    """What is kept of one screened order: minimum data, no raw email, no names, no card number."""

    order_id: str
    """The service's id of the screened order (the response ``id``)."""
    transaction_id: str | None
    """The checkout's ``event.transaction_id``; unique, makes retries idempotent."""
    account_id: str | None
    event_time: datetime
    """When the order happened (the request's event time), UTC."""
    received_at: datetime
    """When the service received it, UTC."""
    account_created_at: datetime | None
    """The order's ``account.created_at``; the account keeps the latest one reported."""
    amount: float | None
    currency: str | None
    amount_usd: float | None
    entities: EntityKeys
    ip_country: str | None
    decision: str
    """accept, review or reject."""
    risk_score: float
    response: dict[str, Any] = field(default_factory=dict)
    """The full JSON answer, returned again for a repeated transaction id."""
    features: dict[str, Any] | None = None
    """The model features and rule hits the order was screened with (``features.feature_log``)."""
    history_orders: int = 0
    """How many of the account's earlier orders the screening saw."""
    history_generation: str | None = None
    """The generation of the account record those orders came from; when the screening saw
    earlier orders and the store's record has another generation as it saves the order (the
    account was erased and made again meanwhile), the store refuses the stale answer."""
    request_digest: str | None = None
    """The request body's HMAC (:func:`fraudscreen.idempotency.request_digest`)."""


@dataclass(frozen=True)
class StoredOrder:
    """A stored order as the API needs it back."""

    order_id: str
    transaction_id: str | None
    account_id: str | None
    event_time: datetime
    decision: str
    risk_score: float
    response: dict[str, Any]
    outcome: str | None
    """The latest reported outcome (the order's label), if any."""
    outcome_at: datetime | None
    """When that outcome was reported."""
    request_digest: str | None = None
    """The request body's HMAC, to tell a retry from another order under the same transaction
    id; None for orders stored before it was kept and after the personal period."""


def stored_from_row(row: Any) -> StoredOrder:
    """A :class:`StoredOrder` from a Core row with the order columns by name."""
    return StoredOrder(
        order_id=row.order_id,
        transaction_id=row.transaction_id,
        account_id=row.account_id,
        event_time=row.event_time,
        decision=row.decision,
        risk_score=row.risk_score,
        response=row.response,
        outcome=row.outcome,
        outcome_at=row.outcome_at,
        request_digest=row.request_digest,
    )
