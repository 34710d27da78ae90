"""Initial schema: accounts, orders, entity links, outcomes, API keys, lists, meta, audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = "('chargeback', 'fraud', 'not_fraud', 'refund')"


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the first release."""
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", _time(), nullable=True),
        sa.Column("first_seen", _time(), nullable=False),
        sa.Column("last_order_time", _time(), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("accepts", sa.Integer(), nullable=False),
        sa.Column("reviews", sa.Integer(), nullable=False),
        sa.Column("rejects", sa.Integer(), nullable=False),
        sa.Column("outcome_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_table(
        "list_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_name", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_entries")),
        sa.UniqueConstraint(
            "list_name", "kind", "value", name=op.f("uq_list_entries_list_name_kind_value")
        ),
    )
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )
    op.bulk_insert(meta, [{"key": "lists_revision", "value": 0}])
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=255), nullable=True),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("event_time", _time(), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("account_created_at", _time(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("amount_usd", sa.Float(), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("ip_country", sa.String(length=2), nullable=True),
        sa.Column("device_id", sa.String(length=255), nullable=True),
        sa.Column("card_key", sa.String(length=255), nullable=True),
        sa.Column("email_domain", sa.String(length=255), nullable=True),
        sa.Column("email_hash", sa.String(length=128), nullable=True),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("risk_score", sa.Float(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_at", _time(), nullable=True),
        sa.CheckConstraint(
            "decision IN ('accept', 'review', 'reject')", name=op.f("ck_orders_decision")
        ),
        sa.CheckConstraint(
            f"outcome IS NULL OR outcome IN {OUTCOMES}", name=op.f("ck_orders_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_orders_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_orders_transaction_id")),
    )
    op.create_index(op.f("ix_orders_account_id_event_time"), "orders", ["account_id", "event_time"])
    op.create_index(op.f("ix_orders_received_at"), "orders", ["received_at"])
    op.create_table(
        "order_entities",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("event_time", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.order_id"],
            name=op.f("fk_order_entities_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "kind", name=op.f("pk_order_entities")),
    )
    op.create_index(
        op.f("ix_order_entities_kind_value_event_time_account_id"),
        "order_entities",
        ["kind", "value", "event_time", "account_id"],
    )
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reported_at", _time(), nullable=False),
        sa.CheckConstraint(f"outcome IN {OUTCOMES}", name=op.f("ck_outcomes_outcome")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.order_id"],
            name=op.f("fk_outcomes_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
    )
    op.create_index(
        op.f("ix_outcomes_account_id_reported_at"), "outcomes", ["account_id", "reported_at"]
    )
    op.create_index(op.f("ix_outcomes_order_id"), "outcomes", ["order_id"])


def downgrade() -> None:
    """Drop every table (all data is lost)."""
    for table in (
        "outcomes",
        "order_entities",
        "orders",
        "meta",
        "list_entries",
        "audit_log",
        "api_keys",
        "accounts",
    ):
        op.drop_table(table)
