"""Storage: orders, account profiles, outcomes, API keys, lists and the audit log (SQLAlchemy).

Only this package imports SQLAlchemy and Alembic. ``Store(url)`` opens SQLite or
PostgreSQL; ``Store.upgrade()`` creates or migrates the schema.
"""

from __future__ import annotations

from fraudscreen.store.apikeys import SCOPES, ApiKey
from fraudscreen.store.lists import LIST_KINDS, LIST_NAMES, ListRow
from fraudscreen.store.sql import OrderRecord, Store, StoredOrder

__all__ = [
    "LIST_KINDS",
    "LIST_NAMES",
    "SCOPES",
    "ApiKey",
    "ListRow",
    "OrderRecord",
    "Store",
    "StoredOrder",
]
