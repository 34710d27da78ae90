"""What screening needs from a store, as a protocol: the SQL store and the replay's
in-memory store both provide it, and the scoring core depends on this, not on SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from fraudscreen.profile import AccountHistory, EntityKeys
from fraudscreen.store.records import OrderRecord, StoredOrder


class ScreeningStore(Protocol):
    """The reads and writes of one screening: history before, the order after."""

    def load_history(
        self, account_id: str | None, keys: EntityKeys, at: datetime
    ) -> AccountHistory | None:
        """What is known strictly before ``at`` of the account and of ``keys`` shared with other
        accounts; None when nothing is."""

    def save_order(self, record: OrderRecord) -> tuple[StoredOrder, bool]:
        """Store a screened order with its links and account aggregates; ``(existing, False)``
        when its transaction id is already stored. StaleHistoryError when the account was erased
        after its history was read."""

    def find_by_transaction(self, transaction_id: str) -> StoredOrder | None:
        """The order stored for this ``event.transaction_id``, if any."""

    def get_order(self, order_id: str) -> StoredOrder | None:
        """The order with this id, if any."""

    def record_outcome(self, order_id: str, outcome: str, reported_at: datetime) -> StoredOrder:
        """Keep a reported outcome (a label); the latest ``reported_at`` is the order's.
        NotFoundError when there is no such order."""

    def lists_revision(self) -> int:
        """A number that changes whenever an allow/block/review list entry does."""

    def list_entries(self, list_name: str | None = None) -> Sequence[Any]:
        """The list entries (of one list, or all), each with ``list_name``, ``kind``, ``value``
        and ``note``."""

    def claim_email_key(self, check: int) -> None:
        """Keep the email key's check value on first use; ConfigError when the store was first
        used with another key."""

    def ping(self) -> bool:
        """True when the store answers."""

    def close(self) -> None:
        """Release connections and background threads."""
