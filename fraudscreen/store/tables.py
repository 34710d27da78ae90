"""The database schema as SQLAlchemy Core tables.

The schema is created only by the Alembic migrations in ``store/migrations``; this
metadata is what the code queries and what the drift test compares them against.
Times are stored as UTC (``timestamptz`` on PostgreSQL, ISO text on SQLite) and read
back as timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        # SQLite keeps text: drop the offset so every stored value sorts lexicographically.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    # On SQLite, skip the generic (regex-based) DATETIME processors: the hot path reads many
    # times. The text format is exactly SQLAlchemy's own ("YYYY-MM-DD HH:MM:SS.ffffff").
    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_bind

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_result


def _sqlite_bind(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use timezone-aware UTC")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_result(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


DECISION_CHECK = "decision IN ('accept', 'review', 'reject')"
OUTCOME_VALUES = "('chargeback', 'fraud', 'not_fraud', 'refund')"

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("created_at", UTCDateTime, nullable=True),  # as last reported by the checkout
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_order_time", UTCDateTime, nullable=False),
    Column("order_count", Integer, nullable=False),
    Column("accepts", Integer, nullable=False),
    Column("reviews", Integer, nullable=False),
    Column("rejects", Integer, nullable=False),
    Column("outcome_count", Integer, nullable=False),
    # random, given when the row is made: a row made again after an erasure has another one
    Column("generation", String(16), nullable=True),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("transaction_id", String(255), nullable=True, unique=True),
    Column(
        "account_id",
        String(128),
        ForeignKey("accounts.account_id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column("event_time", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("account_created_at", UTCDateTime, nullable=True),
    Column("amount", Float, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("amount_usd", Float, nullable=True),
    Column("ip", String(45), nullable=True),
    Column("ip_country", String(2), nullable=True),
    Column("device_id", String(255), nullable=True),
    Column("card_key", String(255), nullable=True),
    Column("email_domain", String(255), nullable=True),
    Column("email_hash", String(128), nullable=True),
    Column("decision", String(8), nullable=False),
    Column("risk_score", Float, nullable=False),
    Column("response", JSON, nullable=False),
    # Model features and rule hits at screening time (fraudscreen.features.feature_log).
    Column("features", JSON, nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("outcome_at", UTCDateTime, nullable=True),
    # HMAC of the request body (fraudscreen.idempotency): a repeated transaction id with
    # another body is refused; null for orders stored before it and after the personal period.
    Column("request_digest", String(64), nullable=True),
    CheckConstraint(DECISION_CHECK, name="decision"),
    CheckConstraint(f"outcome IS NULL OR outcome IN {OUTCOME_VALUES}", name="outcome"),
    Index(None, "account_id", "event_time"),
    Index(None, "received_at"),
)

order_entities = Table(
    "order_entities",
    metadata,
    Column(
        "order_id",
        String(64),
        ForeignKey("orders.order_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("kind", String(16), primary_key=True),  # ip, device, card, email_domain, email_hash
    Column("value", String(255), nullable=False),
    Column("account_id", String(128), nullable=True),
    Column("event_time", UTCDateTime, nullable=False),
    # account_id is in the index so the shared-entity count reads the index only.
    Index(None, "kind", "value", "event_time", "account_id"),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "order_id",
        String(64),
        ForeignKey("orders.order_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("account_id", String(128), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("reported_at", UTCDateTime, nullable=False),
    CheckConstraint(f"outcome IN {OUTCOME_VALUES}", name="outcome"),
    Index(None, "account_id", "reported_at"),
    Index(None, "order_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),  # non-secret, for display only
    Column("key_hash", String(64), nullable=False, unique=True),  # hex SHA-256 of the key
    Column("scopes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

list_entries = Table(
    "list_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_name", String(16), nullable=False),  # allow, block, review
    Column("kind", String(16), nullable=False),
    Column("value", String(255), nullable=False),
    Column("note", String(500), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("list_name", "kind", "value"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False),
    Column("details", JSON, nullable=False),
    Index(None, "at"),
)

LISTS_REVISION_KEY = "lists_revision"
"""The ``meta`` row bumped on every list change."""
ERASURES_KEY = "erasures"
"""The ``meta`` row counting the account erasures ever committed (made by the first one)."""
EMAIL_KEY_CHECK = "email_key_check"
"""The ``meta`` row holding the check value of the email key the database was first used with
(:func:`fraudscreen.installation.key_check`)."""
