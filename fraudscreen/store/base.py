"""Engine set-up, transactions, migrations and the audit log shared by every part of the store.

SQLite runs in WAL mode with ``synchronous=NORMAL``, a busy timeout and foreign keys on;
write transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers (several
gunicorn workers) queue on the lock instead of failing on a deferred lock upgrade.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Table, create_engine, event, insert, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    SQLAlchemyError,
)

from fraudscreen.errors import ConflictError, FraudscreenError, InvalidRequestError, StoreError
from fraudscreen.store.checkpoint import SAFETY_NET_PAGES, Checkpointer, truncate_wal
from fraudscreen.store.deadline import WATCHDOG, request_deadline
from fraudscreen.store.fastpath import FastPath, statement_timeout_sql
from fraudscreen.store.location import (
    connect_problem,
    postgres_connect_args,
    refuse_newer_release,
    sqlite_file,
    supported_backend,
)
from fraudscreen.store.probe import Probe
from fraudscreen.store.tables import ERASURES_KEY, audit_log, meta

log = logging.getLogger(__name__)

_ERASURES = select(meta.c.value).where(meta.c.key == ERASURES_KEY)
_ACCOUNT_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:account, 0))")
_SHARED_ACCOUNT_LOCK = text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:account, 0))")
"""PostgreSQL: one advisory lock per account id (two ids may share one: they then wait for
each other's erasure), held to the end of the transaction."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite statement waits for another connection's lock; read when a connection opens."""
PING_SECONDS = 2.0
"""How long :meth:`StoreBase.ping` (``/readyz``) waits for the database's answer."""
SCRUB_SECONDS = 1.5
"""How long :meth:`StoreBase.scrub` keeps trying to truncate the WAL before leaving it to the
background thread (each try waits at most ``checkpoint.SCRUB_BUSY_TIMEOUT_MS``)."""
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6  # primary result codes; extended codes add higher bits
_IMMEDIATE = "fraudscreen_immediate"
_PG_MIGRATION_LOCK = 0x66726175  # arbitrary advisory-lock id for concurrent upgrades


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def require_aware(value: datetime, name: str) -> datetime:
    """Refuse naive datetimes: every time in the store is timezone-aware UTC."""
    if value.tzinfo is None:
        raise InvalidRequestError(f"{name} must be a timezone-aware datetime")
    return value


def dialect_insert(dialect: str, table: Table) -> Any:
    """An INSERT with ``on_conflict_do_*`` for the dialect (SQLite and PostgreSQL share the API)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"unsupported database dialect {dialect!r}")


def alembic_config() -> Config:
    """An Alembic configuration built in code (no alembic.ini), pointing at the package migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN instead of the sqlite3 module.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erasure and retention must not leave deleted personal data in free space (policy P3/P7).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_PAGES}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    try:
        # Straight to the driver: this runs once per transaction on the hot path.
        conn.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        # SQLAlchemy does not wrap what a "begin" hook raises: wrap it as it wraps its own
        # statements' errors, so that callers (_read, _write, _migrate) see a SQLAlchemyError.
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def _is_busy(exc: SQLAlchemyError) -> bool:
    """True when SQLite gave up waiting for another connection's lock ("database is locked")."""
    # Errors the sqlite3 module raises itself (a closed connection) carry no result code.
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


def _store_error(what: str, exc: SQLAlchemyError) -> StoreError:
    """The StoreError for a failed ``what`` (read, write, migration); says so when it was a lock."""
    if _is_busy(exc):  # no step named: `erase` that waits in its start-up upgrade migrates nothing
        return StoreError(
            f"the database is locked by another connection (gave up after "
            f"{SQLITE_BUSY_TIMEOUT_MS / 1000:g} s); nothing in it was changed, try again later"
        )
    log.error("database %s failed: %s", what, type(exc).__name__)  # the 503 alone said nothing
    return StoreError(f"database {what} failed ({type(exc).__name__})")


def _remember_pid(_dbapi_connection: Any, record: Any) -> None:
    record.info["pid"] = os.getpid()


def _refuse_foreign_pid(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # SQLAlchemy's recipe for os.fork(): a connection opened by the parent (for example
    # gunicorn --preload) is never used by a child; the pool opens a new one instead.
    if record.info.get("pid") != os.getpid():
        record.dbapi_connection = proxy.dbapi_connection = None
        raise DisconnectionError("connection belongs to another process")


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for ``url`` with the SQLite pragmas and BEGIN handling installed."""
    parsed = make_url(url)
    backend = supported_backend(parsed)
    if backend == "sqlite":
        path = sqlite_file(url)  # for a URI (file:...?uri=true) the path inside it
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:  # pinged on checkout by _ping_postgres, under the request's deadline
        engine = create_engine(url, hide_parameters=True,
                               connect_args=postgres_connect_args(parsed.query))
    event.listen(engine, "connect", _remember_pid)
    event.listen(engine, "checkout", _refuse_foreign_pid)
    if backend == "postgresql":
        event.listen(engine, "connect", _opened)
        event.listen(engine, "checkout", _ping_postgres(engine))
        event.listen(engine, "checkin", _checked_in)
    return engine


def _ping_postgres(engine: Engine) -> Callable[[Any, Any, Any], None]:
    """SQLAlchemy's ``pool_pre_ping``, done where the deadline can see it: the connection's
    socket goes to :data:`~fraudscreen.store.deadline.WATCHDOG` first, so a ping that never
    answers (a stopped server) is cut like the transaction's statements. A connection opened
    for this checkout is not pinged; one that fails the ping is replaced (the pool retries the
    checkout on :class:`DisconnectionError`)."""
    dialect, errors = engine.dialect, engine.dialect.loaded_dbapi.Error

    def ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        WATCHDOG.attach(dbapi_connection.fileno())
        if record.info.pop("pinged_by_opening", False):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except errors as exc:
            WATCHDOG.detach()
            raise DisconnectionError("the pooled connection does not answer") from exc

    return ping


def _opened(_dbapi_connection: Any, record: Any) -> None:
    record.info["pinged_by_opening"] = True  # it has just answered: no ping on its first checkout


def _checked_in(_dbapi_connection: Any, _record: Any) -> None:
    WATCHDOG.detach()


class StoreBase:
    """The engine, read/write transactions, migrations and the audit log."""

    def __init__(self, url: str) -> None:
        """Create the engine (and SQLite pragmas); does not migrate: call :meth:`upgrade`."""
        self._url = url
        try:
            self.engine = make_engine(url)
        except ArgumentError as exc:  # not a URL at all
            raise StoreError("cannot open the database: its URL (FRAUDSCREEN_DATABASE_URL) is not a "
                             "database URL") from exc
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"cannot open the database ({type(exc).__name__})") from exc
        except OSError as exc:  # the SQLite file's folder cannot be made
            raise StoreError(f"cannot create the database's folder ({exc.strerror or type(exc).__name__})") from exc
        self.dialect = self.engine.dialect.name
        self._write_engine = self.engine.execution_options(**{_IMMEDIATE: True})
        self._checkpointer = Checkpointer(self.engine) if self.dialect == "sqlite" else None
        self._fast = FastPath(self.engine)
        self._ping = Probe(self._ping_once, "fraudscreen-db-ping")

    def _wrote(self) -> None:
        """Note a committed write (SQLite: background WAL checkpoints)."""
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    def _limit(self, conn: Connection) -> None:
        """PostgreSQL: the statement timeout for this transaction (a request's, not a job's)."""
        if self.dialect == "postgresql" and (limit := statement_timeout_sql()):
            conn.exec_driver_sql(limit)

    def _deadline(self, limited: bool) -> AbstractContextManager[Any]:
        """PostgreSQL: the request deadline (:mod:`fraudscreen.store.deadline`) unless a job's."""
        return request_deadline() if limited and self.dialect == "postgresql" else nullcontext()

    @contextmanager
    def _read(self, *, limited: bool = True) -> Iterator[Connection]:
        """A read transaction (deferred BEGIN on SQLite: a consistent snapshot, no write lock);
        ``limited=False`` for a job's long read (no statement timeout or deadline on PostgreSQL)."""
        try:
            with self._deadline(limited), self.engine.connect() as conn:
                if limited:
                    self._limit(conn)
                yield conn
                conn.rollback()
        except FraudscreenError:
            raise
        except SQLAlchemyError as exc:
            raise _store_error("read", exc) from exc

    @contextmanager
    def _write(self, *, limited: bool = True) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error; ``limited=False``
        for a job's long write (no statement timeout or deadline on PostgreSQL)."""
        try:
            with self._deadline(limited), self._write_engine.begin() as conn:
                if limited:
                    self._limit(conn)
                yield conn
            self._wrote()
        except FraudscreenError:
            raise
        except IntegrityError as exc:
            raise ConflictError("the change conflicts with stored data") from exc
        except SQLAlchemyError as exc:
            raise _store_error("write", exc) from exc

    def upgrade(self) -> None:
        """Bring the schema to the latest migration (``alembic upgrade head``)."""
        self._migrate(command.upgrade, "head")

    def downgrade(self, revision: str) -> None:
        """Move the schema back to ``revision`` (``alembic downgrade``), for an older release."""
        self._migrate(command.downgrade, revision)

    def _migrate(self, step: Callable[[Config, str], None], revision: str) -> None:
        config = alembic_config()
        try:
            connection = self._write_engine.connect()
        except SQLAlchemyError as exc:  # which server or file, and why
            raise StoreError(connect_problem(self._url, exc)) from exc
        try:
            with connection as conn, conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                config.attributes["connection"] = conn
                if inspect(conn).has_table("alembic_version"):
                    found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                    refuse_newer_release(self._url, found)
                try:
                    step(config, revision)
                except CommandError as exc:  # e.g. a downgrade to a revision that does not exist
                    raise StoreError(f"database migration failed: {exc}") from None
        except SQLAlchemyError as exc:
            raise _store_error("migration", exc) from exc

    def ping(self, timeout: float = PING_SECONDS) -> bool:
        """True when the database answers a trivial query within ``timeout`` seconds; never
        raises, never waits longer (a frozen server holds the query: :class:`Probe`)."""
        if self._ping(timeout):
            return True
        if self._ping.waiting():
            log.warning("database ping: no answer within %.1f s", timeout)
        return False

    def _ping_once(self) -> bool:
        try:  # under the deadline: a stopped server's connection is cut, and the thread ends
            with self._deadline(True), self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1").scalar()
                conn.rollback()
            return True
        except Exception:  # noqa: BLE001 - readiness must never raise
            log.warning("database ping failed", exc_info=False)
            return False

    def scrub(self) -> bool:
        """After deleting personal data: on SQLite, copy the WAL into the database and truncate it.

        Deleted rows are zeroed in place (``secure_delete``); this drops the older page images
        the WAL still holds. True when the WAL was truncated. A reader's open snapshot blocks
        that: after about :data:`SCRUB_SECONDS` this logs a warning, returns False and leaves the
        truncation to the background checkpoint thread, which retries until it works. Always
        True on PostgreSQL, whose dead rows autovacuum reclaims.
        """
        if self._checkpointer is None:  # not SQLite
            return True
        deadline, pause = time.monotonic() + SCRUB_SECONDS, 0.05
        while True:
            try:
                if truncate_wal(self.engine):
                    return True
            except (SQLAlchemyError, sqlite3.Error) as exc:  # the deletion is committed: no raise
                log.warning("the WAL could not be truncated (%s); it will be later",
                            type(exc).__name__)
                break
            if time.monotonic() + pause > deadline:
                log.warning("the WAL could not be truncated: readers kept it busy; it will be "
                            "once they are gone")
                break
            time.sleep(pause)  # holding no lock: writers go on meanwhile
            pause = min(2 * pause, 0.4)
        self._checkpointer.truncate_later()
        return False

    def close(self) -> None:
        """Stop the checkpoint thread and close every pooled connection."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.engine.dispose()

    @contextmanager
    def audited(
        self, actor: str, action: str, target: str, *, account_id: str | None
    ) -> Iterator[None]:
        """Read the account's data in the ``with`` block, then write the audit entry of that
        reading, so that no erasure of the account comes between the two: the entry would name
        an account erased before it was written.

        PostgreSQL: the block holds the account's advisory lock, shared, which an erasure takes
        exclusive (:meth:`hold_for_erasure`): the erasure waits and then anonymises the entry,
        or it went first and the reading finds nothing (raises; no entry). SQLite, whose one
        write lock would stop every order for as long as an export reads: when an erasure
        commits while the block reads, no entry is written and StoreError asks to read again
        (503, ``Retry-After``)."""
        if self.dialect == "postgresql":
            with self._write() as conn:
                if account_id is not None:
                    conn.execute(_SHARED_ACCOUNT_LOCK, {"account": account_id})
                yield
                self._audit(conn, actor, action, target)
            return
        with self._read() as conn:
            before = conn.execute(_ERASURES).scalar()
        yield
        with self._write() as conn:
            if conn.execute(_ERASURES).scalar() != before:
                raise StoreError("an account was erased while this was read: ask again")
            self._audit(conn, actor, action, target)

    def hold_for_erasure(self, conn: Connection, account_id: str) -> None:
        """In an erasure's transaction: wait for the reads of the account under
        :meth:`audited` (PostgreSQL), and count the erasure (for SQLite's)."""
        if self.dialect == "postgresql":
            conn.execute(_ACCOUNT_LOCK, {"account": account_id})
        conn.execute(dialect_insert(self.dialect, meta).values(key=ERASURES_KEY, value=1)
                     .on_conflict_do_update(index_elements=[meta.c.key],
                                            set_={"value": meta.c.value + 1}))

    @staticmethod
    def _audit(
        conn: Connection,
        actor: str,
        action: str,
        target: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        conn.execute(
            insert(audit_log),
            {
                "at": utcnow(),
                "actor": actor,
                "action": action,
                "target": target,
                "details": dict(details or {}),
            },
        )
