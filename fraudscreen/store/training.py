"""Training data from the store: each screened order's logged features with its latest outcome."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from fraudscreen.store.base import StoreBase, require_aware
from fraudscreen.store.tables import orders

_BATCH = 2000


@dataclass(frozen=True)
class LoggedOrder:
    """One stored order as training needs it: no account, no identifiers."""

    order_id: str
    event_time: datetime
    features: dict[str, Any]
    """``fraudscreen.features.feature_log`` of the order, as stored."""
    outcome: str | None
    outcome_at: datetime | None


class TrainingDataMixin(StoreBase):
    """Reads the logged features of stored orders in event-time order."""

    def logged_orders(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[LoggedOrder]:
        """Orders with logged features and ``since <= event_time < until``, oldest first.

        Streams in batches; orders screened before features were logged are left out.
        """
        stmt = select(
            orders.c.order_id, orders.c.event_time, orders.c.features, orders.c.outcome,
            orders.c.outcome_at,
        ).where(orders.c.features.is_not(None))
        if since is not None:
            stmt = stmt.where(orders.c.event_time >= require_aware(since, "since"))
        if until is not None:
            stmt = stmt.where(orders.c.event_time < require_aware(until, "until"))
        stmt = stmt.order_by(orders.c.event_time, orders.c.order_id)
        with self._read(limited=False) as conn:  # a job: an export may read for minutes
            result = conn.execution_options(yield_per=_BATCH).execute(stmt)
            for row in result:
                yield LoggedOrder(row.order_id, row.event_time, row.features, row.outcome,
                                  row.outcome_at)


__all__ = ["LoggedOrder", "TrainingDataMixin"]
