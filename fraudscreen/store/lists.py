"""Allow, block and review lists, editable at run time, with a revision counter.

Values arrive already normalised; the store keeps them as given. Every change bumps
``lists_revision`` in the same transaction, so screening can cache its list matcher
and reload it only when the revision moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from fraudscreen.errors import InvalidRequestError
from fraudscreen.rules import LIST_KINDS, LIST_NAMES
from fraudscreen.store.base import StoreBase, dialect_insert, utcnow
from fraudscreen.store.tables import LISTS_REVISION_KEY, list_entries, meta

"""What a list entry can match."""


@dataclass(frozen=True)
class ListRow:
    """One entry of one list."""

    list_name: str
    """allow, block or review."""
    kind: str
    """ip (address or network), email_domain, email_hash, bin, country, device_id, account_id."""
    value: str
    """The normalised value to match."""
    note: str
    """Why it is on the list (free text from staff)."""
    created_at: datetime


def _check(list_name: str, kind: str) -> None:
    if list_name not in LIST_NAMES:
        raise InvalidRequestError(f"list must be one of {', '.join(LIST_NAMES)}")
    if kind not in LIST_KINDS:
        raise InvalidRequestError(f"list kind must be one of {', '.join(LIST_KINDS)}")


def _row(row: Any) -> ListRow:
    return ListRow(row.list_name, row.kind, row.value, row.note, row.created_at)


_COLUMNS = (
    list_entries.c.list_name,
    list_entries.c.kind,
    list_entries.c.value,
    list_entries.c.note,
    list_entries.c.created_at,
)
_REVISION = select(meta.c.value).where(meta.c.key == LISTS_REVISION_KEY)
BUMP_LISTS_REVISION = update(meta).where(meta.c.key == LISTS_REVISION_KEY).values(value=meta.c.value + 1)
"""Every change of the lists runs this last in its transaction, after the entries it changes: in
one order, a list edit and an erasure cannot each hold what the other waits for (PostgreSQL)."""


class ListsMixin(StoreBase):
    """List entries and their revision."""

    def add_list_entry(
        self, list_name: str, kind: str, value: str, note: str | None = None, *,
        actor: str = "system",
    ) -> tuple[ListRow, bool]:
        """Add an entry and bump the revision; the entry, and False when it was there already.
        An existing entry keeps its note unless ``note`` is given (None: keep, and nothing
        changes)."""
        _check(list_name, kind)
        if not value:
            raise InvalidRequestError("a list entry needs a value")
        insert = dialect_insert(self.dialect, list_entries).values(
            list_name=list_name, kind=kind, value=value, note=note or "", created_at=utcnow()
        ).on_conflict_do_nothing(
            index_elements=[list_entries.c.list_name, list_entries.c.kind, list_entries.c.value]
        ).returning(list_entries.c.id)  # a row when it was added
        where = (
            (list_entries.c.list_name == list_name)
            & (list_entries.c.kind == kind)
            & (list_entries.c.value == value)
        )
        set_note = update(list_entries).where(where).values(note=note).returning(list_entries.c.id)
        with self._write() as conn:
            # The insert says whether it added the row: a look first raced with a concurrent
            # add on PostgreSQL (several 201s and audit entries for one entry).
            while not (created := conn.execute(insert).first() is not None):
                if note is None:
                    row = conn.execute(select(*_COLUMNS).where(where)).first()
                    if row is not None:  # nothing changes: no revision, no audit entry
                        return _row(row), False
                elif conn.execute(set_note).first() is not None:
                    break
                # PostgreSQL: removed by another transaction since the insert: add it again
            conn.execute(BUMP_LISTS_REVISION)
            self._audit(conn, actor, "list.add", f"{list_name}/{kind}", {"value": value})
            return _row(conn.execute(select(*_COLUMNS).where(where)).one()), created

    def remove_list_entry(
        self, list_name: str, kind: str, value: str, *, actor: str = "system"
    ) -> bool:
        """Remove an entry; False when it was not there (then nothing changes)."""
        _check(list_name, kind)
        with self._write() as conn:
            result = conn.execute(
                delete(list_entries).where(
                    (list_entries.c.list_name == list_name)
                    & (list_entries.c.kind == kind)
                    & (list_entries.c.value == value)
                )
            )
            if not result.rowcount:
                return False
            conn.execute(BUMP_LISTS_REVISION)
            self._audit(conn, actor, "list.remove", f"{list_name}/{kind}", {"value": value})
            return True

    def list_entries(self, list_name: str | None = None) -> list[ListRow]:
        """The entries of one list, or of every list, ordered by list, kind and value."""
        stmt = select(*_COLUMNS).order_by(
            list_entries.c.list_name, list_entries.c.kind, list_entries.c.value
        )
        if list_name is not None:
            stmt = stmt.where(list_entries.c.list_name == list_name)
        with self._read() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def lists_revision(self) -> int:
        """A counter that moves on every list change (cheap: one primary-key read)."""
        row = self._fast.fetch_one(_REVISION, {})  # read per request: fast path
        return int(row[0]) if row else 0
