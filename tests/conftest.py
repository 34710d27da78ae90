"""Shared fixtures: real SQLite files and a real throwaway PostgreSQL server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from fraudscreen.api import create_app
from fraudscreen.config import Settings
from fraudscreen.logs import reset_logging
from fraudscreen.store import Store

from helpers import make_settings
from postgres_server import (
    REQUIRE_ENV,
    PostgresServer,
    PostgresUnavailable,
    require_postgres,
    start_postgres,
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
_STORE_DB = "fraudscreen_store"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (skipped when not installed, unless required)."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        if require_postgres():
            pytest.fail(f"PostgreSQL is required ({REQUIRE_ENV} is set) but unavailable: {exc}")
        pytest.skip(f"PostgreSQL not available ({exc}); set {REQUIRE_ENV}=1 to make this an error")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of an empty database on the session's PostgreSQL server."""
    postgres_server.admin_sql("CREATE DATABASE fraudscreen_test")
    return postgres_server.url("fraudscreen_test")


@pytest.fixture(scope="session")
def _postgres_store_db(postgres_server: PostgresServer) -> str:
    """The database the per-test stores live in; emptied before every test."""
    postgres_server.admin_sql(f"CREATE DATABASE {_STORE_DB}")
    return _STORE_DB


def _fresh_pg_url(request: pytest.FixtureRequest) -> str:
    # Dropping the schema is ~5x faster than CREATE DATABASE (which copies a template).
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = request.getfixturevalue("_postgres_store_db")
    server.admin_sql(
        # connections a previous test left open must not block the drop
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        "DROP SCHEMA public CASCADE",
        "CREATE SCHEMA public",
        database=name,
    )
    return server.url(name)


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'fraudscreen.db'}"


@pytest.fixture(params=BACKENDS)
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty (not migrated) database, per test, on each backend."""
    return _sqlite_url(tmp_path) if request.param == "sqlite" else _fresh_pg_url(request)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh migrated database, per test, on each backend (SQLite: a real file)."""
    url = _sqlite_url(tmp_path) if request.param == "sqlite" else _fresh_pg_url(request)
    store = Store(url)
    store.upgrade()
    store.close()
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An upgraded :class:`Store` on a fresh database (both backends)."""
    store = Store(store_url)
    yield store
    store.close()


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    """Settings on a fresh database (both backends) with the MaxMind test databases."""
    return make_settings(tmp_path, store_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[FlaskClient]:
    """The real app's test client; logging is put back as it was afterwards."""
    level = logging.getLogger().level
    app = create_app(settings)
    yield app.test_client()
    reset_logging()
    logging.getLogger().setLevel(level)
    app.extensions["fraudscreen"].store.close()


@pytest.fixture
def keys(client: FlaskClient) -> dict[str, str]:
    """One API key per scope: score, outcomes, admin."""
    store = client.application.extensions["fraudscreen"].store
    return {s: store.create_api_key(f"test-{s}", [s])[1] for s in ("score", "outcomes", "admin")}
