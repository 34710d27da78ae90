"""Orders keep an HMAC of their request body, so that a transaction id repeated with another body
is refused instead of answered with the first order's decision (fraudscreen.idempotency).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``orders.request_digest`` (null for orders stored before this release), in place."""
    op.add_column("orders", sa.Column("request_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Drop ``orders.request_digest``, in place (as 0003: no batch copy of the table)."""
    op.drop_column("orders", "request_digest")
