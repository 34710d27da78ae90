"""Erasure end to end: score, read, erase, then find the account's data nowhere (DB, WAL, logs)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fraudscreen.api import create_app
from fraudscreen.config import Settings
from fraudscreen.enrich import email_hash, normalise_email
from fraudscreen.enrich.card import find_card_numbers
from fraudscreen.installation import load_or_create_secrets
from fraudscreen.logs import log_files, reset_logging
from fraudscreen.store.tables import metadata

from helpers import auth, make_settings, order_body

ACCOUNT = "acct-erase-q7x"
EMAIL = "Erase.Me+shop@Example.org"
IP = "89.160.20.112"
DEVICE = "dev-erase-7c1d9e40"
BIN, LAST4, TOKEN = "545454", "9876", "tok-erase-55aa31"
OTHER = {"account": "acct-stays-k2", "email": "stays@example.net", "ip": "81.2.69.160",
         "device": "dev-stays-0b2f"}


def account_orders() -> list[dict[str, Any]]:
    with_token = order_body(
        event__transaction_id="tx-erase-1", event__time="2026-11-20T10:00:00Z",
        account__user_id=ACCOUNT, email__address=EMAIL, device__ip_address=IP, device__id=DEVICE,
        credit_card__issuer_id_number=BIN, credit_card__last_digits=LAST4, credit_card__token=TOKEN,
    )
    without_token = order_body(
        event__transaction_id="tx-erase-2", event__time="2026-11-20T11:00:00Z",
        account__user_id=ACCOUNT, email__address=EMAIL, device__ip_address=IP, device__id=DEVICE,
        credit_card__issuer_id_number=BIN, credit_card__last_digits=LAST4,
    )
    return [with_token, without_token]


def other_order() -> dict[str, Any]:
    return order_body(
        event__transaction_id="tx-stays-1", event__time="2026-11-20T12:00:00Z",
        account__user_id=OTHER["account"], email__address=OTHER["email"],
        device__ip_address=OTHER["ip"], device__id=OTHER["device"],
    )


def table_text(url: str) -> str:
    """Every row of every table as text (PostgreSQL: the row cast to text)."""
    engine = sa.create_engine(url)
    parts: list[str] = []
    try:
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                if conn.dialect.name == "postgresql":
                    rows = conn.exec_driver_sql(f"SELECT t::text FROM {table.name} t").scalars()
                    parts.extend(rows)
                else:
                    parts.extend(repr(tuple(r)) for r in conn.execute(sa.select(table)))
    finally:
        engine.dispose()
    return "\n".join(parts)


def raw_files(settings: Settings) -> bytes:
    """The SQLite database file and its -wal/-shm, byte for byte (empty on PostgreSQL)."""
    if not settings.resolved_database_url.startswith("sqlite"):
        return b""
    return b"".join(p.read_bytes() for p in sorted(settings.data_dir.glob("fraudscreen.db*")))


def log_bytes(settings: Settings) -> bytes:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return b"".join(p.read_bytes() for p in log_files(settings.resolved_log_dir))


def test_erased_account_is_found_nowhere(client, keys, settings) -> None:
    for body in [*account_orders(), other_order()]:
        response = client.post("/v1/score", json=body, headers=auth(keys["score"]))
        assert response.status_code == 200, response.get_json()
    answers = [client.get(f"/v1/orders/{tx}", headers=auth(keys["score"])).get_json()
               for tx in ("tx-erase-1", "tx-erase-2")]
    order_ids = [a["id"] for a in answers]
    assert client.get(f"/v1/accounts/{ACCOUNT}/profile", headers=auth(keys["score"])).status_code == 200
    outcome = client.post(f"/v1/orders/{order_ids[0]}/outcome", json={"outcome": "fraud"},
                          headers=auth(keys["outcomes"]))
    assert outcome.status_code == 200
    admin = auth(keys["admin"])
    assert client.post("/v1/lists/review", json={"kind": "device_id", "value": DEVICE},
                       headers=admin).status_code == 201
    export = client.get(f"/v1/accounts/{ACCOUNT}/export", headers=admin)
    assert export.status_code == 200
    assert {o["device_id"] for o in export.get_json()["orders"]} == {DEVICE}
    logging.getLogger("fraudscreen.test").warning("slow lookup for device %s from %s", DEVICE, IP)

    secret = load_or_create_secrets(settings.data_dir).email_hmac_key
    hashed = email_hash(normalise_email(EMAIL), secret)
    needles = [EMAIL, EMAIL.lower(), normalise_email(EMAIL), hashed, IP, DEVICE, TOKEN,
               f"bin:{BIN}:{LAST4}", f"tok:{TOKEN}", ACCOUNT, "tx-erase-1", "tx-erase-2", *order_ids]
    before_db, before_logs = table_text(settings.resolved_database_url), log_bytes(settings)
    for needle in (hashed, IP, DEVICE, TOKEN, f"bin:{BIN}:{LAST4}", *order_ids):
        assert needle in before_db, f"the test setup did not store {needle}"
    assert all(i.encode() in before_logs for i in order_ids) and DEVICE.encode() in before_logs

    assert client.delete(f"/v1/accounts/{ACCOUNT}", headers=auth(keys["score"])).status_code == 403
    erased = client.delete(f"/v1/accounts/{ACCOUNT}", headers=admin)
    assert erased.status_code == 200
    report = erased.get_json()
    assert report["held"] is True
    removed = report["removed"]
    assert (removed["accounts"], removed["orders"], removed["outcomes"]) == (1, 2, 1)
    assert removed["entity_links"] == 10 and removed["list_entries"] == 1
    assert removed["audit_entries_anonymised"] >= 5  # 2 reads, profile, list add, export
    assert removed["log_lines"] >= 4 and removed["log_files"] == 1
    assert not any("block list" in k["what"] for k in report["kept"])

    db_text, db_raw, logs = table_text(settings.resolved_database_url), raw_files(settings), log_bytes(settings)
    for needle in needles:
        assert needle not in db_text, f"{needle} is still in a table"
        assert needle.encode() not in db_raw, f"{needle} is still in the database file"
        assert needle.encode() not in logs, f"{needle} is still in a log file"
    assert OTHER["device"] in db_text and OTHER["ip"] in db_text  # the other account is intact

    again = client.delete(f"/v1/accounts/{ACCOUNT}", headers=admin).get_json()
    assert not any(again["removed"].values()) and again["erasure_id"] != report["erasure_id"]
    assert again["held"] is False  # a repeat, or a mistyped id (`cust-9/`): said, not hidden
    assert client.get("/v1/orders/tx-erase-1", headers=auth(keys["score"])).status_code == 404
    assert client.get(f"/v1/accounts/{ACCOUNT}/export", headers=admin).status_code == 404

    fresh = client.post("/v1/score", json=account_orders()[0], headers=auth(keys["score"])).get_json()
    assert fresh["profile"]["prior_orders"] == 0
    assert fresh["profile"]["device_accounts_ever"] == 0


@pytest.mark.parametrize("outcome", ["fraud", "chargeback", "refund", "not_fraud"])
def test_keeping_confirmed_fraud_hashes_is_explicit_and_reported(
    tmp_path: Path, store_url: str, outcome: str
) -> None:
    """Only a confirmed fraud keeps its email hash: a chargeback may be friendly fraud or a
    dispute, and a refund or not_fraud says nothing against the buyer."""
    settings = make_settings(tmp_path, store_url, erasure_keep_fraud_hashes="true")
    app = create_app(settings)
    try:
        client = app.test_client()
        store = app.extensions["fraudscreen"].store
        score_key = store.create_api_key("s", ["score", "outcomes"])[1]
        admin_key = store.create_api_key("a", ["admin"])[1]
        first = client.post("/v1/score", json=account_orders()[0], headers=auth(score_key)).get_json()
        client.post(f"/v1/orders/{first['id']}/outcome", json={"outcome": outcome}, headers=auth(score_key))
        report = client.delete(f"/v1/accounts/{ACCOUNT}", headers=auth(admin_key)).get_json()
        assert report["removed"]["orders"] == 1
        if outcome != "fraud":
            assert store.list_entries() == [] and not any("block list" in k["what"] for k in report["kept"])
            after = client.post("/v1/score", json=account_orders()[1], headers=auth(score_key)).get_json()
            assert "BLOCKLISTED" not in {r["code"] for r in after["reasons"]}
            return
        assert any("block list" in k["what"] and "KEEP_FRAUD_HASHES" in k["why"] for k in report["kept"])
        hashed = email_hash(normalise_email(EMAIL), load_or_create_secrets(settings.data_dir).email_hmac_key)
        assert [(r.list_name, r.kind, r.value) for r in store.list_entries()] == [("block", "email_hash", hashed)]
        assert DEVICE not in table_text(store_url) and IP not in table_text(store_url)
        # The kept hash works: the same email is rejected by the block list on the next order.
        again = client.post("/v1/score", json=account_orders()[1], headers=auth(score_key)).get_json()
        assert again["decision"] == "reject" and "BLOCKLISTED" in {r["code"] for r in again["reasons"]}
    finally:
        reset_logging()
        app.extensions["fraudscreen"].store.close()


def test_erasure_keeps_list_entries_other_accounts_share_and_clears_notes(client, keys, settings) -> None:
    """A block on an IP a ring shares survives one member's erasure; what only it used goes."""
    score, admin = auth(keys["score"]), auth(keys["admin"])
    mine = account_orders()[0]
    ring_mate = order_body(  # another account on the same IP, with its own device
        event__transaction_id="tx-ring-1", event__time="2026-11-20T13:00:00Z",
        account__user_id="acct-ring-mate", email__address="mate@example.net",
        device__ip_address=IP, device__id="dev-ring-mate",
    )
    for body in (mine, ring_mate):
        assert client.post("/v1/score", json=body, headers=score).status_code == 200
    for kind, value, note in (
        ("ip", IP, f"ring seen on {ACCOUNT} and acct-ring-mate"),  # shared: kept, note cleared
        ("device_id", DEVICE, "only this buyer"),  # only the erased account's: removed
        ("account_id", "acct-ring-mate", f"linked to {ACCOUNT}."),  # kept, note cleared
        ("ip", "81.2.69.192", f"{ACCOUNT}7 is someone else"),  # a longer id: untouched
        ("account_id", f"{ACCOUNT}7", "another buyer"),  # its audit entry too
    ):
        created = client.post("/v1/lists/block", json={"kind": kind, "value": value, "note": note},
                              headers=admin)
        assert created.status_code == 201, created.get_json()

    exported = client.get(f"/v1/accounts/{ACCOUNT}/export", headers=admin).get_json()
    assert len(exported["list_entries"]) == 3  # its IP, its device, and the note naming it
    # the notes name other buyers too ("ring seen on … and acct-ring-mate"): never exported
    assert {e["note"] for e in exported["list_entries"]} == {"[withheld: staff notes may name other people]"}
    assert "acct-ring-mate" not in json.dumps(exported["list_entries"])

    report = client.delete(f"/v1/accounts/{ACCOUNT}", headers=admin).get_json()
    assert report["removed"]["list_entries"] == 1 and report["removed"]["list_notes_cleared"] == 2
    assert any(k["what"].startswith("1 list entry for IP addresses") for k in report["kept"])

    entries = {(e["kind"], e["value"]): e["note"]
               for e in client.get("/v1/lists?list=block", headers=admin).get_json()["entries"]}
    assert entries == {("ip", IP): "[erased]", ("account_id", "acct-ring-mate"): "[erased]",
                       ("ip", "81.2.69.192"): f"{ACCOUNT}7 is someone else",
                       ("account_id", f"{ACCOUNT}7"): "another buyer"}
    assert ACCOUNT not in table_text(settings.resolved_database_url).replace(f"{ACCOUNT}7", "")
    assert DEVICE not in table_text(settings.resolved_database_url)
    # The kept block still works, and its audit entry still says who added which IP.
    again = client.post("/v1/score", json=order_body(
        event__transaction_id="tx-ring-2", account__user_id="acct-new", device__ip_address=IP,
    ), headers=score).get_json()
    assert again["decision"] == "reject"
    engine = sa.create_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            audit = conn.execute(sa.text(
                "SELECT target, details FROM audit_log WHERE action = 'list.add' ORDER BY id")).all()
    finally:
        engine.dispose()
    values = [d if isinstance(d, dict) else json.loads(d) for _t, d in audit]
    assert [v.get("value") for v in values] == [IP, None, "acct-ring-mate", "81.2.69.192", f"{ACCOUNT}7"]


def test_an_account_with_a_thousand_identifiers_is_exported_and_erased(client, keys, settings) -> None:
    """250 orders, each with its own IP, device, card token and email: over 1,500 values. One
    condition over all of them is too long for SQLite ("Expression tree is too large"), so the
    lookups run in chunks; the result must be the same on both backends."""
    screener, admin = client.application.extensions["fraudscreen"], auth(keys["admin"])
    n = 250
    ips, devices = [f"10.77.{i // 100}.{100 + i % 100}" for i in range(n)], [f"dev-big-{i:03d}" for i in range(n)]
    for i in range(n):
        screener.screen(order_body(
            event__transaction_id=f"tx-big-{i:03d}", account__user_id="acct-big", device__ip_address=ips[i],
            device__id=devices[i], credit_card__token=f"tok-big-{i:03d}", email__address=f"big{i:03d}@example.org",
            event__time=f"2026-11-20T{10 + i // 60:02d}:{i % 60:02d}:00Z",
        ))
    shared_ip = ips[-1]  # in the last chunk: another account's order carries it too
    screener.screen(order_body(event__transaction_id="tx-big-other", account__user_id="acct-other",
                               device__ip_address=shared_ip, device__id="dev-other"))
    store = screener.store
    for device in devices:  # 250 list entries and their 250 audit entries name the account
        store.add_list_entry("block", "device_id", device, actor="test")
    store.add_list_entry("block", "ip", shared_ip, note=f"ring, last seen on {devices[-1]}", actor="test")
    store.add_list_entry("review", "country", "GB", note=f"see tx-big-{n - 1:03d}", actor="test")

    export = client.get("/v1/accounts/acct-big/export", headers=admin)
    assert export.status_code == 200, export.get_json()
    data = export.get_json()
    assert len(data["orders"]) == n and len(data["list_entries"]) == n + 2
    assert len([a for a in data["audit_entries"] if a["action"] == "list.add"]) == n + 1

    erased = client.delete("/v1/accounts/acct-big", headers=admin)
    assert erased.status_code == 200, erased.get_json()
    removed = erased.get_json()["removed"]
    assert (removed["orders"], removed["list_entries"], removed["list_notes_cleared"]) == (n, n, 2)
    assert removed["audit_entries_anonymised"] >= n + 1  # the device list.adds, the export

    secret = load_or_create_secrets(settings.data_dir).email_hmac_key
    text = table_text(settings.resolved_database_url)
    for i in range(n):
        for needle in (devices[i], f"tok-big-{i:03d}", f"tx-big-{i:03d}",
                       email_hash(normalise_email(f"big{i:03d}@example.org"), secret)):
            assert needle not in text, f"{needle} is still in a table"
        assert ips[i] not in text or ips[i] == shared_ip
    assert "acct-big" not in text
    assert [(e.kind, e.value, e.note) for e in store.list_entries()] == [
        ("ip", shared_ip, "[erased]"), ("country", "GB", "[erased]")]


def test_notes_naming_a_hash_or_ipv6_address_in_upper_case_are_cleared(client, keys, settings) -> None:
    """Staff paste hashes and IPv6 addresses as they come, often in upper case."""
    secret = load_or_create_secrets(settings.data_dir).email_hmac_key
    # The hash depends on this run's secret. Some hex digests hold a Luhn-valid run of 12 or more
    # digits, and a note holding one is refused as a card number (right, but not this test's
    # subject): take the first address whose hash holds none.
    email = next(e for e in (f"upper.case{i}@example.org" for i in range(50))
                 if not find_card_numbers(email_hash(normalise_email(e), secret).upper()))
    ipv6 = "2001:db8:abcd::1f"
    order = order_body(event__transaction_id="tx-uc-1", account__user_id="acct-uc", email__address=email,
                       device__ip_address=ipv6, device__id="dev-uc-1")
    assert client.post("/v1/score", json=order, headers=auth(keys["score"])).status_code == 200
    hashed = email_hash(normalise_email(email), secret)
    cleared, notes = _erase_under_country_notes(client, keys, "acct-uc", {
        "GB": f"chargeback wave, hash {hashed.upper()}", "FR": f"from {ipv6.upper()}",
        "DE": "ACCT-UC-2 is someone else"})
    assert cleared == 2
    assert notes == {"GB": "[erased]", "FR": "[erased]", "DE": "ACCT-UC-2 is someone else"}


def test_matching_follows_the_letters_case_on_sqlite_as_on_postgresql(client, keys, settings) -> None:
    """SQLite's LIKE folds ASCII letters only: a note naming ÉMILE-0D28 stayed after account
    émile-0d28 was erased, and the audit entry of another buyer's device DEV-CASE-X was
    anonymised (and exported) with the account whose device is dev-case-x."""
    admin = auth(keys["admin"])
    order = order_body(event__transaction_id="tx-case-1", account__user_id="émile-0d28",
                       device__id="dev-case-x")
    assert client.post("/v1/score", json=order, headers=auth(keys["score"])).status_code == 200
    other = client.post("/v1/lists/review", json={"kind": "device_id", "value": "DEV-CASE-X"},
                        headers=admin)
    assert other.status_code == 201
    export = client.get("/v1/accounts/émile-0d28/export", headers=admin).get_json()
    assert "DEV-CASE-X" not in json.dumps(export)
    cleared, notes = _erase_under_country_notes(client, keys, "émile-0d28", {
        "GB": "ring with ÉMILE-0D28", "FR": "ÉMILE-0D2 is someone else"})
    assert cleared == 1 and notes["GB"] == "[erased]" and notes["FR"] == "ÉMILE-0D2 is someone else"
    assert "DEV-CASE-X" in notes  # another buyer's device: not this account's dev-case-x
    with sa.create_engine(settings.resolved_database_url).connect() as conn:
        details = conn.execute(sa.text("SELECT details FROM audit_log WHERE action = 'list.add' "
                                       "AND target = 'review/device_id'")).scalar_one()
    assert "DEV-CASE-X" in str(details)  # another buyer's entry keeps its details


def _erase_under_country_notes(client, keys, account: str, notes: dict[str, str]) -> tuple[int, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Review-list one country per note, erase ``account``: the notes it cleared, and every
    country's note afterwards."""
    admin = auth(keys["admin"])
    for country, note in notes.items():
        r = client.post("/v1/lists/review", json={"kind": "country", "value": country, "note": note},
                        headers=admin)
        assert r.status_code == 201, r.get_json()
    report = client.delete(f"/v1/accounts/{account}", headers=admin).get_json()
    after = {e["value"]: e["note"] for e in client.get("/v1/lists", headers=admin).get_json()["entries"]}
    return report["removed"]["list_notes_cleared"], after


def test_notes_naming_a_raw_card_token_or_another_ip_spelling_are_cleared(client, keys) -> None:
    """The store keeps ``tok:<token>`` and one spelling of each IP; staff paste the token as the
    payment provider shows it and addresses as their tools print them."""
    for tx, account, ip, token in (("tx-sp-1", "acct-sp", "2001:db8::abcd", "tok_visa_e77"),
                                   ("tx-sp-2", "acct-sp", "81.2.69.160", "tok_visa_e78")):
        body = order_body(event__transaction_id=tx, account__user_id=account, device__ip_address=ip,
                          credit_card__token=token)
        assert client.post("/v1/score", json=body, headers=auth(keys["score"])).status_code == 200
    cleared, notes = _erase_under_country_notes(client, keys, "acct-sp", {
        "GB": "card tok_visa_e77 in a ring", "FR": "from 2001:0DB8:0000:0000:0000:0000:0000:ABCD",
        "DE": "seen as ::ffff:81.2.69.160", "NL": "tok_visa_e779 is someone else's"})
    assert cleared == 3
    assert notes == {"GB": "[erased]", "FR": "[erased]", "DE": "[erased]",
                     "NL": "tok_visa_e779 is someone else's"}


def test_an_order_without_account_does_not_keep_a_list_entry(client, keys) -> None:
    """A guest order (no account id) on the erased buyer's device is not another account's:
    it may be the buyer's own, so the block on the device goes with the account."""
    score, admin = auth(keys["score"]), auth(keys["admin"])
    for tx, account in (("tx-g-1", "acct-guest"), ("tx-g-2", None)):
        body = order_body(event__transaction_id=tx, account__user_id=account,
                          device__ip_address="81.2.69.163", device__id="dev-guest-1")
        assert client.post("/v1/score", json=body, headers=score).status_code == 200
    assert client.post("/v1/lists/block", json={"kind": "device_id", "value": "dev-guest-1"},
                       headers=admin).status_code == 201
    report = client.delete("/v1/accounts/acct-guest", headers=admin).get_json()
    assert report["removed"]["list_entries"] == 1, report
    assert not any("other accounts" in k["what"] for k in report["kept"])
    assert client.get("/v1/lists", headers=admin).get_json()["entries"] == []


def test_guest_orders_with_the_account_s_email_are_exported_and_lose_the_hash(
    client, keys, settings
) -> None:
    """A guest checkout (no account id) with the account's email address is that mailbox's:
    it was neither exported nor erased, and kept the email hash."""
    score, admin = auth(keys["score"]), auth(keys["admin"])
    secret = load_or_create_secrets(settings.data_dir).email_hmac_key
    orders = [("tx-m-1", "acct-mail", "mailer@example.org"), ("tx-m-2", None, "mailer@example.org"),
              ("tx-m-3", None, "someone.else@example.org"), ("tx-m-4", "acct-shared", "shared@example.org"),
              ("tx-m-5", "acct-other", "shared@example.org"), ("tx-m-6", None, "shared@example.org")]
    for tx, account, email in orders:
        body = order_body(event__transaction_id=tx, account__user_id=account, email__address=email)
        assert client.post("/v1/score", json=body, headers=score).status_code == 200
    mine, other, shared = (email_hash(normalise_email(e), secret) for e in
                           ("mailer@example.org", "someone.else@example.org", "shared@example.org"))
    exported = client.get("/v1/accounts/acct-mail/export", headers=admin).get_json()
    assert [o["transaction_id"] for o in exported["guest_orders"]] == ["tx-m-2"]
    assert client.get("/v1/accounts/acct-shared/export", headers=admin).get_json()["guest_orders"] == []

    report = client.delete("/v1/accounts/acct-mail", headers=admin).get_json()
    assert report["removed"]["guest_order_email_hashes"] == 1 and report["removed"]["orders"] == 1
    assert mine not in table_text(settings.resolved_database_url)
    assert client.get("/v1/orders/tx-m-2", headers=score).status_code == 200  # the order stays
    # an email another account's orders carry too is theirs as well: it stays, as list entries do
    client.delete("/v1/accounts/acct-shared", headers=admin)
    text = table_text(settings.resolved_database_url)
    assert other in text and shared in text
