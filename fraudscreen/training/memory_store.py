"""An in-memory store for point-in-time replay: the SQL store's screening methods, without SQL.

:class:`MemoryStore` implements exactly what :class:`~fraudscreen.screening.Screener` and the
replay call (``load_history``, ``save_order``, ``record_outcome``, ``find_by_transaction``,
``get_order``, ``lists_revision``, ``list_entries``, ``ping``, ``close``) and returns the same
:class:`~fraudscreen.profile.AccountHistory` as :class:`fraudscreen.store.Store` for the same
calls: only orders strictly before ``at``, each order by its latest outcome reported strictly
before ``at``, shared entities counted as OTHER accounts (every account when the order has none)
in the 24 hours before and ever, capped at :data:`~fraudscreen.profile.SHARED_COUNT_CAP`.
``tests/test_replay.py`` replays the same orders through both stores and compares the feature
matrices.

Orders may be saved in any time order (the indexes are kept sorted with ``bisect``); saving in
event-time order, as the replay does, makes every insert an append. Not thread-safe: one
replay, one store. Nothing is persisted; ``response`` bodies are kept as given.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from fraudscreen.errors import ConflictError, InvalidRequestError, NotFoundError
from fraudscreen.profile import (
    OUTCOMES,
    SHARED_COUNT_CAP,
    WINDOW_24H,
    WINDOW_30D,
    AccountHistory,
    EntityKeys,
    PastOrder,
)
from fraudscreen.result import DECISIONS
from fraudscreen.store.records import OrderRecord, StoredOrder

_SHARED_ATTRS = (("ip", "ip"), ("device", "device_id"), ("card", "card_key"),
                 ("email_domain", "email_domain"))


@dataclass
class _Account:
    """One account's orders sorted by event time, and its reported outcomes."""

    created_at: datetime | None = None
    times: list[datetime] = field(default_factory=list)
    orders: list[PastOrder] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DECISIONS, 0))
    outcomes: list[tuple[datetime, str, str]] = field(default_factory=list)
    """(reported_at, outcome, order_id) for every report, in report order."""


@dataclass
class _Entity:
    """Who used one (kind, value): every link by time, and each account's first use."""

    times: list[datetime] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    first_use: dict[str, datetime] = field(default_factory=dict)
    first_times: list[datetime] = field(default_factory=list)
    """The values of ``first_use``, sorted: accounts seen before ``t`` = bisect(first_times, t)."""


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidRequestError(f"{name} must be a timezone-aware datetime")
    return value


class MemoryStore:
    """The screening part of the SQL store, held in dicts and sorted lists (see module docstring)."""

    dialect = "memory"

    def __init__(self, list_rows: Iterable[object] = ()) -> None:
        """An empty store; ``list_rows`` (:class:`~fraudscreen.store.ListRow`) are its fixed lists."""
        self._accounts: dict[str, _Account] = {}
        self._entities: dict[tuple[str, str], _Entity] = {}
        self._orders: dict[str, StoredOrder] = {}
        self._by_transaction: dict[str, str] = {}
        self._order_accounts: dict[str, str | None] = {}
        self._list_rows = list(list_rows)

    # -- history -----------------------------------------------------------------------------

    def load_history(
        self, account_id: str | None, keys: EntityKeys, at: datetime
    ) -> AccountHistory | None:
        """What is known strictly before ``at`` (same result as ``Store.load_history``)."""
        _require_aware(at, "at")
        shared: dict[str, tuple[int, int]] = {}
        items = keys.shared_items()
        if items:
            day_start = at - WINDOW_24H
            entities = self._entities
            for kind, value in items:
                entity = entities.get((kind, value))
                shared[kind] = (0, 0) if entity is None else _shared_counts(
                    entity, account_id, day_start, at
                )
        own = self._own_history(account_id, at, shared) if account_id else None
        if own is not None:
            return own
        if not any(ever for _day, ever in shared.values()):
            return None
        return AccountHistory(account_id, None, None, 0, {}, None, (), {}, shared)

    def _own_history(
        self, account_id: str, at: datetime, shared: dict[str, tuple[int, int]]
    ) -> AccountHistory | None:
        acct = self._accounts.get(account_id)
        if acct is None or not acct.times:
            return None
        times = acct.times
        prior = bisect_left(times, at)
        if prior == 0:
            return None  # the account's first order is not before ``at``: nothing known yet
        if prior == len(times):
            decisions = dict(acct.decisions)
        else:
            decisions = dict.fromkeys(DECISIONS, 0)
            for past in acct.orders[:prior]:
                decisions[past.decision] += 1
        start = bisect_left(times, at - WINDOW_30D, 0, prior)
        counts: dict[str, int] = {}
        if acct.outcomes:  # each order counts by its latest report before ``at``
            latest: dict[str, tuple[datetime, str]] = {}
            for reported_at, outcome, order_id in acct.outcomes:
                if reported_at < at:
                    known = latest.get(order_id)
                    if known is None or reported_at >= known[0]:  # equal times: the later report
                        latest[order_id] = (reported_at, outcome)
            for _reported_at, outcome in latest.values():
                counts[outcome] = counts.get(outcome, 0) + 1
        return AccountHistory(
            account_id, acct.created_at, times[0], prior, decisions, times[prior - 1],
            tuple(acct.orders[start:prior]), counts, shared,
        )

    # -- writes ------------------------------------------------------------------------------

    def save_order(self, record: OrderRecord) -> tuple[StoredOrder, bool]:
        """Keep a screened order; ``(existing, False)`` for a transaction id stored before."""
        if record.decision not in DECISIONS:
            raise InvalidRequestError("decision must be accept, review or reject")
        t = _require_aware(record.event_time, "event_time")
        tx = record.transaction_id
        if tx is not None and tx in self._by_transaction:
            return self._orders[self._by_transaction[tx]], False
        keys, account_id = record.entities, record.account_id
        if account_id == "":  # the SQL store's foreign key refuses it too
            raise ConflictError("the change conflicts with stored data")
        if account_id:
            acct = self._accounts.get(account_id)
            if acct is None:
                acct = self._accounts[account_id] = _Account()
            if record.account_created_at is not None:
                acct.created_at = record.account_created_at
            past = PastOrder(t, record.amount_usd, keys.ip, record.ip_country, keys.card_key,
                             keys.device_id, record.decision)
            _insert_in_time_order(acct.times, acct.orders, t, past)
            acct.decisions[record.decision] += 1
        if account_id is not None:  # like SQL: links without an account are never counted
            for kind, attr in _SHARED_ATTRS:
                value = getattr(keys, attr)
                if value:
                    self._link(kind, value, account_id, t)
        stored = StoredOrder(record.order_id, tx, account_id, t, record.decision,
                             record.risk_score, record.response, None, None)
        self._orders[record.order_id] = stored
        self._order_accounts[record.order_id] = account_id
        if tx is not None:
            self._by_transaction[tx] = record.order_id
        return stored, True

    def _link(self, kind: str, value: str, account_id: str, t: datetime) -> None:
        entity = self._entities.get((kind, value))
        if entity is None:
            entity = self._entities[(kind, value)] = _Entity()
        _insert_in_time_order(entity.times, entity.accounts, t, account_id)
        first = entity.first_use.get(account_id)
        if first is None:
            entity.first_use[account_id] = t
            insort(entity.first_times, t)
        elif t < first:
            entity.first_use[account_id] = t
            del entity.first_times[bisect_left(entity.first_times, first)]
            insort(entity.first_times, t)

    def record_outcome(self, order_id: str, outcome: str, reported_at: datetime) -> StoredOrder:
        """Record a label; it counts in profiles of orders after ``reported_at`` only.

        As in the SQL store: the latest report per order counts, and a ``reported_at``
        before the order's event time is stored as the event time.
        """
        if outcome not in OUTCOMES:
            raise InvalidRequestError(f"outcome must be one of {', '.join(OUTCOMES)}")
        _require_aware(reported_at, "reported_at")
        stored = self._orders.get(order_id)
        if stored is None:
            raise NotFoundError("no order with this id")
        reported_at = max(reported_at, stored.event_time)
        account_id = self._order_accounts[order_id]
        if account_id:
            self._accounts[account_id].outcomes.append((reported_at, outcome, order_id))
        if stored.outcome_at is None or reported_at >= stored.outcome_at:
            stored = self._orders[order_id] = replace(
                stored, outcome=outcome, outcome_at=reported_at
            )
        return stored

    # -- lookups and the rest of the store interface -------------------------------------------

    def find_by_transaction(self, transaction_id: str) -> StoredOrder | None:
        """The order stored for this ``event.transaction_id``, if any."""
        order_id = self._by_transaction.get(transaction_id)
        return None if order_id is None else self._orders[order_id]

    def get_order(self, order_id: str) -> StoredOrder | None:
        """The order with this id, if any."""
        return self._orders.get(order_id)

    def lists_revision(self) -> int:
        """Always 0: the lists are fixed when the store is made."""
        return 0

    def list_entries(self, list_name: str | None = None) -> list[object]:
        """The fixed list rows, of one list or of all."""
        return [r for r in self._list_rows
                if list_name is None or getattr(r, "list_name", None) == list_name]

    def claim_email_key(self, check: int) -> None:
        """Nothing to check: a memory store holds only the hashes its own screener made."""

    def ping(self) -> bool:
        """Always True: memory does not go away."""
        return True

    def close(self) -> None:
        """Forget everything."""
        self.__init__(self._list_rows)  # type: ignore[misc]

    def __len__(self) -> int:
        """Number of stored orders."""
        return len(self._orders)


def _shared_counts(
    entity: _Entity, account_id: str | None, day_start: datetime, at: datetime
) -> tuple[int, int]:
    """(other accounts in [day_start, at), other accounts before at), each capped."""
    own_first = entity.first_use.get(account_id) if account_id is not None else None
    ever = bisect_left(entity.first_times, at)
    if own_first is not None and own_first < at:
        ever -= 1
    times = entity.times
    hi = bisect_left(times, at)
    lo = bisect_left(times, day_start, 0, hi)
    day = _capped_others(entity.accounts, lo, hi, account_id)
    return day, min(ever, SHARED_COUNT_CAP)


def _capped_others(accounts: list[str], lo: int, hi: int, account_id: str | None) -> int:
    """Distinct accounts other than ``account_id`` in ``accounts[lo:hi]``, at most SHARED_COUNT_CAP.

    Read newest first in chunks that double (125, 250, 500, ... links: a little more than the
    cap first, as accounts repeat), stopping once the cap is reached: a free-mail domain has
    hundreds to thousands of links a day, and the capped answer is known after the first
    hundred or so accounts. The count only grows as more is read, so stopping early gives
    the same capped result as counting the whole window (the 100k-order dense replay: 5.8 µs
    -> 2.3 µs a window).
    """
    seen: set[str | None] = set()
    step = SHARED_COUNT_CAP + SHARED_COUNT_CAP // 4
    end = hi
    while end > lo:
        start = max(lo, end - step)
        seen.update(accounts[start:end])
        seen.discard(account_id)
        if len(seen) >= SHARED_COUNT_CAP:
            return SHARED_COUNT_CAP
        end = start
        step *= 2
    return len(seen)


__all__ = ["MemoryStore"]


def _insert_in_time_order(times: list[datetime], items: list[Any], t: datetime, item: Any) -> None:
    """Keep ``times`` sorted with ``items`` beside it; equal times keep arrival order."""
    if not times or times[-1] <= t:  # the common case: events arrive in time order
        times.append(t)
        items.append(item)
    else:
        i = bisect_right(times, t)
        times.insert(i, t)
        items.insert(i, item)
