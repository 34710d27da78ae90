"""Alembic environment for fraudscreen.

Run through :meth:`fraudscreen.store.Store.upgrade`, which passes an open connection
in ``config.attributes["connection"]`` (inside a write transaction that serialises
concurrent upgrades); no ``alembic.ini`` and no URL from the environment are used.
"""

from __future__ import annotations

from alembic import context

from fraudscreen.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through fraudscreen.store.Store.upgrade()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
