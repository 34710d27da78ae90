"""Storage: orders, account profiles, outcomes, API keys, lists and the audit log (SQLAlchemy).

Only this package imports SQLAlchemy and Alembic. ``Store(url)`` opens SQLite or
PostgreSQL; ``Store.upgrade()`` creates or migrates the schema; ``database_exists(url)``
tells whether a SQLite database file is there and ``has_schema(url)`` whether a database holds
the fraudscreen schema (both without creating anything). The SQL-backed names are
imported on first use, so that the scoring core can use :mod:`fraudscreen.store.records`
and :mod:`fraudscreen.store.interface` without loading SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fraudscreen.store.interface import ScreeningStore
from fraudscreen.store.records import OrderRecord, StoredOrder

if TYPE_CHECKING:
    from fraudscreen.store.apikeys import SCOPES, ApiKey
    from fraudscreen.store.lists import ListRow
    from fraudscreen.store.location import (
        database_exists,
        database_location,
        downgrade_targets,
        has_schema,
        latest_revision,
        schema_revision,
        sqlite_file,
    )
    from fraudscreen.store.sql import Store, open_store

_LAZY = {
    "SCOPES": "fraudscreen.store.apikeys",
    "ApiKey": "fraudscreen.store.apikeys",
    "ListRow": "fraudscreen.store.lists",
    "database_exists": "fraudscreen.store.location",
    "database_location": "fraudscreen.store.location",
    "has_schema": "fraudscreen.store.location",
    "downgrade_targets": "fraudscreen.store.location",
    "latest_revision": "fraudscreen.store.location",
    "schema_revision": "fraudscreen.store.location",
    "sqlite_file": "fraudscreen.store.location",
    "Store": "fraudscreen.store.sql",
    "open_store": "fraudscreen.store.sql",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SCOPES",
    "ApiKey",
    "ListRow",
    "OrderRecord",
    "ScreeningStore",
    "Store",
    "StoredOrder",
    "database_exists",
    "database_location",
    "downgrade_targets",
    "has_schema",
    "latest_revision",
    "open_store",
    "schema_revision",
    "sqlite_file",
]
