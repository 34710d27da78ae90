"""Access to personal data: admin-only endpoints, every read audited, export contents, CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from fraudscreen.privacy.commands import erase as erase_command
from fraudscreen.privacy.commands import export as export_command
from fraudscreen.store import Store

from helpers import auth, order_body

EMAIL = "audit.me@example.org"
IP = "81.2.69.192"
DEVICE = "dev-audit-31f0"


def scored(client: FlaskClient, key: str) -> dict:
    body = order_body(account__user_id="acct-audit", email__address=EMAIL,
                      device__ip_address=IP, device__id=DEVICE)
    response = client.post("/v1/score", json=body, headers=auth(key))
    assert response.status_code == 200
    return response.get_json()


def audit_rows(store: Store) -> list[tuple[str, str, str, dict]]:
    import sqlalchemy as sa

    from fraudscreen.store.tables import audit_log

    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).all()
    return [(r.actor, r.action, r.target, r.details) for r in rows]


@pytest.mark.parametrize("method,path", [("delete", "/v1/accounts/acct-audit"),
                                         ("get", "/v1/accounts/acct-audit/export")])
def test_privacy_endpoints_are_admin_only(client, keys, method, path) -> None:
    scored(client, keys["score"])
    call = getattr(client, method)
    assert call(path).status_code == 401
    for scope in ("score", "outcomes"):
        denied = call(path, headers=auth(keys[scope]))
        assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "forbidden"
    assert call(path, headers=auth(keys["admin"])).status_code == 200


def test_every_read_of_personal_data_is_audited_without_personal_details(client, keys) -> None:
    store = client.application.extensions["fraudscreen"].store
    answer = scored(client, keys["score"])
    baseline = len(audit_rows(store))
    assert client.get(f"/v1/orders/{answer['order_id']}", headers=auth(keys["score"])).status_code == 200
    assert client.get("/v1/accounts/acct-audit/profile", headers=auth(keys["admin"])).status_code == 200
    assert client.get("/v1/accounts/acct-audit/export", headers=auth(keys["admin"])).status_code == 200
    assert client.get("/v1/orders/nope", headers=auth(keys["score"])).status_code == 404
    reads = audit_rows(store)[baseline:]
    assert [(a, act, t) for a, act, t, _ in reads] == [
        ("test-score", "order.read", answer["id"]),
        ("test-admin", "profile.read", "acct-audit"),
        ("test-admin", "account.export", "acct-audit"),
    ]
    erased = client.delete("/v1/accounts/acct-audit", headers=auth(keys["admin"])).get_json()
    rows = audit_rows(store)
    actor, action, target, details = rows[-1]
    assert (actor, action, target) == ("test-admin", "account.erase", erased["erasure_id"])
    assert details["removed"]["orders"] == 1
    text = json.dumps(rows)
    for personal in (EMAIL, IP, DEVICE, "acct-audit", answer["id"], answer["order_id"]):
        assert personal not in text
    assert [r[1] for r in rows[baseline:-1]] == ["order.read", "profile.read", "account.export"]
    assert {r[2] for r in rows[baseline:-1]} == {"[erased]"}


@pytest.mark.parametrize("method, path", [("get", "/v1/accounts/4111111111111111/export"),
                                          ("get", "/v1/accounts/4111 1111 1111 1111/profile"),
                                          ("delete", "/v1/accounts/4111-1111-1111-1111")])
def test_an_account_id_that_is_a_card_number_is_refused_and_not_audited(client, keys, method, path) -> None:
    """The score endpoint refuses such an id, so no account has one; the audit log would keep it."""
    store = client.application.extensions["fraudscreen"].store
    before = audit_rows(store)
    answer = getattr(client, method)(path, headers=auth(keys["admin"]))
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "card_number_refused"
    assert "4111" not in answer.get_data(as_text=True)
    assert audit_rows(store) == before


def test_export_holds_everything_and_no_raw_email(client, keys) -> None:
    answer = scored(client, keys["score"])
    client.post(f"/v1/orders/{answer['id']}/outcome", json={"outcome": "not_fraud"},
                headers=auth(keys["outcomes"]))
    data = client.get("/v1/accounts/acct-audit/export", headers=auth(keys["admin"])).get_json()
    assert data["account_id"] == "acct-audit" and data["account"]["order_count"] == 1
    [order] = data["orders"]
    assert (order["order_id"], order["ip"], order["device_id"]) == (answer["id"], IP, DEVICE)
    assert len(order["email_hash"]) == 64 and order["email_domain"] == "example.org"
    assert order["response"]["decision"] == answer["decision"]
    assert [o["outcome"] for o in data["outcomes"]] == ["not_fraud"]
    assert {link["kind"] for link in data["entity_links"]} == {"ip", "device", "email_domain", "email_hash", "card"}
    assert any("email" in line for line in data["not_held"])
    assert EMAIL not in json.dumps(data)
    missing = client.get("/v1/accounts/nobody/export", headers=auth(keys["admin"]))
    assert missing.status_code == 404


def test_cli_erase_and_export(client, keys, settings) -> None:
    scored(client, keys["score"])
    runner = CliRunner()
    exported = runner.invoke(export_command, ["acct-audit"], obj=settings)
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["orders"][0]["device_id"] == DEVICE
    aborted = runner.invoke(erase_command, ["acct-audit"], obj=settings, input="n\n")
    assert aborted.exit_code != 0
    assert runner.invoke(export_command, ["acct-audit"], obj=settings).exit_code == 0
    erased = runner.invoke(erase_command, ["acct-audit", "--yes"], obj=settings)
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.output)["removed"]["orders"] == 1
    again = runner.invoke(erase_command, ["acct-audit", "--yes"], obj=settings)
    assert not any(json.loads(again.stdout)["removed"].values())
    gone = runner.invoke(export_command, ["acct-audit"], obj=settings)
    assert gone.exit_code != 0 and "No data" in gone.output
