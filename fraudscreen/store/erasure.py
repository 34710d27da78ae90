"""Everything the store holds on one account: export it, or erase it (privacy policy P3).

Erasure runs in one write transaction: the account's orders (and with them their entity
links, outcomes and stored answers), its aggregates, the list entries that name its
identifiers, and the audit entries that mention them (kept as "who did what when", with the
target and details replaced). List notes that name the account's identifiers are cleared.

Two kinds of list entry stay. An entry for an IP, device id or email hash that other
accounts' orders also carry is their data too: one account's erasure must not lift a block
that protects against a ring sharing it (its audit trail stays as well). Orders without an
account (guest checkouts) do not count as another account's: they may be the buyer's own. And the email hashes
of confirmed-fraud orders, on the block list, when the caller asks for it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Text, cast, delete, or_, select, update
from sqlalchemy.engine import Connection

from fraudscreen.ids import new_id
from fraudscreen.store.base import StoreBase, dialect_insert, utcnow
from fraudscreen.store.lists import BUMP_LISTS_REVISION
from fraudscreen.store.tables import (
    accounts,
    audit_log,
    list_entries,
    order_entities,
    orders,
    outcomes,
)

ERASED_TARGET = "[erased]"
"""What an audit entry's target becomes when it named an erased account or order."""
CONFIRMED_FRAUD = ("fraud",)
"""Outcomes that count as confirmed fraud for the optional block-list keep."""
KEPT_NOTE = "confirmed fraud; kept on account erasure"
ERASED_NOTE = "[erased]"
"""What a list entry's note becomes when it named an erased account's identifier."""
_CHUNK = 200
_T = TypeVar("_T")
_SHARED_KINDS = (("ip", "ips", "ip"), ("device_id", "device_ids", "device"),
                 ("email_hash", "email_hashes", "email_hash"))
"""List kinds naming an account's values, which other accounts' orders may carry too:
(list kind, :class:`AccountIdentifiers` field, entity-link kind)."""


def _chunks(values: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _by_id(conn: Connection, row_ids: Iterable[int], statement: Callable[[Sequence[int]], Any]) -> int:
    """Run ``statement(chunk)`` for each chunk of ``row_ids``; the rows changed in all."""
    return sum(conn.execute(statement(chunk)).rowcount for chunk in _chunks(sorted(row_ids)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _row_dict(row: Any) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in row._mapping.items()}


@dataclass(frozen=True)
class AccountIdentifiers:
    """The values that identify an account's data anywhere (tables, audit details, log lines)."""

    account_id: str
    order_ids: tuple[str, ...] = ()
    transaction_ids: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    device_ids: tuple[str, ...] = ()
    card_keys: tuple[str, ...] = ()
    email_hashes: tuple[str, ...] = ()

    def all(self) -> tuple[str, ...]:
        """Every identifier, the account id first, without duplicates."""
        values = (
            self.account_id,
            *self.order_ids,
            *self.transaction_ids,
            *self.ips,
            *self.device_ids,
            *self.card_keys,
            *self.email_hashes,
        )
        return tuple(dict.fromkeys(v for v in values if v))

    def spellings(self) -> tuple[str, ...]:
        """:meth:`all`, and the other ways staff write some of them in a note: a card token
        without the store's ``tok:`` prefix, an IPv6 address in full, an IPv4 address mapped
        into IPv6 (``::ffff:81.2.69.160``)."""
        other = [key.removeprefix("tok:") for key in self.card_keys if key.startswith("tok:")]
        for ip in self.ips:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                continue
            other.append(address.exploded if address.version == 6 else f"::ffff:{ip}")
        return tuple(dict.fromkeys((*self.all(), *other)))

    def without(self, shared: frozenset[str]) -> AccountIdentifiers:
        """These identifiers minus the IPs, device ids and email hashes in ``shared``."""
        def keep(values: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(v for v in values if v not in shared)

        return AccountIdentifiers(
            self.account_id, self.order_ids, self.transaction_ids, keep(self.ips),
            keep(self.device_ids), self.card_keys, keep(self.email_hashes),
        )


@dataclass(frozen=True)
class AccountErasure:
    """What one erasure removed from the database, and what it kept."""

    erasure_id: str
    """Random id of this erasure; the audit entry's target (never the account id)."""
    identifiers: AccountIdentifiers
    """The values erased, for cleaning the log files; never returned to API callers."""
    removed: dict[str, int] = field(default_factory=dict)
    """Rows removed (or, for the audit log, anonymised) per kind."""
    kept_fraud_email_hashes: int = 0
    """Email hashes of confirmed-fraud orders kept on the block list."""
    kept_shared_list_entries: int = 0
    """List entries kept because other accounts' orders carry their IP, device id or email hash."""


def _distinct(rows: Iterable[Any], attr: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for r in rows if (v := getattr(r, attr))))


NOTE_WITHHELD = "[withheld: staff notes may name other people]"
"""What an export shows for a list entry's note (``GET /v1/lists`` shows it to staff)."""
VALUE_WITHHELD = "[withheld: another's value]"
"""What an export shows for the value of an entry it holds only because its note names the
account (a block of another account "linked to acct-1")."""


def _exported_entry(row: Any, own: bool) -> dict[str, Any]:
    """A list entry as an export shows it: without its note, and without its value when the
    value is not the account's own (see :data:`NOTE_WITHHELD`, :data:`VALUE_WITHHELD`)."""
    entry = {k: v for k, v in _row_dict(row).items() if k != "id"}
    if entry["note"]:
        entry["note"] = NOTE_WITHHELD
    if not own:
        entry["value"] = VALUE_WITHHELD
    return entry


class ErasureMixin(StoreBase):
    """Export and erasure of one account's data."""

    def _hold_account(self, conn: Connection, account_id: str) -> bool:
        """Lock the account's row (``FOR UPDATE``), first making a placeholder row if there is
        none; True when the placeholder is the row (it counts as nothing removed)."""
        held = select(accounts.c.account_id).where(accounts.c.account_id == account_id).with_for_update()
        if conn.execute(held).first() is not None:
            return False
        never = utcnow()
        made = conn.execute(
            dialect_insert(self.dialect, accounts)
            .values(account_id=account_id, first_seen=never, last_order_time=never, order_count=0,
                    accepts=0, reviews=0, rejects=0, outcome_count=0)
            .on_conflict_do_nothing(index_elements=[accounts.c.account_id])
            .returning(accounts.c.account_id)
        ).first() is not None  # None: an order of the account made the row meanwhile
        conn.execute(held)
        return made

    @staticmethod
    def _identifiers(conn: Connection, account_id: str) -> tuple[AccountIdentifiers, Sequence[Any]]:
        rows = conn.execute(
            select(
                orders.c.order_id,
                orders.c.transaction_id,
                orders.c.ip,
                orders.c.device_id,
                orders.c.card_key,
                orders.c.email_hash,
                orders.c.outcome,
            ).where(orders.c.account_id == account_id)
        ).all()
        ids = AccountIdentifiers(
            account_id=account_id,
            order_ids=_distinct(rows, "order_id"),
            transaction_ids=_distinct(rows, "transaction_id"),
            ips=_distinct(rows, "ip"),
            device_ids=_distinct(rows, "device_id"),
            card_keys=_distinct(rows, "card_key"),
            email_hashes=_distinct(rows, "email_hash"),
        )
        return ids, rows

    def account_identifiers(self, account_id: str) -> AccountIdentifiers:
        """The identifiers of the account's stored data (empty tuples for an unknown account)."""
        with self._read() as conn:
            return self._identifiers(conn, account_id)[0]

    def own_identifiers(self, ids: AccountIdentifiers) -> AccountIdentifiers:
        """``ids`` without the IPs, device ids and email hashes that other accounts' orders
        carry too, as the erasure judges them now: those stay as the other accounts' data."""
        with self._read() as conn:
            return ids.without(self._shared_values(conn, ids))

    @staticmethod
    def _list_ids(conn: Connection, ids: AccountIdentifiers, exclude_hashes: Sequence[str] = ()) -> set[int]:
        """Ids of the list entries for the account id or one of its IPs, device ids or email
        hashes (one statement per chunk of values: SQLite refuses very long conditions)."""
        e = list_entries.c
        found = set(conn.execute(
            select(e.id).where(e.kind == "account_id", e.value == ids.account_id)
        ).scalars())
        for kind, field_name, _column in _SHARED_KINDS:
            values = [v for v in getattr(ids, field_name)
                      if kind != "email_hash" or v not in exclude_hashes]
            for chunk in _chunks(values):
                found.update(conn.execute(
                    select(e.id).where(e.kind == kind, e.value.in_(chunk))
                ).scalars())
        return found

    @staticmethod
    def _shared_values(conn: Connection, ids: AccountIdentifiers) -> frozenset[str]:
        """The account's IPs, device ids and email hashes that other accounts' orders carry too
        (found through the indexed entity links, which every such order has). Orders without
        an account (guest checkouts) do not count: they may be this buyer's own."""
        links = order_entities.c
        other = links.account_id.is_not(None) & (links.account_id != ids.account_id)
        shared: set[str] = set()
        for _kind, field_name, link_kind in _SHARED_KINDS:
            for chunk in _chunks(getattr(ids, field_name)):
                shared.update(conn.execute(
                    select(links.value).distinct().where(links.kind == link_kind,
                                                         links.value.in_(chunk), other)
                ).scalars())
        return frozenset(shared)

    @staticmethod
    def _guest_orders(conn: Connection, own: AccountIdentifiers) -> list[str]:
        """Ids of the orders without an account (guest checkouts) that carry one of the
        account's own email hashes: the same mailbox, so the same buyer's data."""
        found: list[str] = []
        for chunk in _chunks(own.email_hashes):
            found += conn.execute(
                select(orders.c.order_id).where(orders.c.account_id.is_(None),
                                                orders.c.email_hash.in_(chunk))
            ).scalars()
        return found

    @staticmethod
    def _notes_naming(conn: Connection, ids: AccountIdentifiers) -> set[int]:
        """Ids of the list entries whose note names one of ``ids`` as a whole token, in any
        case (staff paste hashes and IPv6 addresses in upper case too) and in any of its
        :meth:`~AccountIdentifiers.spellings`."""
        note = list_entries.c.note
        found: set[int] = set()
        for chunk in _chunks(ids.spellings()):
            # SQLite folds the case of ASCII letters only: "ÉMILE" is not like "émile" there.
            # A value with other letters is looked for in every note (staff write few).
            near = (note != "") if any(not v.isascii() for v in chunk) else or_(
                *(note.icontains(v, autoescape=True) for v in chunk))
            candidates = conn.execute(select(list_entries.c.id, note).where(near)).all()
            if not candidates:
                continue
            # "cust-4" must not match inside "cust-42": a token boundary on both sides.
            names = re.compile(
                "|".join(rf"(?<![\w.-]){re.escape(v)}(?![\w-]|\.\w)" for v in chunk), re.IGNORECASE
            )
            found.update(row.id for row in candidates if names.search(row.note))
        return found

    @staticmethod
    def _audit_ids(conn: Connection, ids: AccountIdentifiers) -> set[int]:
        """Ids of the audit entries whose target names the account, one of its orders or
        transaction ids, or whose details mention any of its values (chunked like the lists)."""
        a = audit_log.c
        found: set[int] = set()
        for chunk in _chunks([ids.account_id, *ids.order_ids, *ids.transaction_ids]):
            found.update(conn.execute(select(a.id).where(a.target.in_(chunk))).scalars())
        details = cast(a.details, Text)
        # Audit details are JSON: match each value as a whole JSON string, quotes included, in
        # its case (SQLite's LIKE ignores the case of ASCII letters: device "DEV-1" is another
        # buyer's than "dev-1", and so were its entries, erased and exported with this account).
        for chunk in _chunks(ids.all()):
            quoted = [json.dumps(v) for v in chunk]
            found.update(row.id for row in conn.execute(select(a.id, details.label("text")).where(
                or_(*(details.contains(q, autoescape=True) for q in quoted))
            )) if any(q in row.text for q in quoted))
        return found

    @staticmethod
    def _rows_by_id(conn: Connection, columns: Sequence[Any], id_column: Any, row_ids: Iterable[Any]) -> list[Any]:
        """``columns`` of the rows whose ``id_column`` is in ``row_ids``, in chunks."""
        rows: list[Any] = []
        for chunk in _chunks(sorted(row_ids)):
            rows.extend(conn.execute(
                select(*columns).where(id_column.in_(chunk)).order_by(id_column)
            ).all())
        return rows

    def export_account(self, account_id: str) -> dict[str, Any] | None:
        """Every row held on the account as JSON-ready dicts; None when nothing is held. A list
        entry's note is withheld, and the value of one held only for its note
        (:func:`_exported_entry`): staff write notes about more than one buyer ("ring seen on
        acct-1 and acct-2"), and an export goes to the one it is about."""
        with self._read() as conn:
            ids, _rows = self._identifiers(conn, account_id)
            account = conn.execute(
                select(accounts).where(accounts.c.account_id == account_id)
            ).first()
            order_rows = conn.execute(
                select(orders).where(orders.c.account_id == account_id).order_by(
                    orders.c.event_time, orders.c.order_id
                )
            ).all()
            outcome_rows = conn.execute(
                select(outcomes.c.order_id, outcomes.c.outcome, outcomes.c.reported_at)
                .where(outcomes.c.account_id == account_id)
                .order_by(outcomes.c.reported_at, outcomes.c.id)
            ).all()
            link_rows = conn.execute(
                select(
                    order_entities.c.order_id,
                    order_entities.c.kind,
                    order_entities.c.value,
                    order_entities.c.event_time,
                )
                .where(order_entities.c.account_id == account_id)
                .order_by(order_entities.c.event_time, order_entities.c.kind)
            ).all()
            guest_ids = self._guest_orders(conn, ids.without(self._shared_values(conn, ids)))
            guest_rows = sorted(self._rows_by_id(conn, tuple(orders.c), orders.c.order_id, guest_ids),
                                key=lambda r: (r.event_time, r.order_id))
            e, a = list_entries.c, audit_log.c
            own_entries = self._list_ids(conn, ids)
            list_rows = self._rows_by_id(
                conn, (e.id, e.list_name, e.kind, e.value, e.note, e.created_at), e.id,
                own_entries | self._notes_naming(conn, ids),
            )
            audit_rows = sorted(
                self._rows_by_id(conn, (a.id, a.at, a.actor, a.action, a.target), a.id,
                                 self._audit_ids(conn, ids)),
                key=lambda r: (r.at, r.id),
            )
        if account is None and not (order_rows or outcome_rows or link_rows or list_rows or audit_rows):
            return None  # a list entry or an audit entry alone is data held on the account too
        return {
            "account": _row_dict(account) if account is not None else None,
            "orders": [_row_dict(r) for r in order_rows],
            "guest_orders": [_row_dict(r) for r in guest_rows],
            "outcomes": [_row_dict(r) for r in outcome_rows],
            "entity_links": [_row_dict(r) for r in link_rows],
            "list_entries": [_exported_entry(r, r.id in own_entries) for r in list_rows],
            "audit_entries": [{k: v for k, v in _row_dict(r).items() if k != "id"} for r in audit_rows],
        }

    def erase_account(
        self, account_id: str, *, keep_fraud_email_hashes: bool = False, actor: str = "system",
        before_commit: Callable[[AccountIdentifiers], None] | None = None,
    ) -> AccountErasure:
        """Remove the account's personal data from every table, in one transaction; idempotent.

        Removed: its orders (stored answers included), entity links, outcomes, aggregates and
        the list entries naming its account id, IPs, device ids or email hashes; the email hash
        (and request digest) of guest checkouts that carry one of its own. Audit entries
        that name or mention any of these keep only who did what when. List notes naming them
        are cleared. An IP, device id or email hash that other accounts' orders carry too is
        theirs as well: its list entries and their audit entries stay. With
        ``keep_fraud_email_hashes`` the email hashes of its confirmed-fraud orders stay on (or
        are put on) the block list. The erasure is itself audited under a random erasure id.
        ``before_commit`` is called with the account's own identifiers just before the
        transaction commits (the log cleaning records what it has still to do).
        """
        erasure_id = new_id("erasure_", 8)
        removed: dict[str, int] = {}
        with self._write() as conn:
            # PostgreSQL: hold the account row first. Scoring upserts it, so an order of this
            # account cannot commit between reading its identifiers and deleting its rows
            # (SQLite's write transaction already excludes every other writer). Without a row
            # there is nothing to hold: a placeholder row is made (and removed with the rest),
            # or an order committed meanwhile would be deleted with the account unreported.
            self.hold_for_erasure(conn, account_id)  # reads under `audited` finish first
            placeholder = self._hold_account(conn, account_id)
            ids, rows = self._identifiers(conn, account_id)
            own = ids.without(self._shared_values(conn, ids))  # only this account's values
            kept: tuple[str, ...] = ()
            if keep_fraud_email_hashes:
                kept = _distinct((r for r in rows if r.outcome in CONFIRMED_FRAUD), "email_hash")
                self._keep_on_block_list(conn, kept)
            # Every match is collected by id in chunks, then changed by id in chunks: one
            # condition over all of an account's values is too long for SQLite.
            e = list_entries.c
            lists_removed = _by_id(conn, self._list_ids(conn, own, exclude_hashes=kept),
                                   lambda chunk: delete(list_entries).where(e.id.in_(chunk)))
            # what still names the account: entries on shared values
            kept_shared = len(self._list_ids(conn, ids, exclude_hashes=kept))
            named = self._notes_naming(conn, own)
            _by_id(conn, named,
                   lambda chunk: update(list_entries).where(e.id.in_(chunk)).values(note=ERASED_NOTE))
            if kept or lists_removed or named:  # last, after the entries (BUMP_LISTS_REVISION)
                conn.execute(BUMP_LISTS_REVISION)
            removed["list_entries"] = lists_removed
            removed["list_notes_cleared"] = len(named)
            removed["audit_entries_anonymised"] = _by_id(
                conn, self._audit_ids(conn, own),
                lambda chunk: update(audit_log).where(audit_log.c.id.in_(chunk))
                .values(target=ERASED_TARGET, details={"erased": True}),
            )
            # guest checkouts with its own email hash: that mailbox's, so the hash goes (and the
            # request digest, as pseudonymous); their IP and device may be anyone's and stay
            guest = self._guest_orders(conn, own)
            removed["guest_order_email_hashes"] = len(guest)
            for chunk in _chunks(guest):
                conn.execute(update(orders).where(orders.c.order_id.in_(chunk))
                             .values(email_hash=None, request_digest=None))
                conn.execute(delete(order_entities).where(order_entities.c.order_id.in_(chunk),
                                                          order_entities.c.kind == "email_hash"))
            removed["outcomes"] = removed["entity_links"] = 0
            for chunk in _chunks(list(ids.order_ids)):
                removed["outcomes"] += conn.execute(
                    delete(outcomes).where(outcomes.c.order_id.in_(chunk))
                ).rowcount
                removed["entity_links"] += conn.execute(
                    delete(order_entities).where(order_entities.c.order_id.in_(chunk))
                ).rowcount
            removed["outcomes"] += conn.execute(
                delete(outcomes).where(outcomes.c.account_id == account_id)
            ).rowcount
            removed["entity_links"] += conn.execute(
                delete(order_entities).where(order_entities.c.account_id == account_id)
            ).rowcount
            removed["orders"] = conn.execute(
                delete(orders).where(orders.c.account_id == account_id)
            ).rowcount
            removed["accounts"] = conn.execute(
                delete(accounts).where(accounts.c.account_id == account_id)
            ).rowcount - placeholder
            details: dict[str, Any] = {"removed": dict(removed), "kept_fraud_email_hashes": len(kept),
                                       "kept_shared_list_entries": kept_shared}
            self._audit(conn, actor, "account.erase", erasure_id, details)
            if before_commit is not None:
                before_commit(own)
        self.scrub()
        return AccountErasure(erasure_id, ids, removed, len(kept), kept_shared)

    def _keep_on_block_list(self, conn: Connection, hashes: Sequence[str]) -> None:
        if not hashes:
            return
        stmt = dialect_insert(self.dialect, list_entries).on_conflict_do_nothing(
            index_elements=[list_entries.c.list_name, list_entries.c.kind, list_entries.c.value]
        )
        now = utcnow()
        conn.execute(
            stmt,
            [
                {"list_name": "block", "kind": "email_hash", "value": h, "note": KEPT_NOTE, "created_at": now}
                for h in hashes
            ],
        )


__all__ = [
    "CONFIRMED_FRAUD",
    "ERASED_NOTE",
    "ERASED_TARGET",
    "AccountErasure",
    "AccountIdentifiers",
    "ErasureMixin",
]
