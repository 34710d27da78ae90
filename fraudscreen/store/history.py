"""The screening hot path: an account's history before an order, and saving the order.

One order costs one read transaction (account aggregates, the last 30 days of orders,
capped shared-entity counts; outcomes only if the account has any, each order counted by its
latest report before the order) and one write
transaction (account upsert, order insert, entity links). Statements run through
:class:`~fraudscreen.store.fastpath.FastPath`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, insert, or_, select
from sqlalchemy.sql import Select

from fraudscreen.errors import InvalidRequestError, StaleHistoryError, StoreError
from fraudscreen.ids import new_id
from fraudscreen.profile import (
    SHARED_COUNT_CAP,
    WINDOW_24H,
    WINDOW_30D,
    AccountHistory,
    EntityKeys,
    PastOrder,
)
from fraudscreen.result import DECISIONS
from fraudscreen.store.base import StoreBase, dialect_insert, require_aware
from fraudscreen.store.fastpath import RawStatement
from fraudscreen.store.records import OrderRecord, StoredOrder
from fraudscreen.store.tables import accounts, order_entities, orders, outcomes

_ENTITY_FIELDS = (
    ("ip", "ip"),
    ("device", "device_id"),
    ("card", "card_key"),
    ("email_domain", "email_domain"),
    ("email_hash", "email_hash"),
)
_ACCOUNT = select(
    accounts.c.created_at,
    accounts.c.first_seen,
    accounts.c.last_order_time,
    accounts.c.order_count,
    accounts.c.accepts,
    accounts.c.reviews,
    accounts.c.rejects,
    accounts.c.outcome_count,
    accounts.c.generation,
).where(accounts.c.account_id == bindparam("account_id"))
_RECENT = (
    select(
        orders.c.event_time,
        orders.c.amount_usd,
        orders.c.ip,
        orders.c.ip_country,
        orders.c.card_key,
        orders.c.device_id,
        orders.c.decision,
    )
    .where(
        orders.c.account_id == bindparam("account_id"),
        orders.c.event_time >= bindparam("start"),
        orders.c.event_time < bindparam("at"),
    )
    .order_by(orders.c.event_time)
)
_PRIOR_DECISIONS = (  # only needed when the account has orders at/after ``at``
    select(
        orders.c.decision,
        func.count(),
        func.min(orders.c.event_time),
        func.max(orders.c.event_time),
    )
    .where(orders.c.account_id == bindparam("account_id"), orders.c.event_time < bindparam("at"))
    .group_by(orders.c.decision)
)
_LATER = outcomes.alias("later_report")
_OUTCOME_COUNTS = (  # outcome -> orders whose latest report before ``at`` is that outcome
    select(outcomes.c.outcome, func.count())
    .where(
        outcomes.c.account_id == bindparam("account_id"),
        outcomes.c.reported_at < bindparam("at"),
        # no later report of the same order before ``at``; on equal times the later report
        # wins, as it does for ``orders.outcome``. (On SQLite faster than a row_number()
        # window; on both backends within ~20 µs of a plain count for up to 10 reported orders.)
        ~exists().where(
            _LATER.c.order_id == outcomes.c.order_id,
            _LATER.c.reported_at < bindparam("at"),
            or_(
                _LATER.c.reported_at > outcomes.c.reported_at,
                and_(_LATER.c.reported_at == outcomes.c.reported_at, _LATER.c.id > outcomes.c.id),
            ),
        ),
    )
    .group_by(outcomes.c.outcome)
)
STORED_COLUMNS = (
    orders.c.order_id,
    orders.c.transaction_id,
    orders.c.account_id,
    orders.c.event_time,
    orders.c.decision,
    orders.c.risk_score,
    orders.c.response,
    orders.c.outcome,
    orders.c.outcome_at,
    orders.c.request_digest,
)
_BY_TRANSACTION = select(*STORED_COLUMNS).where(
    orders.c.transaction_id == bindparam("transaction_id")
)
_BY_ORDER_ID = select(*STORED_COLUMNS).where(orders.c.order_id == bindparam("order_id"))


def shared_statement(kinds: tuple[str, ...], exclude_account: bool) -> Select[Any]:
    """One row: for each kind, other accounts in the last 24 h and ever, each capped.

    Each count is a ``SELECT DISTINCT ... LIMIT cap`` over the (kind, value, event_time,
    account_id) index, so it stops after ``cap`` accounts however popular the entity is.
    """
    e = order_entities.c
    columns = []
    for kind in kinds:
        for label, since in (("day", True), ("ever", False)):
            inner = (
                select(e.account_id)
                .distinct()
                .where(
                    e.kind == kind,
                    e.value == bindparam(f"v_{kind}"),
                    e.event_time < bindparam("at"),
                    e.account_id.is_not(None),
                )
                .limit(SHARED_COUNT_CAP)
            )
            if since:
                inner = inner.where(e.event_time >= bindparam("day_start"))
            if exclude_account:
                inner = inner.where(e.account_id != bindparam("account_id"))
            count = select(func.count()).select_from(inner.subquery())
            columns.append(count.scalar_subquery().label(f"{label}_{kind}"))
    return select(*columns)


def _upsert_account(dialect: str) -> Any:
    stmt = dialect_insert(dialect, accounts).values(
        account_id=bindparam("account_id"),
        created_at=bindparam("created_at", type_=accounts.c.created_at.type),
        first_seen=bindparam("event_time", type_=accounts.c.first_seen.type),
        last_order_time=bindparam("event_time", type_=accounts.c.last_order_time.type),
        order_count=1,
        accepts=bindparam("accepts"),
        reviews=bindparam("reviews"),
        rejects=bindparam("rejects"),
        outcome_count=0,
        generation=bindparam("generation"),
    )
    new, a = stmt.excluded, accounts.c
    return stmt.on_conflict_do_update(
        index_elements=[a.account_id],
        set_={
            "created_at": func.coalesce(new.created_at, a.created_at),
            "first_seen": case((new.first_seen < a.first_seen, new.first_seen), else_=a.first_seen),
            "last_order_time": case(
                (new.last_order_time > a.last_order_time, new.last_order_time),
                else_=a.last_order_time,
            ),
            "order_count": a.order_count + 1,
            "accepts": a.accepts + new.accepts,
            "reviews": a.reviews + new.reviews,
            "rejects": a.rejects + new.rejects,
        },
    ).returning(a.generation)  # the row's: a row that existed keeps its generation


class HistoryMixin(StoreBase):
    """load_history, save_order and the order lookups, on the fast path."""

    def _init_hot_path(self) -> None:
        fast = self._fast
        self._sql_account = fast.compile(_ACCOUNT)
        self._sql_recent = fast.compile(_RECENT)
        self._sql_prior = fast.compile(_PRIOR_DECISIONS)
        self._sql_outcomes = fast.compile(_OUTCOME_COUNTS)
        self._sql_by_tx = fast.compile(_BY_TRANSACTION)
        self._sql_by_id = fast.compile(_BY_ORDER_ID)
        self._sql_upsert = fast.compile(_upsert_account(self.dialect))
        self._sql_insert_order = fast.compile(
            dialect_insert(self.dialect, orders)
            .on_conflict_do_nothing(index_elements=[orders.c.transaction_id])
            .returning(orders.c.order_id)
        )
        self._sql_insert_links = fast.compile(insert(order_entities))
        self._sql_shared: dict[tuple[tuple[str, ...], bool], RawStatement] = {}

    def load_history(
        self, account_id: str | None, keys: EntityKeys, at: datetime
    ) -> AccountHistory | None:
        """What is known strictly before ``at``: the account's orders, outcomes and shared entities.

        Shared counts are computed for every key present, also without an account id
        (then every account counts as "other"). None when nothing at all is known.
        """
        require_aware(at, "at")
        fast = self._fast
        items = keys.shared_items()
        at_p = fast.time(at)
        with fast.transaction(write=False) as cur:
            shared: dict[str, tuple[int, int]] = {}
            if items:
                kinds = tuple(k for k, _v in items)
                stmt = self._shared_sql(kinds, account_id is not None)
                values: dict[str, Any] = {f"v_{k}": v for k, v in items}
                values.update(at=at_p, day_start=fast.time(at - WINDOW_24H), account_id=account_id)
                cur.execute(stmt.sql, stmt.params(values))
                row = cur.fetchone()
                shared = {k: (row[2 * i], row[2 * i + 1]) for i, k in enumerate(kinds)}
            own = self._own_history(cur, account_id, at, shared) if account_id else None
        if own is not None:
            return own
        if not any(ever for _day, ever in shared.values()):
            return None
        return AccountHistory(account_id, None, None, 0, {}, None, (), {}, shared)

    def _shared_sql(self, kinds: tuple[str, ...], exclude_account: bool) -> RawStatement:
        key = (kinds, exclude_account)
        stmt = self._sql_shared.get(key)
        if stmt is None:
            stmt = self._sql_shared[key] = self._fast.compile(shared_statement(*key))
        return stmt

    def _own_history(
        self, cur: Any, account_id: str, at: datetime, shared: dict[str, tuple[int, int]]
    ) -> AccountHistory | None:
        fast = self._fast
        cur.execute(self._sql_account.sql, {"account_id": account_id})
        acct = cur.fetchone()
        if acct is None:
            return None
        created, first_seen, last_time = (fast.read_time(v) for v in acct[:3])
        if first_seen is None or first_seen >= at or last_time is None:
            return None  # the account's first order is not before ``at``: nothing known yet
        params = {"account_id": account_id, "at": fast.time(at)}
        if last_time < at:  # the usual case: the aggregates are exactly "before at"
            prior = acct[3]
            decisions = {"accept": acct[4], "review": acct[5], "reject": acct[6]}
        else:
            cur.execute(self._sql_prior.sql, self._sql_prior.params(params))
            rows = cur.fetchall()
            decisions = {d: 0 for d in DECISIONS} | {r[0]: r[1] for r in rows}
            prior = sum(r[1] for r in rows)
            first_seen = min(t for r in rows if (t := fast.read_time(r[2])) is not None)
            last_time = max(t for r in rows if (t := fast.read_time(r[3])) is not None)
        cur.execute(self._sql_recent.sql, {**params, "start": fast.time(at - WINDOW_30D)})
        read_time = fast.read_time
        recent = tuple(
            PastOrder(read_time(r[0]), r[1], r[2], r[3], r[4], r[5], r[6])  # type: ignore[arg-type]
            for r in cur.fetchall()
        )
        counts: dict[str, int] = {}
        if acct[7]:
            cur.execute(self._sql_outcomes.sql, self._sql_outcomes.params(params))
            counts = {r[0]: r[1] for r in cur.fetchall()}
        return AccountHistory(
            account_id, created, first_seen, prior, decisions, last_time, recent, counts, shared,
            acct[8],
        )

    def save_order(self, record: OrderRecord) -> tuple[StoredOrder, bool]:
        """Store a screened order, its entity links and the account aggregates in one transaction.

        Returns ``(stored, True)``; or ``(existing, False)`` when the transaction id was
        stored first by another request (this one is then rolled back).
        """
        if record.decision not in DECISIONS:
            raise InvalidRequestError("decision must be accept, review or reject")
        require_aware(record.event_time, "event_time")
        fast, keys = self._fast, record.entities
        event_time = fast.time(record.event_time)
        order_row = {
            "order_id": record.order_id,
            "transaction_id": record.transaction_id,
            "account_id": record.account_id,
            "event_time": event_time,
            "received_at": fast.time(record.received_at),
            "account_created_at": fast.time(record.account_created_at),
            "amount": record.amount,
            "currency": record.currency,
            "amount_usd": record.amount_usd,
            "ip": keys.ip,
            "ip_country": record.ip_country,
            "device_id": keys.device_id,
            "card_key": keys.card_key,
            "email_domain": keys.email_domain,
            "email_hash": keys.email_hash,
            "decision": record.decision,
            "risk_score": record.risk_score,
            "response": fast.json(record.response),
            "features": None if record.features is None else fast.json(record.features),
            "outcome": None,
            "outcome_at": None,
            "request_digest": record.request_digest,
        }
        links = [
            {
                "order_id": record.order_id,
                "kind": kind,
                "value": value,
                "account_id": record.account_id,
                "event_time": event_time,
            }
            for kind, attr in _ENTITY_FIELDS
            if (value := getattr(keys, attr))
        ]
        try:
            self._insert(record, order_row, links)
        except _DuplicateTransaction:
            existing = self.find_by_transaction(record.transaction_id or "")
            if existing is None:  # pragma: no cover - the winner cannot vanish in between
                raise StoreError("the concurrently stored order is gone") from None
            return existing, False
        stored = StoredOrder(
            order_id=record.order_id,
            transaction_id=record.transaction_id,
            account_id=record.account_id,
            event_time=record.event_time,
            decision=record.decision,
            risk_score=record.risk_score,
            response=record.response,
            outcome=None,
            outcome_at=None,
            request_digest=record.request_digest,
        )
        return stored, True

    def _insert(
        self, record: OrderRecord, order_row: dict[str, Any], links: list[dict[str, Any]]
    ) -> None:
        with self._fast.transaction(write=True) as cur:
            if record.account_id:
                # The row's generation as the upsert left it (it locks the row): another one than
                # the screening read means the account was erased in between (its row made again
                # by this order or one since), so the answer describes erased history.
                cur.execute(
                    self._sql_upsert.sql,
                    self._sql_upsert.params(
                        {
                            "account_id": record.account_id,
                            "created_at": order_row["account_created_at"],
                            "event_time": order_row["event_time"],
                            "accepts": int(record.decision == "accept"),
                            "reviews": int(record.decision == "review"),
                            "rejects": int(record.decision == "reject"),
                            "generation": new_id(nbytes=8),
                        }
                    ),
                )
                if record.history_orders and cur.fetchone()[0] != record.history_generation:
                    raise StaleHistoryError("the account's history changed while the order was screened")
            cur.execute(self._sql_insert_order.sql, order_row)
            inserted = bool(cur.fetchall())
            if inserted and links:
                cur.executemany(self._sql_insert_links.sql, links)
            if not inserted:
                raise _DuplicateTransaction
        self._wrote()

    def find_by_transaction(self, transaction_id: str) -> StoredOrder | None:
        """The order stored for this ``event.transaction_id``, if any."""
        return self._find_order(self._sql_by_tx, {"transaction_id": transaction_id})

    def get_order(self, order_id: str) -> StoredOrder | None:
        """The order with this id, if any."""
        return self._find_order(self._sql_by_id, {"order_id": order_id})

    def _find_order(self, stmt: RawStatement, params: dict[str, Any]) -> StoredOrder | None:
        fast = self._fast
        with fast.transaction(write=False) as cur:
            cur.execute(stmt.sql, params)
            row = cur.fetchone()
        if row is None:
            return None
        response = row[6] if isinstance(row[6], dict) else _loads(row[6])
        return StoredOrder(
            order_id=row[0],
            transaction_id=row[1],
            account_id=row[2],
            event_time=fast.read_time(row[3]),  # type: ignore[arg-type]
            decision=row[4],
            risk_score=row[5],
            response=response,
            outcome=row[7],
            outcome_at=fast.read_time(row[8]),
            request_digest=row[9],
        )


def _loads(value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        return json.loads(value)
    raise StoreError("stored response is not JSON")


class _DuplicateTransaction(Exception):
    """Internal: another request stored this transaction id first; roll back."""
