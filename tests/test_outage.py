"""PostgreSQL stops answering while the service runs: the API answers (degraded with a
``not_stored`` warning, or a clean 503 ``store_unavailable``), never a 500, and recovers by
itself; a worker started meanwhile still boots."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudscreen.api import create_app
from fraudscreen.api.auth import KeyCache
from fraudscreen.errors import StoreError
from fraudscreen.logs import reset_logging
from fraudscreen.store import Store

from helpers import auth, make_settings, order_body


@pytest.mark.postgres
def test_score_during_a_postgres_outage_is_not_a_500(postgres_server, tmp_path: Path) -> None:
    postgres_server.admin_sql("DROP DATABASE IF EXISTS fs_outage", "CREATE DATABASE fs_outage")
    settings = make_settings(tmp_path, postgres_server.url("fs_outage"))
    Store(settings.resolved_database_url).upgrade()
    app = create_app(settings)
    client = app.test_client()
    store = app.extensions["fraudscreen"].store
    key = store.create_api_key("checkout", ["score"])[1]
    assert client.post("/v1/score", json=order_body(event__transaction_id="before"),
                       headers=auth(key)).status_code == 200
    # the outage: no new connections, existing ones killed (as a restart of PostgreSQL does)
    postgres_server.admin_sql(
        "ALTER DATABASE fs_outage ALLOW_CONNECTIONS false",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'fs_outage'",
    )
    try:
        response = client.post("/v1/score", json=order_body(event__transaction_id="during"),
                               headers=auth(key))
        assert response.status_code != 500, response.get_json()
        if response.status_code == 200:  # the documented behaviour
            answer = response.get_json()
            assert answer["decision"] != "accept"  # a missing part never gives a silent accept
            assert "HISTORY_UNAVAILABLE" in [r["code"] for r in answer["reasons"]]
            assert "not_stored" in [w["code"] for w in answer["warnings"]]
        else:
            assert response.status_code == 503
            assert response.get_json()["error"]["code"] == "store_unavailable"
        assert client.get("/readyz").status_code == 503
    finally:
        postgres_server.admin_sql("ALTER DATABASE fs_outage ALLOW_CONNECTIONS true")
    response = client.post("/v1/score", json=order_body(event__transaction_id="after"),
                           headers=auth(key))
    assert response.status_code == 200
    assert client.get("/readyz").status_code == 200
    reset_logging()
    store.close()


@pytest.mark.postgres
def test_worker_warm_up_survives_a_postgres_outage(postgres_server, tmp_path: Path) -> None:
    """A worker (re)spawned during an outage (SIGHUP reload, crash) must boot: a warm-up that
    raised made gunicorn see 'Worker failed to boot' and the master exit."""
    from fraudscreen.server import warm_up

    postgres_server.admin_sql("DROP DATABASE IF EXISTS fs_outage2", "CREATE DATABASE fs_outage2")
    settings = make_settings(tmp_path, postgres_server.url("fs_outage2"))
    Store(settings.resolved_database_url).upgrade()
    app = create_app(settings)
    postgres_server.admin_sql("ALTER DATABASE fs_outage2 ALLOW_CONNECTIONS false")
    try:
        warm_up(app)  # must not raise
    finally:
        postgres_server.admin_sql("ALTER DATABASE fs_outage2 ALLOW_CONNECTIONS true")
        reset_logging()
        app.extensions["fraudscreen"].store.close()


def test_a_key_seen_lately_is_still_accepted_while_the_database_does_not_answer() -> None:
    cache = KeyCache(ttl=0.0, stale=60.0)
    assert cache.get("k", lambda _key: "record") == "record"

    def down(_key: str) -> str:
        raise StoreError("database unavailable")

    assert cache.get("k", down) == "record"  # stale, but the database cannot say otherwise
    with pytest.raises(StoreError):
        cache.get("never-seen", down)
    assert KeyCache(ttl=0.0, stale=0.0).get("k", lambda _key: "x") == "x"
    expired = KeyCache(ttl=0.0, stale=0.0)
    expired.get("k", lambda _key: "record")
    with pytest.raises(StoreError):
        expired.get("k", down)
