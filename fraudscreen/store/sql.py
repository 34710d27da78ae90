"""The SQLAlchemy store: one class over orders, profiles, outcomes, API keys, lists and audit.

The screening hot path (history, save, lookups) lives in :mod:`.history`; keys and lists
in their own modules; this module adds labels (outcomes) and the profile endpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, insert, select, update

from fraudscreen.errors import ConfigError, InvalidRequestError, NotFoundError

if TYPE_CHECKING:
    from fraudscreen.config import Settings
from fraudscreen.profile import OUTCOMES, EntityKeys, ProfileSnapshot, build_profile
from fraudscreen.store.apikeys import ApiKeysMixin
from fraudscreen.store.base import dialect_insert, require_aware, utcnow
from fraudscreen.store.erasure import ErasureMixin
from fraudscreen.store.history import STORED_COLUMNS, HistoryMixin
from fraudscreen.store.lists import ListsMixin
from fraudscreen.store.records import OrderRecord, StoredOrder, stored_from_row
from fraudscreen.store.retention import RetentionMixin
from fraudscreen.store.tables import EMAIL_KEY_CHECK, accounts, meta, orders, outcomes
from fraudscreen.store.training import TrainingDataMixin

_BY_ORDER_ID = select(*STORED_COLUMNS).where(orders.c.order_id == bindparam("order_id"))
_ACCOUNT_EXISTS = select(accounts.c.account_id).where(
    accounts.c.account_id == bindparam("account_id")
)
_LAST_KEYS = (
    select(orders.c.ip, orders.c.device_id, orders.c.card_key, orders.c.email_domain)
    .where(orders.c.account_id == bindparam("account_id"), orders.c.event_time < bindparam("at"))
    .order_by(orders.c.event_time.desc())
    .limit(1)
)


class Store(HistoryMixin, ApiKeysMixin, ListsMixin, ErasureMixin, RetentionMixin, TrainingDataMixin):
    """Orders, account profiles, outcomes, API keys, lists and the audit log in one database.

    Privacy (export, erasure, retention) is in :mod:`.erasure` and :mod:`.retention`; training
    data (logged features and labels) in :mod:`.training`.

    ``Store(url)`` opens SQLite (``sqlite:///path``) or PostgreSQL
    (``postgresql+psycopg://...``) without migrating; call :meth:`upgrade` once at start.
    """

    def __init__(self, url: str) -> None:
        """Create the engine for ``url``; does not migrate."""
        super().__init__(url)
        self._init_hot_path()

    def record_outcome(self, order_id: str, outcome: str, reported_at: datetime) -> StoredOrder:
        """Record a label (chargeback, fraud, not_fraud, refund); the latest reported is the order's.

        Every report is kept in ``outcomes``; a profile counts each earlier order by its latest
        report before the profile's time. A ``reported_at`` before the order's event time is
        stored as the event time (a label cannot be known before its order happened).
        NotFoundError when the order does not exist.
        """
        if outcome not in OUTCOMES:
            raise InvalidRequestError(f"outcome must be one of {', '.join(OUTCOMES)}")
        require_aware(reported_at, "reported_at")
        order_row = select(orders.c.account_id, orders.c.outcome_at, orders.c.event_time).where(
            orders.c.order_id == order_id
        )
        with self._write() as conn:
            row = conn.execute(order_row).first()
            if row is not None and row.account_id:
                # PostgreSQL: lock the account row, then the order's, in the order scoring and
                # erasure take them (no deadlock with an erasure); the order's lock makes
                # concurrent reports of it compare their times one after the other.
                conn.execute(select(accounts.c.account_id)
                             .where(accounts.c.account_id == row.account_id).with_for_update())
            if row is not None:
                row = conn.execute(order_row.with_for_update()).first()  # erased meanwhile?
            if row is None:
                raise NotFoundError("no order with this id")
            reported_at = max(reported_at, row.event_time)
            conn.execute(
                insert(outcomes),
                {
                    "order_id": order_id,
                    "account_id": row.account_id,
                    "outcome": outcome,
                    "reported_at": reported_at,
                },
            )
            if row.outcome_at is None or reported_at >= row.outcome_at:
                conn.execute(
                    update(orders)
                    .where(orders.c.order_id == order_id)
                    .values(outcome=outcome, outcome_at=reported_at)
                )
            if row.account_id:
                conn.execute(
                    update(accounts)
                    .where(accounts.c.account_id == row.account_id)
                    .values(outcome_count=accounts.c.outcome_count + 1)
                )
            return stored_from_row(conn.execute(_BY_ORDER_ID, {"order_id": order_id}).one())

    def claim_email_key(self, check: int) -> None:
        """Keep the check value of the installation's email key on first use (``meta``); raise
        :class:`ConfigError` when the database was first used with another key: its email
        hashes would never match this host's (another host's ``secrets.json`` is needed)."""
        with self._write() as conn:
            conn.execute(dialect_insert(self.dialect, meta).values(key=EMAIL_KEY_CHECK, value=check)
                         .on_conflict_do_nothing(index_elements=[meta.c.key]))
            stored = conn.execute(select(meta.c.value).where(meta.c.key == EMAIL_KEY_CHECK)).scalar_one()
        if stored != check:
            raise ConfigError(
                "the email key in this data directory's secrets.json is not the one this "
                "database's email hashes were made with; every host that shares the database "
                "needs the same secrets.json (copy it from the host that first used the database)"
            )

    def get_profile(self, account_id: str, at: datetime | None = None) -> ProfileSnapshot:
        """The account's profile as of ``at`` (default now); sharing counted on its latest entities.

        NotFoundError for an account the store has never seen.
        """
        at = require_aware(at, "at") if at is not None else utcnow()
        with self._read() as conn:
            if conn.execute(_ACCOUNT_EXISTS, {"account_id": account_id}).first() is None:
                raise NotFoundError("no account with this id")
            last = conn.execute(_LAST_KEYS, {"account_id": account_id, "at": at}).first()
        keys = EntityKeys() if last is None else EntityKeys(*last)
        history = self.load_history(account_id, keys, at)
        return build_profile(history, at=at, account_created_at=None)


__all__ = ["OrderRecord", "Store", "StoredOrder"]


def open_store(settings: Settings) -> Store:
    """The configured store, its data directory created and its schema migrated (CLI commands)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.resolved_database_url)
    store.upgrade()
    return store
