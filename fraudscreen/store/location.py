"""Where a database URL points, whether it holds the fraudscreen schema, and why it cannot
be opened: for commands that must not create a database, and for clear error messages.
Nothing here creates a file, a directory or a table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.util import asbool

from fraudscreen.errors import StoreError

BACKENDS = ("sqlite", "postgresql")

CONNECT_TIMEOUT_SECONDS = 10
"""How long a PostgreSQL connection may take to open (unless the URL sets ``connect_timeout``):
a server that accepts the connection and never answers must not hang a command or a worker."""
TCP_USER_TIMEOUT_MS = 15_000
"""How long data sent to PostgreSQL may stay unacknowledged before the connection is dropped
(libpq's ``tcp_user_timeout``). A server that vanishes from the network (a host or link
failure, a fail-over) acknowledges nothing and runs no ``statement_timeout``: without this a
worker waits for the kernel's retransmissions, about 15 minutes on Linux. A slow query on a
live server is not cut short: its server acknowledges the request at once."""
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
"""TCP keepalives on PostgreSQL connections: a connection whose server vanished while it was
idle is found dead after about a minute instead of the kernel's two hours."""


def postgres_connect_args(query: Mapping[str, Any]) -> dict[str, Any]:
    """libpq options for a PostgreSQL connection: the connect timeout, ``tcp_user_timeout`` and
    keepalives above, each unless the URL's ``query`` sets it."""
    defaults: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS,
                                "tcp_user_timeout": TCP_USER_TIMEOUT_MS, **KEEPALIVES}
    return {name: value for name, value in defaults.items() if name not in query}


def supported_backend(parsed: URL) -> str:
    """The backend a database URL names; StoreError naming it when fraudscreen cannot run on it."""
    backend = parsed.get_backend_name()
    if backend not in BACKENDS:
        raise StoreError(f"cannot open the database: its URL (FRAUDSCREEN_DATABASE_URL) names "
                         f"{backend!r}; fraudscreen runs on SQLite and PostgreSQL "
                         "(sqlite:////path/fraudscreen.db, postgresql+psycopg://user@host/db)")
    return backend


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite file URL; None for an in-memory or a non-SQLite database.

    StoreError when ``url`` is not a database URL.
    """
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the database ({type(exc).__name__})") from exc
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    try:  # read as SQLAlchemy's pysqlite dialect does: true, yes, on, 1, ...
        uri = asbool(parsed.query.get("uri", False))
    except ValueError as exc:
        raise StoreError("cannot open the database (the uri flag is neither true nor false)") from exc
    if uri:  # sqlite:///file:path?mode=ro&uri=true
        if parsed.query.get("mode") == "memory":
            return None
        location = urlsplit(database)
        if location.scheme == "file":
            database = unquote(location.path)
    if database in ("", ":memory:"):
        return None
    return Path(database)


def database_exists(url: str) -> bool:
    """False only for a SQLite file URL whose file is missing; in-memory and server databases
    (e.g. PostgreSQL) count as existing and report their own connection errors when opened."""
    path = sqlite_file(url)
    return path is None or path.exists()


def database_location(url: str) -> str:
    """Where ``url`` points, for messages, without its password: a SQLite file's path, or
    the database name and the server's host:port."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        return str(path) if path is not None else ":memory:"
    return f"{parsed.database or '(default)'} on {_server(parsed)}"


def _server(parsed: URL) -> str:
    if not parsed.host:
        return "the local socket"
    default_port = {"postgresql": 5432, "mysql": 3306}.get(parsed.get_backend_name())
    port = parsed.port or default_port
    return f"{parsed.host}:{port}" if port else parsed.host


def _driver_reason(exc: BaseException) -> str:
    """The driver's reason, one line: e.g. "Connection refused" (libpq names no password)."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return first.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip() or type(orig).__name__


def connect_problem(url: str, exc: BaseException) -> str:
    """One line on why ``url`` could not be opened: which file or server, and the cause."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return f"cannot connect to the database server at {_server(parsed)} ({_driver_reason(exc)})"
    where = database_location(url)
    path = sqlite_file(url)
    if path is not None and path.is_dir():
        return f"{where} is a directory, not a SQLite database"
    if getattr(getattr(exc, "orig", None), "sqlite_errorname", "") == "SQLITE_NOTADB":
        return f"{where} is not a SQLite database"
    return f"cannot open the SQLite database {where} ({_driver_reason(exc)})"


def has_schema(url: str) -> bool:
    """True when the database holds the fraudscreen schema: an ``alembic_version`` row naming
    one of the package's migrations. Only reads; creates no file, directory or table.
    See :func:`schema_revision`."""
    return schema_revision(url) is not None


def schema_revision(url: str) -> str | None:
    """The package's migration the database is at, or None when it holds no fraudscreen
    schema. Only reads; creates no file, directory or table.

    False for a missing SQLite file, an in-memory or empty database, or another application's
    database. StoreError naming the cause when the file or server cannot be read.
    """
    parsed = make_url(url)
    path = sqlite_file(url)
    if supported_backend(parsed) == "sqlite":
        if path is None or not path.exists():
            return None
        # Read-only through a SQLite URI: nothing is created, the file is never written.
        uri = f"{path.resolve().as_uri()}?mode=ro"
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True),
                               poolclass=NullPool)
    else:
        try:
            engine = create_engine(url, hide_parameters=True, poolclass=NullPool,
                                   connect_args=postgres_connect_args(parsed.query))
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"cannot open the database ({type(exc).__name__})") from exc
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise StoreError(connect_problem(url, exc)) from exc
        with conn:
            try:
                if not inspect(conn).has_table("alembic_version"):
                    return None
                versions = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            except SQLAlchemyError as exc:
                if parsed.get_backend_name() == "sqlite":
                    raise StoreError(connect_problem(url, exc)) from exc
                raise StoreError(f"cannot read the database {database_location(url)} "
                                 f"({_driver_reason(exc)})") from exc
    finally:
        engine.dispose()
    refuse_newer_release(url, versions)
    ours = versions & _migrations()[0]
    return min(ours) if ours else None


def latest_revision() -> str:
    """This release's latest migration (``0004``)."""
    head = _migrations()[1]
    assert head is not None  # the package ships its migrations
    return head


def downgrade_targets() -> list[str]:
    """The migrations a database of this release can be moved back to: every one before the
    latest (not ``base``, which would drop every table)."""
    known, head = _migrations()
    return sorted(known - {head})


def _migrations() -> tuple[set[str], str | None]:
    """This release's migration ids, and the latest."""
    from fraudscreen.store.base import alembic_config  # base imports this module

    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}, scripts.get_current_head()


def refuse_newer_release(url: str, versions: Iterable[str]) -> None:
    """StoreError in one line when the database's migrations (``versions``, its
    ``alembic_version``) look like this project's but none is one this release knows: a newer
    release migrated it. Says which migrations, and what to do."""
    found = set(versions)
    known, head = _migrations()
    ours = {v for v in found if len(v) == 4 and v.isdigit()}  # "0004", not another app's ids
    if found and not found & known and found == ours:
        raise StoreError(
            f"the database at {database_location(url)} is at migration {', '.join(sorted(found))}, "
            f"newer than this release knows (its latest is {head}): run the newer release, or "
            f"move the database back with that release's `fraudscreen db downgrade {head}` first")


__all__ = [
    "connect_problem",
    "database_exists",
    "database_location",
    "downgrade_targets",
    "has_schema",
    "latest_revision",
    "refuse_newer_release",
    "schema_revision",
    "sqlite_file",
]
