"""Orders keep the model features and rule hits they were screened with.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``orders.features`` (JSON, null for orders screened before this release)."""
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("features", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop ``orders.features``, in place: a batch copy of the table would drop the old one,
    and SQLite's ``ON DELETE CASCADE`` would take the orders' links and outcomes with it."""
    op.drop_column("orders", "features")
