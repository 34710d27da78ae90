"""Accounts carry a generation: a random id given when the row is made, so that a screening can
tell that the account it read was erased and made again before its order is stored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``accounts.generation`` (null for accounts made before this release)."""
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("generation", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Drop ``accounts.generation``, in place: a batch copy of the table would drop the old one,
    and SQLite's ``ON DELETE CASCADE`` would take every order with it (SQLite >= 3.35)."""
    op.drop_column("accounts", "generation")
