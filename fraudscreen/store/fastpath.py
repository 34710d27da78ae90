"""The hot path's statements, compiled once and run straight on the DBAPI connection.

SQLAlchemy's per-execute work (parameter processing, result set-up) costs more than
the indexed SQLite queries themselves, about 100 µs a statement here. Screening runs a
handful of statements per order, so these few are written with Core (one schema, both
dialects), compiled once, and executed on the driver cursor with dict parameters. The
rest of the store uses Core normally.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import ClauseElement

from fraudscreen.errors import CommitUnknownError, ConflictError, StoreError
from fraudscreen.store.deadline import request_deadline

STATEMENT_TIMEOUT_MS = 10_000
"""PostgreSQL: how long a statement of a request may run or wait for a lock before the server
cancels it; the request then answers as when the database is down (scoring:
``HISTORY_UNAVAILABLE``, ``not_stored``; other calls: 503). Set for each transaction
(``SET LOCAL``, read at each one) of the fast path and of the store's other calls but the
jobs' (retention, the training export) and migrations, which keep no limit. SQLite's lock
waits stop after ``SQLITE_BUSY_TIMEOUT_MS``, also 10 s."""


def statement_timeout_sql() -> str | None:
    """PostgreSQL's statement that sets :data:`STATEMENT_TIMEOUT_MS` for the transaction it
    runs in; None when the limit is 0 (none)."""
    ms = int(STATEMENT_TIMEOUT_MS)
    return f"SET LOCAL statement_timeout = {ms}" if ms else None


@dataclass(frozen=True, slots=True)
class RawStatement:
    """SQL text for one dialect plus the values of its literal binds (e.g. LIMIT, kinds)."""

    sql: str
    defaults: dict[str, Any]

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        """The full parameter dict: literal binds overlaid with ``values``."""
        return {**self.defaults, **values} if self.defaults else values


class FastPath:
    """Compiles statements for the engine's dialect and runs them in raw transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        # sqlite3 accepts ":name" with a dict; psycopg uses "%(name)s" (pyformat) already.
        self._dialect = (
            SQLiteDialect_pysqlite(paramstyle="named") if self.is_sqlite else engine.dialect
        )
        self._dbapi = engine.dialect.loaded_dbapi
        self._memo: dict[int, tuple[ClauseElement, RawStatement]] = {}

    def statement(self, statement: ClauseElement) -> RawStatement:
        """:meth:`compile`, memoised per statement object (for module-level statements)."""
        hit = self._memo.get(id(statement))
        if hit is None:
            hit = self._memo[id(statement)] = (statement, self.compile(statement))
        return hit[1]

    def fetch_one(self, statement: ClauseElement, params: dict[str, Any]) -> Any:
        """Run one read statement in its own read transaction; the first row or None."""
        raw = self.statement(statement)
        with self.transaction(write=False) as cur:
            cur.execute(raw.sql, raw.params(params))
            return cur.fetchone()

    def compile(self, statement: ClauseElement) -> RawStatement:
        """Compile a Core statement once; literal bind values become defaults."""
        compiled = statement.compile(dialect=self._dialect)
        defaults = {k: v for k, v in compiled.params.items() if v is not None}
        return RawStatement(str(compiled), defaults)

    def time(self, value: datetime | None) -> Any:
        """A datetime as the driver stores it (the same text SQLAlchemy writes on SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        if self.is_sqlite:
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def read_time(self, value: Any) -> datetime | None:
        """A stored time back as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    @staticmethod
    def json(value: Any) -> str:
        """A JSON column value (both dialects take text; PostgreSQL casts it)."""
        return json.dumps(value, separators=(",", ":"))

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Any]:
        """A DBAPI cursor inside one transaction (``BEGIN IMMEDIATE`` for SQLite writes); on
        PostgreSQL under the request deadline (:mod:`fraudscreen.store.deadline`) as well as the
        statement timeout."""
        with nullcontext() if self.is_sqlite else request_deadline():
            yield from self._transaction(write=write)

    def _commit(self, pooled: Any) -> None:
        """Commit; :class:`CommitUnknownError` when a PostgreSQL connection is lost meanwhile
        (cut at the deadline, dropped by the network): the server may still commit."""
        try:
            pooled.commit()
        except self._dbapi.Error as exc:
            if not self.is_sqlite and getattr(pooled.dbapi_connection, "broken", False):
                raise CommitUnknownError("database connection lost while committing") from exc
            raise

    def _transaction(self, *, write: bool) -> Iterator[Any]:
        try:
            pooled = self.engine.raw_connection()
        except (SQLAlchemyError, self._dbapi.Error) as exc:  # psycopg's own, unwrapped here
            raise StoreError(f"database unavailable ({type(exc).__name__})") from exc
        try:
            cursor = pooled.cursor()
            if self.is_sqlite:
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            elif limit := statement_timeout_sql():
                cursor.execute(limit)
            yield cursor
            if write:
                self._commit(pooled)
            else:
                pooled.rollback()
        except BaseException as exc:
            try:
                pooled.rollback()
            except self._dbapi.Error:  # the connection may be gone; the pool will discard it
                pooled.invalidate()
            if isinstance(exc, self._dbapi.IntegrityError):
                raise ConflictError("the change conflicts with stored data") from exc
            if isinstance(exc, self._dbapi.Error):
                raise StoreError(f"database error ({type(exc).__name__})") from exc
            raise
        finally:
            pooled.close()
