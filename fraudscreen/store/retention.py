"""Retention in the database (privacy policy P7): drop what is past its period, keep the rest.

Three cut-offs, each applied to the time the service received the data:

- personal: an order keeps its amount, decision, score, outcome and country, and loses its
  IP, device id, card key, email hash and domain, its entity links and its IP location
  beyond the country;
- orders: an unlabelled order is deleted; a labelled one (needed for training) is kept
  anonymised under a new ``anon_`` id, without account or transaction id, times cut to the
  day; accounts left without orders and without activity since are deleted;
- audit: older audit entries are deleted. Before that, at the personal cut-off, a
  ``list.add`` / ``list.remove`` entry loses the listed value it names (an IP, device id,
  email hash, ...) unless that value is still on that list.

Every step is idempotent: a second run with the same cut-offs changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, insert, or_, select, update

from fraudscreen.ids import new_id
from fraudscreen.store.base import StoreBase, dialect_insert, require_aware
from fraudscreen.store.tables import (
    accounts,
    audit_log,
    list_entries,
    meta,
    order_entities,
    orders,
    outcomes,
)

ANON_PREFIX = "anon_"
"""Order ids of anonymised labelled orders start with this."""
PURGE_CLAIM_KEY = "purge_last_run"
"""The ``meta`` row (epoch seconds) through which workers take turns running the purge."""
RESPONSE_KEPT_WHEN_ANONYMOUS = (
    "decision",
    "risk_score",
    "disposition",
    "reasons",
    "profile",
    "model_version",
    "rules_version",
)
"""The parts of a stored answer an anonymised order keeps (plus the IP country)."""
PURGED_VALUE = "[purged]"
"""What ``details["value"]`` of a list change's audit entry becomes after the personal period."""
LIST_AUDIT_ACTIONS = ("list.add", "list.remove")
"""The audit actions whose details name a listed value (target ``"{list_name}/{kind}"``)."""
_PERSONAL_COLUMNS = ("ip", "device_id", "card_key", "email_hash", "email_domain", "request_digest")
_BATCH = 500


def reduce_ip_location(response: dict[str, Any]) -> dict[str, Any]:
    """The stored answer with ``ip_location`` cut to the country (the city, postal code,
    coordinates and network of an IP are personal)."""
    location = response.get("ip_location")
    if not isinstance(location, dict) or set(location) <= {"country"}:
        return response
    return {**response, "ip_location": {"country": location.get("country")}}


def anonymous_response(response: dict[str, Any]) -> dict[str, Any]:
    """The stored answer of an anonymised order: no ids, no warnings, the country only."""
    kept = {k: response[k] for k in RESPONSE_KEPT_WHEN_ANONYMOUS if k in response}
    location = response.get("ip_location")
    kept["ip_location"] = {"country": location.get("country") if isinstance(location, dict) else None}
    return kept


def _day(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(hour=0, minute=0, second=0, microsecond=0)


def _has_personal() -> Any:
    return or_(*(orders.c[name].is_not(None) for name in _PERSONAL_COLUMNS))


def _listed_value(details: Any) -> str | None:
    """The value a list-change audit entry still names, or None (none, or already purged)."""
    value = details.get("value") if isinstance(details, dict) else None
    return value if isinstance(value, str) and value != PURGED_VALUE else None


def _list_of(target: str) -> tuple[str, str]:
    """``(list_name, kind)`` from a list-change target ``"{list_name}/{kind}"``."""
    list_name, _, kind = target.partition("/")
    return list_name, kind


def _still_listed(conn: Any, rows: list[Any]) -> set[tuple[str, str, str]]:
    """The ``(list_name, kind, value)`` entries now on a list whose value one of ``rows`` names."""
    values = sorted({v for r in rows if (v := _listed_value(r.details)) is not None})
    found: set[tuple[str, str, str]] = set()
    for start in range(0, len(values), _BATCH):
        found.update(
            (r.list_name, r.kind, r.value)
            for r in conn.execute(
                select(list_entries.c.list_name, list_entries.c.kind, list_entries.c.value).where(
                    list_entries.c.value.in_(values[start : start + _BATCH])
                )
            )
        )
    return found


class RetentionMixin(StoreBase):
    """The retention steps of ``fraudscreen purge``."""

    def purge_personal(self, before: datetime) -> dict[str, int]:
        """Drop the personal fields and entity links of orders received before ``before``."""
        require_aware(before, "before")
        old = orders.c.received_at < before
        counts = {"orders_stripped": 0, "entity_links": 0}
        with self._write(limited=False) as conn:
            counts["entity_links"] = conn.execute(
                delete(order_entities).where(
                    order_entities.c.order_id.in_(select(orders.c.order_id).where(old))
                )
            ).rowcount
            rows = conn.execute(
                select(orders.c.order_id, orders.c.response).where(old, _has_personal())
            ).all()
            stmt = (
                update(orders)
                .where(orders.c.order_id == bindparam("b_order_id"))
                .values(
                    response=bindparam("b_response", type_=orders.c.response.type),
                    **{name: None for name in _PERSONAL_COLUMNS},
                )
            )
            for start in range(0, len(rows), _BATCH):
                batch = rows[start : start + _BATCH]
                conn.execute(
                    stmt,
                    [{"b_order_id": r.order_id, "b_response": reduce_ip_location(r.response)} for r in batch],
                )
            counts["orders_stripped"] = len(rows)
        return counts

    def purge_orders(self, before: datetime) -> dict[str, int]:
        """Delete unlabelled orders received before ``before``; anonymise the labelled ones."""
        require_aware(before, "before")
        old = orders.c.received_at < before
        counts: dict[str, int] = {}
        with self._write(limited=False) as conn:
            # PostgreSQL: lock the accounts of these orders first, in one order, as scoring,
            # outcome reports and erasure do (account, then its orders): no deadlock with them.
            conn.execute(
                select(accounts.c.account_id)
                .where(accounts.c.account_id.in_(select(orders.c.account_id).where(old)))
                .order_by(accounts.c.account_id)
                .with_for_update()
            )
            counts["entity_links"] = conn.execute(
                delete(order_entities).where(
                    order_entities.c.order_id.in_(select(orders.c.order_id).where(old))
                )
            ).rowcount
            counts["orders_deleted"] = conn.execute(
                delete(orders).where(old, orders.c.outcome.is_(None))
            ).rowcount
            labelled = conn.execute(
                select(orders).where(
                    old,
                    or_(
                        ~orders.c.order_id.startswith(ANON_PREFIX),
                        orders.c.account_id.is_not(None),
                        orders.c.transaction_id.is_not(None),
                    ),
                )
            ).all()
            for row in labelled:
                self._anonymise_order(conn, row)
            counts["orders_anonymised"] = len(labelled)
            counts["accounts_deleted"] = conn.execute(
                delete(accounts).where(
                    accounts.c.last_order_time < before,
                    ~exists().where(orders.c.account_id == accounts.c.account_id),
                )
            ).rowcount
        return counts

    @staticmethod
    def _anonymise_order(conn: Any, row: Any) -> None:
        anon_id = new_id(ANON_PREFIX, 12)
        values = dict(row._mapping)
        values.update(
            order_id=anon_id,
            transaction_id=None,
            account_id=None,
            account_created_at=None,
            event_time=_day(row.event_time),
            received_at=_day(row.received_at),
            outcome_at=_day(row.outcome_at),
            response=anonymous_response(row.response),
            **{name: None for name in _PERSONAL_COLUMNS},
        )
        conn.execute(insert(orders), values)
        reports = conn.execute(
            select(outcomes.c.id, outcomes.c.reported_at).where(outcomes.c.order_id == row.order_id)
        ).all()
        for report in reports:
            conn.execute(
                update(outcomes)
                .where(outcomes.c.id == report.id)
                .values(order_id=anon_id, account_id=None, reported_at=_day(report.reported_at))
            )
        conn.execute(delete(orders).where(orders.c.order_id == row.order_id))

    def purge_audit(self, before: datetime) -> int:
        """Delete audit entries written before ``before``; how many."""
        require_aware(before, "before")
        with self._write(limited=False) as conn:
            return int(conn.execute(delete(audit_log).where(audit_log.c.at < before)).rowcount)

    def purge_list_audit_values(self, before: datetime) -> int:
        """Replace the listed value in list-change audit entries written before ``before``
        by :data:`PURGED_VALUE`, unless the value is still on that list; how many changed."""
        require_aware(before, "before")
        with self._write(limited=False) as conn:
            rows = conn.execute(  # PostgreSQL: a concurrent purge waits, then finds them done
                select(audit_log.c.id, audit_log.c.target, audit_log.c.details).where(
                    audit_log.c.at < before, audit_log.c.action.in_(LIST_AUDIT_ACTIONS)
                ).with_for_update()
            ).all()
            candidates = [r for r in rows if _listed_value(r.details) is not None]
            listed = _still_listed(conn, candidates)
            changed = [
                r
                for r in candidates
                if (*_list_of(r.target), _listed_value(r.details)) not in listed
            ]
            stmt = (
                update(audit_log)
                .where(audit_log.c.id == bindparam("b_id"))
                .values(details=bindparam("b_details", type_=audit_log.c.details.type))
            )
            for start in range(0, len(changed), _BATCH):
                conn.execute(
                    stmt,
                    [
                        {"b_id": r.id, "b_details": {**r.details, "value": PURGED_VALUE}}
                        for r in changed[start : start + _BATCH]
                    ],
                )
            return len(changed)

    def claim_purge(self, now: datetime, every_seconds: float) -> bool:
        """True for exactly one caller per ``every_seconds`` across every worker and process.

        A compare-and-set on one ``meta`` row: the database is the lock.
        """
        require_aware(now, "now")
        stamp = int(now.timestamp())
        with self._write(limited=False) as conn:
            conn.execute(
                dialect_insert(self.dialect, meta)
                .values(key=PURGE_CLAIM_KEY, value=0)
                .on_conflict_do_nothing(index_elements=[meta.c.key])
            )
            result = conn.execute(
                update(meta)
                .where(
                    and_(meta.c.key == PURGE_CLAIM_KEY, meta.c.value <= stamp - int(every_seconds))
                )
                .values(value=stamp)
            )
            return bool(result.rowcount == 1)


__all__ = [
    "ANON_PREFIX",
    "LIST_AUDIT_ACTIONS",
    "PURGED_VALUE",
    "PURGE_CLAIM_KEY",
    "RetentionMixin",
    "anonymous_response",
    "reduce_ip_location",
]
