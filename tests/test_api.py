"""The HTTP API through Flask's test client, on SQLite and PostgreSQL, with the MaxMind test databases."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from fraudscreen.api import create_app
from fraudscreen.config import Settings
from fraudscreen.rules.lists import NOTE_MAX

from helpers import ORDER, auth, backend_pids, make_settings, named_connections, order_body, stopped

CARD = "4111111111111111"


def score(client: FlaskClient, key: str, body: Any) -> Any:
    return client.post("/v1/score", json=body, headers=auth(key))


def count_orders(settings: Settings) -> int:
    engine = sa.create_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one())
    finally:
        engine.dispose()


def test_score_answers_with_decision_location_profile_and_versions(client, keys) -> None:
    response = score(client, keys["score"], order_body())
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["decision"] in ("accept", "review", "reject")
    assert 0.01 <= data["risk_score"] <= 99
    assert data["order_id"] == ORDER["event"]["transaction_id"]
    loc = data["ip_location"]
    assert (loc["country"], loc["city"], loc["accuracy_radius"]) == ("GB", "London", 10)
    assert loc["latitude"] == pytest.approx(51.5142)
    assert data["profile"]["prior_orders"] == 0
    assert data["model_version"] and data["rules_version"]
    assert isinstance(data["reasons"], list) and isinstance(data["warnings"], list)


def test_auth_is_required_and_scoped(client, keys, caplog) -> None:
    assert client.post("/v1/score", json=order_body()).status_code == 401
    assert score(client, "fs_not_a_key", order_body()).status_code == 401
    denied = score(client, keys["outcomes"], order_body())
    assert denied.status_code == 403
    assert denied.get_json()["error"]["code"] == "forbidden"
    with caplog.at_level("INFO", logger="fraudscreen.requests"):
        assert client.get("/v1/lists", headers=auth(keys["score"])).status_code == 403
    line = [r for r in caplog.records if r.name == "fraudscreen.requests"][-1]
    assert line.route == "/v1/lists" and line.status == 403 and line.api_key == "test-score"  # which key


def test_schema_errors_are_400_with_pointers_and_store_nothing(client, keys, settings) -> None:
    body = order_body()
    body["device"]["ip_address"] = "300.1.2.3"
    body["billing"]["country"] = "Britain"
    response = score(client, keys["score"], body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert {d["pointer"] for d in error["details"]} == {"/device/ip_address", "/billing/country"}
    assert count_orders(settings) == 0


def test_invalid_json_and_oversized_bodies(client, keys) -> None:
    bad = client.post("/v1/score", data=b"{not json", headers=auth(keys["score"]),
                      content_type="application/json")
    assert bad.status_code == 400
    assert bad.get_json()["error"]["code"] == "invalid_request"
    big = order_body()
    big["custom_inputs"] = {"padding": "x" * 70_000}
    too_big = score(client, keys["score"], big)
    assert too_big.status_code == 413
    assert too_big.get_json()["error"]["code"] == "request_too_large"


def test_unknown_fields_are_warnings(client, keys) -> None:
    body = order_body()
    body["device"]["colour"] = "teal"
    data = score(client, keys["score"], body).get_json()
    assert {"code": "unknown_field", "message": data["warnings"][0]["message"],
            "input_pointer": "/device/colour"} in data["warnings"]


def test_card_number_is_refused_and_nothing_is_stored_or_logged(
    client, keys, settings, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    body = order_body()
    body["credit_card"]["token"] = CARD
    body["email"]["address"] = "carder@example.net"
    response = score(client, keys["score"], body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "card_number_refused"
    assert error["details"] == [{"pointer": "/credit_card/token", "message": "looks like a full card number"}]
    assert CARD not in response.get_data(as_text=True)
    assert count_orders(settings) == 0
    assert CARD not in caplog.text and "carder@example.net" not in caplog.text
    if settings.resolved_database_url.startswith("sqlite"):
        raw = b"".join(p.read_bytes() for p in settings.data_dir.glob("fraudscreen.db*"))
        assert CARD.encode() not in raw and b"carder@example.net" not in raw


def test_same_transaction_id_returns_the_stored_answer(client, keys, settings) -> None:
    body = order_body()
    first = score(client, keys["score"], body)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)  # key order, spaces
    again = client.post("/v1/score", data=reordered, content_type="application/json",
                        headers=auth(keys["score"]))
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    assert count_orders(settings) == 1


def test_a_retry_that_writes_a_whole_amount_without_its_fraction_is_the_same_order(
        client, keys, settings) -> None:
    """119.0 and 119 are one JSON number (JavaScript writes the first as the second); 119.5
    is another amount."""
    body = order_body(order__amount=119.0)
    first = score(client, keys["score"], body)
    assert '"amount": 119.0' in json.dumps(body)
    retry = json.dumps(body).replace('"amount": 119.0', '"amount": 119')
    again = client.post("/v1/score", data=retry, content_type="application/json",
                        headers=auth(keys["score"]))
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    other = score(client, keys["score"], order_body(order__amount=119.5))
    assert other.status_code == 409 and count_orders(settings) == 1


def test_a_transaction_id_reused_with_another_body_is_a_409(client, keys, settings) -> None:
    """The stored answer belongs to the first body: a $999 cart under the id of a $119 one
    would be accepted unscreened."""
    first = score(client, keys["score"], order_body())
    other = score(client, keys["score"], order_body(order__amount=999.0))
    assert other.status_code == 409, other.get_json()
    error = other.get_json()["error"]
    assert error["code"] == "transaction_id_reused"
    assert error["details"] == [{"pointer": "/event/transaction_id", "message": "was used for another order"}]
    assert "Idempotent-Replayed" not in other.headers
    stored = client.get(f"/v1/orders/{first.get_json()['id']}", headers=auth(keys["score"])).get_json()
    assert stored["decision"] == first.get_json()["decision"] and count_orders(settings) == 1


def test_an_order_kept_without_its_digest_is_replayed_for_any_body(client, keys, settings) -> None:
    """Orders stored before the digest was kept, or past the personal period, have none."""
    first = score(client, keys["score"], order_body())
    engine = sa.create_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE orders SET request_digest = NULL"))
    engine.dispose()
    again = score(client, keys["score"], order_body(order__amount=999.0))
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()


def test_outcome_is_recorded_and_shown(client, keys) -> None:
    created = score(client, keys["score"], order_body()).get_json()
    for order_id in (created["id"], created["order_id"]):
        response = client.post(f"/v1/orders/{order_id}/outcome", json={"outcome": "chargeback"},
                               headers=auth(keys["outcomes"]))
        assert response.status_code == 200
        answer = response.get_json()  # not the order: an outcomes key may not read orders
        assert set(answer) == {"id", "order_id", "outcome", "outcome_at"}
        assert (answer["id"], answer["order_id"], answer["outcome"]) == (
            created["id"], created["order_id"], "chargeback")
    stored = client.get(f"/v1/orders/{created['id']}", headers=auth(keys["score"])).get_json()
    assert stored["outcome"] == "chargeback" and stored["decision"] == created["decision"]
    bad = client.post(f"/v1/orders/{created['id']}/outcome", json={"outcome": "meh"},
                      headers=auth(keys["outcomes"]))
    assert bad.status_code == 400
    assert bad.get_json()["error"]["details"][0]["pointer"] == "/outcome"
    missing = client.post("/v1/orders/nope/outcome", json={"outcome": "fraud"},
                          headers=auth(keys["outcomes"]))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("path", "scope", "body", "code", "pointers"),
    [
        ("/v1/orders/{id}/outcome", "outcomes", {"outcome": "fraud", "note": "4111 1111 1111 1111"},
         "card_number_refused", ["/note"]),
        ("/v1/orders/{id}/outcome", "outcomes", {"outcome": "fraud", "4111111111111111": 1},
         "card_number_refused", ["/[card]"]),
        ("/v1/orders/{id}/outcome", "outcomes", {"outcome": "fraud", "comment": "x", "jane@example.org": 1},
         "invalid_request", ["/comment", "/[email]"]),
        ("/v1/lists/block", "admin", {"kind": "device_id", "value": "d-1", "extra": "x"},
         "invalid_request", ["/extra"]),
        ("/v1/admin/model/reload", "admin", {"path": "models/default", "force": True},
         "invalid_request", ["/force"]),
    ],
)
def test_small_bodies_refuse_card_numbers_and_unknown_members(
    client, keys, settings, path: str, scope: str, body: dict, code: str, pointers: list[str]
) -> None:
    """An outcome, a list entry or a reload does nothing with a body it does not fully know."""
    created = score(client, keys["score"], order_body()).get_json()
    response = client.post(path.format(id=created["id"]), json=body, headers=auth(keys[scope]))
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and [d["pointer"] for d in error["details"]] == pointers
    assert "4111" not in response.get_data(as_text=True) and "jane@" not in response.get_data(as_text=True)
    stored = client.get(f"/v1/orders/{created['id']}", headers=auth(keys["score"])).get_json()
    assert stored["outcome"] is None
    assert client.get("/v1/lists", headers=auth(keys["admin"])).get_json()["entries"] == []


def test_profile_builds_up_and_counts_a_shared_device(client, keys) -> None:
    times = ["2026-11-20T10:00:00Z", "2026-11-20T10:20:00Z", "2026-11-20T10:40:00Z"]
    for i, t in enumerate(times):
        body = order_body(event__transaction_id=f"a-{i}", event__time=t)
        body["device"]["ip_address"] = ["81.2.69.142", "81.2.69.160", "2.125.160.216"][i]
        assert score(client, keys["score"], body).status_code == 200
    other = order_body(event__transaction_id="b-1", event__time="2026-11-20T11:00:00Z",
                       account__user_id="acct-b")
    data = score(client, keys["score"], other).get_json()
    assert data["profile"]["prior_orders"] == 0
    assert data["profile"]["device_accounts_ever"] == 1
    assert data["profile"]["device_accounts_1d"] == 1
    profile = client.get(f"/v1/accounts/{ORDER['account']['user_id']}/profile?at=2026-11-20T10:50:00Z",
                         headers=auth(keys["score"])).get_json()["profile"]
    assert profile["orders_1h"] == 3 and profile["orders_30d"] == 3
    assert profile["distinct_ips_30d"] == 3 and profile["distinct_ip_countries_30d"] == 1
    assert profile["amount_usd_24h"] > 0
    missing = client.get("/v1/accounts/nobody/profile", headers=auth(keys["score"]))
    assert missing.status_code == 404


def test_blocklist_rejects_and_allowlist_wins(client, keys) -> None:
    admin = auth(keys["admin"])
    added = client.post("/v1/lists/block", json={"kind": "ip", "value": "81.2.69.0/24"}, headers=admin)
    assert added.status_code == 201
    data = score(client, keys["score"], order_body()).get_json()
    assert (data["decision"], data["reasons"][0]["code"]) == ("reject", "BLOCKLISTED")
    client.post("/v1/lists/allow", json={"kind": "account_id", "value": "acct-a"}, headers=admin)
    data = score(client, keys["score"], order_body(event__transaction_id="t-2")).get_json()
    assert (data["decision"], data["reasons"][0]["code"]) == ("accept", "ALLOWLISTED")
    listed = client.get("/v1/lists", headers=admin).get_json()["entries"]
    assert {(e["list"], e["kind"], e["value"]) for e in listed} == {
        ("block", "ip", "81.2.69.0/24"), ("allow", "account_id", "acct-a")}
    bad = client.post("/v1/lists/block", json={"kind": "ip", "value": "not-an-ip"}, headers=admin)
    assert bad.status_code == 400 and bad.get_json()["error"]["details"][0]["pointer"] == "/value"
    removed = client.delete("/v1/lists/block?kind=ip&value=81.2.69.0/24", headers=admin)
    assert removed.status_code == 200


def test_a_list_note_over_the_limit_is_a_400_naming_note(client, keys) -> None:
    """The CLI's limit, the store column's: refused, never cut (it was cut at 255 before)."""
    admin = auth(keys["admin"])
    entry = {"kind": "device_id", "value": "d-1"}
    long = client.post("/v1/lists/block", json={**entry, "note": "n" * (NOTE_MAX + 1)}, headers=admin)
    assert long.status_code == 400
    assert [d["pointer"] for d in long.get_json()["error"]["details"]] == ["/note"]
    assert client.get("/v1/lists", headers=admin).get_json()["entries"] == []
    full = client.post("/v1/lists/block", json={**entry, "note": "n" * NOTE_MAX}, headers=admin)
    assert full.status_code == 201 and full.get_json()["note"] == "n" * NOTE_MAX


def test_list_values_that_can_never_match_and_card_numbers_are_400s(client, keys) -> None:
    admin = auth(keys["admin"])
    for kind, value in (("email_hash", "a" * 32), ("bin", "４１１１１１")):
        bad = client.post("/v1/lists/block", json={"kind": kind, "value": value}, headers=admin)
        assert bad.status_code == 400
        assert bad.get_json()["error"]["details"][0]["pointer"] == "/value"
    removed = client.delete(f"/v1/lists/block?kind=account_id&value={CARD}", headers=admin)
    assert removed.status_code == 400
    assert removed.get_json()["error"]["code"] == "card_number_refused"
    assert CARD not in removed.get_data(as_text=True)


@pytest.mark.parametrize(("body", "pointers"), [
    ({"paht": "default"}, ["/paht"]),
    ({"path": "default", "force": True}, ["/force"]),
    ({"a/b": 1}, ["/a~1b"]),
])
def test_reload_with_an_unknown_key_is_refused(
    client, keys, body: dict[str, Any], pointers: list[str]
) -> None:
    """A typo of "path" must not silently reload the configured bundle."""
    before = client.application.extensions["fraudscreen"].parts.model
    response = client.post("/v1/admin/model/reload", json=body, headers=auth(keys["admin"]))
    assert response.status_code == 400
    assert [d["pointer"] for d in response.get_json()["error"]["details"]] == pointers
    assert client.application.extensions["fraudscreen"].parts.model is before  # nothing reloaded


def test_a_failed_reload_says_what_stays_in_use(tmp_path: Path, store_url: str) -> None:
    shipped = Path(__file__).resolve().parents[1] / "models" / "default" / "model.joblib"
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(shipped, folder / "model.joblib")
    (folder / "broken.joblib").write_bytes(b"not a bundle")
    for model_path, expected in ((folder / "model.joblib", "stays in use"),
                                 (folder / "missing.joblib", "no model is loaded")):
        client = create_app(make_settings(tmp_path, store_url, model_path=model_path)).test_client()
        screener = client.application.extensions["fraudscreen"]
        key = screener.sql_store.create_api_key(f"k-{model_path.stem}", ["admin"])[1]
        before = screener.parts.model
        response = client.post("/v1/admin/model/reload",
                               json={"path": str(folder / "broken.joblib")}, headers=auth(key))
        assert response.status_code == 400
        message = response.get_json()["error"]["message"]
        assert expected in message and ("stays in use" in message) == (before is not None)
        if before is not None:
            assert before.version in message and screener.parts.model is before
        screener.store.close()


def test_private_ip_is_a_warning(client, keys) -> None:
    body = order_body()
    body["device"]["ip_address"] = "10.1.2.3"
    data = score(client, keys["score"], body).get_json()
    assert data["ip_location"]["country"] is None
    assert "ip_private" in {w["code"] for w in data["warnings"]}


@pytest.mark.parametrize(("currency", "warned"), [("CLP", True), ("BGN", False), ("eur", False)])
def test_a_currency_without_a_rate_is_a_warning_naming_it(client, keys, currency: str, warned: bool) -> None:
    """An ISO 4217 currency the rate table lacks (Chilean pesos) is accepted, and the answer says
    its amount counted as unknown; BGN, withdrawn in 2026, is still read with its rate."""
    body = order_body(order__amount=9000.0, order__currency=currency)
    data = score(client, keys["score"], body).get_json()
    found = [w for w in data["warnings"] if w["code"] == "currency_not_converted"]
    assert [w["input_pointer"] for w in found] == (["/order/currency"] if warned else [])


@pytest.mark.parametrize(("created_at", "warned"), [("2026-11-20T10:00:01Z", True), ("2026-11-20T10:00:00Z", False)])
def test_an_account_created_after_its_order_is_a_warning(client, keys, created_at: str, warned: bool) -> None:
    """Its age counts as 0, which makes the order look like a new account's: the answer says why."""
    body = order_body(event__time="2026-11-20T10:00:00Z", account__created_at=created_at)
    data = score(client, keys["score"], body).get_json()
    found = [w["input_pointer"] for w in data["warnings"] if w["code"] == "account_created_after_order"]
    assert found == (["/account/created_at"] if warned else [])
    assert data["profile"]["account_age_days"] == 0


def test_missing_model_answers_review_and_readyz_says_why(tmp_path: Path, store_url: str) -> None:
    settings = make_settings(tmp_path, store_url, model_path=tmp_path / "nope.joblib")
    client = create_app(settings).test_client()
    key = client.application.extensions["fraudscreen"].sql_store.create_api_key("k", ["score"])[1]
    data = score(client, key, order_body()).get_json()
    assert data["decision"] == "review" and data["risk_score"] is None
    assert "model_unavailable" in {w["code"] for w in data["warnings"]}
    assert "MODEL_UNAVAILABLE" in {r["code"] for r in data["reasons"]}
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "model" in ready.get_json()["problems"]
    # /readyz answers without a key: the file's name, not the folders it is in
    assert "nope.joblib" in ready.get_json()["problems"]["model"]
    assert str(tmp_path) not in ready.get_data(as_text=True)


def test_missing_geoip_database_answers_review(tmp_path: Path, store_url: str) -> None:
    settings = make_settings(tmp_path, store_url, geoip_city_path=str(tmp_path / "none.mmdb"))
    client = create_app(settings).test_client()
    key = client.application.extensions["fraudscreen"].sql_store.create_api_key("k", ["score"])[1]
    data = score(client, key, order_body()).get_json()
    assert data["decision"] in ("review", "reject")
    assert "geoip_unavailable" in {w["code"] for w in data["warnings"]}
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "none.mmdb" in ready.get_json()["problems"]["geoip"]
    assert str(tmp_path) not in ready.get_data(as_text=True)
    spaced = tmp_path / "secret dir" / "acme corp" / "anon.mmdb"  # folders with spaces
    settings = settings.with_overrides(geoip_anonymous_ip_path=str(spaced))
    ready = create_app(settings).test_client().get("/readyz")
    assert "anon.mmdb" in ready.get_json()["problems"]["geoip"]
    assert "acme" not in ready.get_data(as_text=True) and "secret" not in ready.get_data(as_text=True)
    ok = client.application.extensions["fraudscreen"].readiness  # a database that opened: its name
    assert all("/" not in db.get("file", "") for db in ok()["geoip"].values())


@pytest.mark.parametrize("store_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_readyz_answers_in_time_when_the_database_freezes(tmp_path: Path, store_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A PostgreSQL server that stops answering (its backends stopped, the connections open)
    held /readyz until it woke up; now the probe says "not ready" after PING_SECONDS, and a
    second probe waits for the same stuck query instead of starting another. The stuck ping's
    connection is cut at the request deadline; the next probe opens a new one, which answers."""
    import threading
    import time

    from fraudscreen.store.base import PING_SECONDS

    monkeypatch.setattr("fraudscreen.store.deadline.TRANSACTION_DEADLINE_SECONDS", 3 * PING_SECONDS)
    name = "fraudscreen-frozen-ping"
    client = create_app(make_settings(tmp_path, named_connections(store_url, name))).test_client()
    assert client.get("/readyz").status_code == 200
    pids = backend_pids(store_url, name)
    assert pids
    with stopped(pids):
        first = time.monotonic()
        for _ in range(2):
            started = time.monotonic()
            ready = client.get("/readyz")
            assert time.monotonic() - started < PING_SECONDS + 2
            assert ready.status_code == 503
            assert ready.get_json()["problems"]["store"] == "the database does not answer"
        assert sum(t.name == "fraudscreen-db-ping" for t in threading.enumerate()) == 1
        while any(t.name == "fraudscreen-db-ping" for t in threading.enumerate()):
            assert time.monotonic() - first < 3 * PING_SECONDS + 2, "the stuck ping was never cut"
            time.sleep(0.1)
        assert client.get("/readyz").status_code == 200  # a new connection, while those stay stopped
    deadline = time.monotonic() + 20
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the store never became ready again"
        time.sleep(0.2)
    client.application.extensions["fraudscreen"].store.close()


def test_health_metrics_and_openapi(client, keys) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    score(client, keys["score"], order_body())
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "fraudscreen_decisions_total" in metrics
    spec = client.get("/openapi.json").get_json()
    assert "/v1/score" in spec["paths"] and "OrderRequest" in spec["components"]["schemas"]
    assert client.get("/nope").get_json()["error"]["code"] == "not_found"
    assert json.loads(client.get("/nope").get_data())["error"]["message"]


def _decisions_counted(client: FlaskClient) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").get_data(as_text=True)
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "fraudscreen_decisions_total")


def test_a_replayed_answer_is_not_counted_as_a_decision(client, keys) -> None:
    before = _decisions_counted(client)
    body = order_body(event__transaction_id="counted-once")
    assert score(client, keys["score"], body).status_code == 200
    again = score(client, keys["score"], body)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert _decisions_counted(client) == before + 1


def test_threshold_overrides_that_do_not_fit_degrade_to_review(tmp_path: Path, store_url: str) -> None:
    settings = make_settings(tmp_path, store_url, review_threshold="0.9", reject_threshold="0.5")
    client = create_app(settings).test_client()
    key = client.application.extensions["fraudscreen"].sql_store.create_api_key("k", ["score"])[1]
    response = score(client, key, order_body())
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["decision"] in ("review", "reject")
    assert answer["risk_score"] is None  # as without a model: no score the thresholds cannot use
    assert "MODEL_UNAVAILABLE" in [r["code"] for r in answer["reasons"]]
    ready = client.get("/readyz").get_json()
    assert "model" in ready["problems"]
    assert ready["model_version"] is None and answer["model_version"] is None  # none is in use


def test_threshold_overrides_apply(tmp_path: Path, store_url: str) -> None:
    settings = make_settings(tmp_path, store_url, review_threshold="0.0", reject_threshold="1.0")
    client = create_app(settings).test_client()
    key = client.application.extensions["fraudscreen"].sql_store.create_api_key("k", ["score"])[1]
    body = order_body()
    body["device"]["ip_address"] = "216.160.83.56"  # not anonymous in the test database
    body["billing"].update(country="US", city="Milton")
    body["credit_card"]["country"] = "US"
    data = score(client, key, body).get_json()
    assert data["decision"] == "review"  # review at p >= 0, never reject on the score alone
    assert data["disposition"] in ("model", "rule")


def test_a_list_note_naming_an_email_is_a_400_and_nothing_is_stored(client, keys, settings) -> None:
    admin = auth(keys["admin"])
    for note in ("owner: jane.doe@example.org", "ring of ЮЛИЯ@пример.рф accounts"):
        bad = client.post("/v1/lists/block", json={"kind": "device_id", "value": "d-2", "note": note},
                          headers=admin)
        assert bad.status_code == 400
        error = bad.get_json()["error"]
        assert [d["pointer"] for d in error["details"]] == ["/note"] and "@" not in str(error)
    assert client.get("/v1/lists", headers=admin).get_json()["entries"] == []
    ok = client.post("/v1/lists/block", json={"kind": "device_id", "value": "d-2",
                                              "note": "seen on 2026-11-20 @ 10:00"}, headers=admin)
    assert ok.status_code == 201


def test_a_disposable_domain_sent_without_the_address_is_reviewed(client, keys) -> None:
    """A checkout keeping to minimum data sends the e-mail's domain alone: the disposable-mail
    rule fired only on a full address (``email.present``)."""
    body = order_body(event__transaction_id="tx-domain-only")
    body["email"] = {"domain": "mailinator.com"}
    answer = score(client, keys["score"], body).get_json()
    assert "DISPOSABLE_EMAIL" in {r["code"] for r in answer["reasons"]}
    assert answer["decision"] in ("review", "reject")
