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
    ) -> AccountHistory | None: ...

    def save_order(self, record: OrderRecord) -> tuple[StoredOrder, bool]: ...

    def find_by_transaction(self, transaction_id: str) -> StoredOrder | None: ...

    def get_order(self, order_id: str) -> StoredOrder | None: ...

    def record_outcome(self, order_id: str, outcome: str, reported_at: datetime) -> StoredOrder: ...

    def lists_revision(self) -> int: ...

    def list_entries(self, list_name: str | None = None) -> Sequence[Any]: ...

    def claim_email_key(self, check: int) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
