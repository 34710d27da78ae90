"""Erasure's log rewrite: it removes what names the account and nothing else, loses no line
written meanwhile, and finds values as JSON escapes them; ids with "/" can be erased by API."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from fraudscreen.config import Settings
from fraudscreen.log_rewrite import rewrite_log_files
from fraudscreen.logs import DailyFileHandler, JsonFormatter, log_files

from helpers import auth, order_body


def _log_lines(settings: Settings) -> list[bytes]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return b"".join(p.read_bytes() for p in log_files(settings.resolved_log_dir)).splitlines()


@pytest.mark.parametrize("account", ["200", "1", "INFO"])
def test_erasing_a_short_account_id_keeps_other_accounts_log_lines(
    client: FlaskClient, keys: dict[str, str], settings: Settings, account: str
) -> None:
    """Request lines hold "status": 200, "duration_ms": 1.2 and "level": "INFO": not ids."""
    client.post("/v1/score", json=order_body(event__transaction_id="t-erase", account__user_id=account),
                headers=auth(keys["score"]))
    for i in range(5):
        answer = client.post("/v1/score", json=order_body(event__transaction_id=f"t-other-{i}",
                                                          account__user_id=f"other-{i}"),
                             headers=auth(keys["score"]))
        assert answer.status_code == 200
    before = _log_lines(settings)
    report = client.delete(f"/v1/accounts/{account}", headers=auth(keys["admin"])).get_json()
    after = _log_lines(settings)
    assert report["removed"]["log_lines"] == 1, report["removed"]  # the erased order's line
    gone = [line for line in before if line not in after]
    assert len(gone) == 1 and b"t-erase" not in b"".join(after)


def test_erasure_removes_lines_naming_a_value_json_escapes(
    client: FlaskClient, keys: dict[str, str], settings: Settings
) -> None:
    device = 'dev"quote\\91'
    answer = client.post("/v1/score", json=order_body(account__user_id="acct-esc", device__id=device),
                         headers=auth(keys["score"]))
    assert answer.status_code == 200
    logging.getLogger("fraudscreen.test").warning("slow lookup for device %s", device)
    assert any(b"slow lookup" in line for line in _log_lines(settings))
    client.delete("/v1/accounts/acct-esc", headers=auth(keys["admin"]))
    assert not any(b"slow lookup" in line for line in _log_lines(settings))


def test_a_rewrite_loses_no_line_written_meanwhile(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    handler = DailyFileHandler(log_dir)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("fraudscreen.test.writer")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    for i in range(5000):
        logger.info("filler %s", "erase-me" if i % 2 else "keep")
    stop, written = threading.Event(), []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            logger.info("concurrent line %d", n)
            written.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        removed = sum(rewrite_log_files(log_dir, ["erase-me"])[1] for _ in range(5))
    finally:
        stop.set()
        thread.join()
        logger.removeHandler(handler)
        handler.close()
    text = b"".join(p.read_bytes() for p in log_files(log_dir)).decode()
    assert removed == 2500 and "erase-me" not in text
    lost = [n for n in written if f'"concurrent line {n}"' not in text]
    assert written and not lost, f"{len(lost)} of {len(written)} lines written meanwhile were lost"


def test_ids_with_a_slash_can_be_read_exported_and_erased(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    body = order_body(account__user_id="shop/42", event__transaction_id="tx/1")
    assert client.post("/v1/score", json=body, headers=auth(keys["score"])).status_code == 200
    admin, score = auth(keys["admin"]), auth(keys["score"])
    assert client.get("/v1/orders/tx%2F1", headers=score).status_code == 200
    assert client.get("/v1/accounts/shop%2F42/profile", headers=score).get_json()["account_id"] == "shop/42"
    assert client.get("/v1/accounts/shop%2F42/export", headers=admin).status_code == 200
    erased = client.delete("/v1/accounts/shop%2F42", headers=admin).get_json()
    assert erased["removed"]["orders"] == 1
    assert client.get("/v1/orders/tx%2F1", headers=score).status_code == 404


def test_a_leading_slash_addresses_its_own_account_never_another(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    """``/v1/accounts//lead`` is account "/lead": never a redirect to account "lead" (which a
    client following redirects would then have erased)."""
    admin, score = auth(keys["admin"]), auth(keys["score"])
    ids = {}
    for user in ("/lead", "lead"):
        body = order_body(account__user_id=user, event__transaction_id=f"{user}-tx")
        answer = client.post("/v1/score", json=body, headers=score)
        assert answer.status_code == 200
        ids[user] = answer.get_json()["id"]
    order = client.get("/v1/orders/%2Flead-tx", headers=score)
    assert order.status_code == 200 and order.get_json()["id"] == ids["/lead"]
    for path in ("/v1/accounts//lead/profile", "/v1/accounts/%2Flead/profile"):
        profile = client.get(path, headers=score)
        assert profile.status_code == 200 and profile.get_json()["account_id"] == "/lead"
    export = client.get("/v1/accounts/%2Flead/export", headers=admin)
    assert export.status_code == 200 and export.get_json()["account_id"] == "/lead"
    erased = client.delete("/v1/accounts/%2Flead", headers=admin)
    assert erased.status_code == 200, erased.get_data(as_text=True)
    assert erased.get_json()["account_id"] == "/lead" and erased.get_json()["removed"]["orders"] == 1
    assert client.get("/v1/orders/%2Flead-tx", headers=score).status_code == 404
    assert client.get("/v1/orders/lead-tx", headers=score).status_code == 200  # the other is intact
    assert client.get("/v1/accounts/lead/export", headers=admin).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v1/orders/a%0Ab", "must not contain control characters"),
        ("GET", "/v1/accounts/a%0Ab/profile", "must not contain control characters"),
        ("DELETE", "/v1/accounts/%ff", "must be UTF-8 text"),  # not account "\ufffd"
        ("GET", "/v1/accounts/a%C3%28/export", "must be UTF-8 text"),
        # longer than any account id: PostgreSQL refused the erasure's hold row (a 503)
        ("DELETE", "/v1/accounts/" + "é" * 129, "must be at most 128 characters"),
        ("GET", "/v1/accounts/" + "x" * 129 + "/profile", "must be at most 128 characters"),
    ],
)
def test_an_unreadable_path_id_is_a_400_naming_it(
    client: FlaskClient, keys: dict[str, str], method: str, path: str, message: str
) -> None:
    response = client.open(path, method=method, headers=auth(keys["admin"]))
    assert response.status_code == 400, response.get_data(as_text=True)
    detail = response.get_json()["error"]["details"][0]
    assert detail["pointer"] in ("/order_id", "/account_id") and detail["message"] == message


def test_path_ids_lose_surrounding_spaces_as_the_score_request_s_do(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    """An erasure of " acct-sp " erased nothing of account "acct-sp" and reported zeros."""
    body = order_body(account__user_id=" acct-sp ", event__transaction_id="tx-sp")
    assert client.post("/v1/score", json=body, headers=auth(keys["score"])).status_code == 200
    erased = client.delete("/v1/accounts/%20acct-sp%20", headers=auth(keys["admin"])).get_json()
    assert erased["account_id"] == "acct-sp" and erased["removed"]["orders"] == 1
    blank = client.delete("/v1/accounts/%20", headers=auth(keys["admin"]))
    assert blank.status_code == 400 and blank.get_json()["error"]["details"][0]["message"] == "must not be blank"
    longest = client.delete("/v1/accounts/" + "é" * 128, headers=auth(keys["admin"]))  # the limit
    assert longest.status_code == 200 and longest.get_json()["held"] is False


def test_a_replacement_character_sent_as_utf8_is_an_id_like_any_other(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    body = order_body(account__user_id="\ufffd", event__transaction_id="tx-fffd")
    assert client.post("/v1/score", json=body, headers=auth(keys["score"])).status_code == 200
    response = client.get("/v1/accounts/%EF%BF%BD/profile", headers=auth(keys["score"]))
    assert response.status_code == 200 and response.get_json()["account_id"] == "\ufffd"


def test_an_order_scored_during_an_erasure_commits_after_it(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the erasure holds the account row, so an order of the account scored while
    it runs commits after it (kept, with its log line) instead of being deleted unseen (its
    device left in the logs)."""
    import time

    from fraudscreen.logs import reset_logging, setup_logging
    from fraudscreen.privacy import erase_account
    from fraudscreen.screening import Screener
    from fraudscreen.store.erasure import ErasureMixin

    from helpers import make_settings

    settings = make_settings(tmp_path, store_url)
    setup_logging(settings)
    screener, other = Screener.from_settings(settings), Screener.from_settings(settings)
    try:
        screener.screen(order_body(event__transaction_id="tx-1", account__user_id="acct-race"))
        original = ErasureMixin._identifiers
        late_done = threading.Event()

        def late() -> None:
            other.screen(order_body(event__transaction_id="tx-late", account__user_id="acct-race",
                                    device__id="dev-late-77"))
            logging.getLogger("fraudscreen.test").warning("slow device dev-late-77")
            late_done.set()

        def racing(conn, account_id):  # type: ignore[no-untyped-def]
            result = original(conn, account_id)
            thread = threading.Thread(target=late)
            thread.start()
            thread.join(timeout=2)  # the late order waits for the erasure's lock
            return result

        monkeypatch.setattr(ErasureMixin, "_identifiers", staticmethod(racing))
        erase_account(screener.store, settings, "acct-race", actor="t")
        monkeypatch.setattr(ErasureMixin, "_identifiers", staticmethod(original))
        assert late_done.wait(timeout=10)
        time.sleep(0.2)
        # kept: it committed after the erasure (its log line may have gone with the second
        # rewrite, which looks again; before the fix PostgreSQL deleted the order unseen and
        # left "dev-late-77" in the logs)
        assert other.store.find_by_transaction("tx-late") is not None
        assert screener.store.find_by_transaction("tx-1") is None
    finally:
        reset_logging()
        screener.store.close()
        other.store.close()


def test_a_line_naming_a_known_order_logged_between_the_passes_is_removed(
    client: FlaskClient, keys: dict[str, str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An outcome report that committed before the erasure took its lock writes its request
    line when it answers, after the first pass: the second pass looks for every identifier."""
    from fraudscreen.privacy import erasure

    scored = client.post("/v1/score", json=order_body(event__transaction_id="t-between",
                                                      account__user_id="acct-between"),
                         headers=auth(keys["score"]))
    order_id = scored.get_json()["id"]
    rewrite, passes = erasure.rewrite_logs, []

    def first_pass_then_a_report(directory: Path, identifiers: Iterable[str]) -> tuple[frozenset[Path], int]:
        answer = rewrite(directory, identifiers)
        passes.append(answer)
        if len(passes) == 1:  # the report's request line lands between the two passes
            reported = client.post(f"/v1/orders/{order_id}/outcome", json={"outcome": "fraud"},
                                   headers=auth(keys["outcomes"]))
            assert reported.status_code == 200
            assert any(order_id.encode() in line and b"outcome" in line for line in _log_lines(settings))
        return answer

    monkeypatch.setattr(erasure, "rewrite_logs", first_pass_then_a_report)
    store = client.application.extensions["fraudscreen"].store
    report = erasure.erase_account(store, settings, "acct-between", actor="test")
    assert not any(order_id.encode() in line for line in _log_lines(settings))
    assert len(passes) == 2 and passes[1][1] >= 1, passes
    assert report.removed["outcomes"] == 1 and report.removed["log_lines"] == passes[0][1] + passes[1][1]
    assert passes[0][0] == passes[1][0] and report.removed["log_files"] == 1  # one file, counted once


@pytest.mark.parametrize("account", ["review", "accept", "POST", "request", "test-score"])
def test_erasing_an_unknown_account_named_like_a_service_word_keeps_every_line(
    client: FlaskClient, keys: dict[str, str], settings: Settings, account: str
) -> None:
    """``DELETE /v1/accounts/review`` removed the request lines whose decision was "review":
    a decision, a method, a constant message and an API key's name ("test-score") are the
    service's words, not identifiers."""
    score, admin = auth(keys["score"]), auth(keys["admin"])
    for list_name, ip in (("allow", "81.2.69.142"), ("review", "81.2.69.160")):
        assert client.post(f"/v1/lists/{list_name}", json={"kind": "ip", "value": ip},
                           headers=admin).status_code == 201
    for i, ip in enumerate(("81.2.69.142", "81.2.69.160")):  # accepted, then sent to review
        body = order_body(event__transaction_id=f"t-word-{i}", account__user_id=f"other-{i}",
                          device__ip_address=ip)
        assert client.post("/v1/score", json=body, headers=score).status_code == 200
    assert client.delete("/v1/accounts/some-one-else", headers=admin).status_code == 200
    before = _log_lines(settings)
    text = b"\n".join(before)
    for word in (b'"decision": "accept"', b'"decision": "review"', b'"method": "POST"',
                 b'"message": "request"', b'"api_key": "test-score"', b'"message": "account erased"'):
        assert word in text, word
    report = client.delete(f"/v1/accounts/{account}", headers=admin).get_json()
    assert report["removed"]["log_lines"] == 0 and report["removed"]["log_files"] == 0, report
    after = _log_lines(settings)
    assert after[:len(before)] == before


IP_SHARED, DEVICE_SHARED, DEVICE_OWN = "81.2.69.160", "dev-shared-1", "dev-own-1"


def test_erasure_keeps_log_lines_naming_only_values_other_accounts_share(
    client: FlaskClient, keys: dict[str, str], settings: Settings
) -> None:
    """As the database keeps an IP or device id that another account's orders carry (and the
    list and audit entries naming it), a log line naming only such a value stays; a line
    that names the erased account, its orders or a value only it used goes. A guest order
    is not another account's."""
    score, admin = auth(keys["score"]), auth(keys["admin"])
    orders = {}
    for tx, account, device in (("t-sh-1", "acct-leaving", DEVICE_OWN),
                                ("t-sh-2", "acct-staying", DEVICE_SHARED),
                                ("t-sh-3", "acct-leaving", DEVICE_SHARED),
                                ("t-sh-4", None, "dev-guest-1"), ("t-sh-5", "acct-leaving", "dev-guest-1")):
        body = order_body(event__transaction_id=tx, account__user_id=account,
                          device__ip_address=IP_SHARED, device__id=device)
        answer = client.post("/v1/score", json=body, headers=score)
        assert answer.status_code == 200
        orders[tx] = answer.get_json()["id"]
    log = logging.getLogger("fraudscreen.test.shared")
    log.warning("slow lookup for ip %s", IP_SHARED)  # shared: kept
    log.warning("slow lookup for device %s", DEVICE_SHARED)  # shared: kept
    log.warning("slow lookup for device %s", DEVICE_OWN)  # only the erased account's
    log.warning("slow lookup for device %s", "dev-guest-1")  # a guest's too: not another account's
    log.warning("order %s from device %s", orders["t-sh-3"], DEVICE_SHARED)  # names its order
    log.warning("account %s on ip %s", "acct-leaving", IP_SHARED)  # names the account

    report = client.delete("/v1/accounts/acct-leaving", headers=admin).get_json()
    text = b"\n".join(_log_lines(settings)).decode()
    assert f"slow lookup for ip {IP_SHARED}" in text
    assert f"slow lookup for device {DEVICE_SHARED}" in text
    for gone in (DEVICE_OWN, "dev-guest-1", orders["t-sh-1"], orders["t-sh-3"], orders["t-sh-5"],
                 "acct-leaving"):
        assert gone not in text, gone
    assert orders["t-sh-2"] in text and orders["t-sh-4"] in text  # the other orders' lines
    assert report["removed"]["log_lines"] == 3 + 4  # 3 request lines, 4 warnings

    # Once the last other account that carried them is erased, they are its own: they go.
    report = client.delete("/v1/accounts/acct-staying", headers=admin).get_json()
    text = b"\n".join(_log_lines(settings)).decode()
    assert IP_SHARED not in text and DEVICE_SHARED not in text and orders["t-sh-2"] not in text


def _stale_temporary(settings: Settings) -> Path:
    """What a rewrite killed half-way leaves: a copy of other accounts' lines under a name
    that :func:`log_files` does not match (and that no one holds open)."""
    stale = settings.resolved_log_dir / ".rewrite-k1ll3d"
    stale.write_bytes(b'{"message": "request", "order_id": "ord-of-another-account"}\n')
    return stale


def test_a_stale_rewrite_temporary_is_removed_by_the_next_erasure(
    client: FlaskClient, keys: dict[str, str], settings: Settings
) -> None:
    assert client.post("/v1/score", json=order_body(), headers=auth(keys["score"])).status_code == 200
    stale = _stale_temporary(settings)
    report = client.delete("/v1/accounts/nobody-at-all", headers=auth(keys["admin"])).get_json()
    assert not stale.exists() and report["removed"]["log_lines"] == 0
    assert [p.name for p in settings.resolved_log_dir.iterdir() if p.name.startswith(".rewrite-")] == []


def test_a_stale_rewrite_temporary_is_removed_by_the_purge(
    client: FlaskClient, keys: dict[str, str], settings: Settings
) -> None:
    from fraudscreen.privacy import purge

    assert client.post("/v1/score", json=order_body(), headers=auth(keys["score"])).status_code == 200
    stale = _stale_temporary(settings)
    report = purge(client.application.extensions["fraudscreen"].sql_store, settings)
    assert not stale.exists()
    assert report.counts["log_files"] == 0 and log_files(settings.resolved_log_dir)  # today's stays


def test_a_folder_named_like_a_log_file_stops_neither_erasure_nor_purge(
    client: FlaskClient, keys: dict[str, str], settings: Settings
) -> None:
    """It was an IsADirectoryError: an erasure that erased nothing, a purge that stopped after
    its database part, without its report."""
    from fraudscreen.privacy import purge

    assert client.post("/v1/score", json=order_body(), headers=auth(keys["score"])).status_code == 200
    folder = settings.resolved_log_dir / "fraudscreen-2020-01-01.log"
    folder.mkdir()
    erased = client.delete("/v1/accounts/acct-a", headers=auth(keys["admin"]))
    assert erased.status_code == 200 and erased.get_json()["held"], erased.get_json()
    report = purge(client.application.extensions["fraudscreen"].sql_store, settings)
    assert report.counts["log_files"] == 0 and folder.is_dir()
    assert folder not in log_files(settings.resolved_log_dir)


def _records(settings: Settings) -> list[Path]:
    return sorted(settings.resolved_log_dir.glob(".erasure-pending-*"))


@pytest.mark.parametrize("finisher", ["erasure", "purge"])
def test_an_erasure_that_stopped_after_its_database_part_is_finished_by_the_next_pass(
    client: FlaskClient, keys: dict[str, str], settings: Settings, finisher: str
) -> None:
    """Its record names what the pass after the database part had still to clean: the
    identifiers of orders that arrived meanwhile, gone from the database with the account."""
    from fraudscreen.log_rewrite import PendingScrub
    from fraudscreen.privacy import purge

    assert client.post("/v1/score", json=order_body(), headers=auth(keys["score"])).status_code == 200
    assert client.delete("/v1/accounts/acct-a", headers=auth(keys["admin"])).status_code == 200
    assert _records(settings) == []  # an erasure that ends removes its record
    logging.getLogger("fraudscreen.test").warning("late line for order ord-arrived-meanwhile")
    crashed = PendingScrub(settings.resolved_log_dir)
    crashed.record(["ord-arrived-meanwhile", "acct-gone"])
    busy = PendingScrub(settings.resolved_log_dir)  # another erasure, still running
    busy.record(["ord-of-a-running-erasure"])
    crashed.release()  # what the end of a killed process does
    if finisher == "erasure":
        client.delete("/v1/accounts/someone-else", headers=auth(keys["admin"]))
    else:
        purge(client.application.extensions["fraudscreen"].sql_store, settings)
    assert not any(b"ord-arrived-meanwhile" in line for line in _log_lines(settings))
    assert len(_records(settings)) == 1  # the running erasure's, in use: left alone
    busy.done()
    assert _records(settings) == []


def test_a_log_folder_gone_while_serving_does_not_cut_the_answers(
    client: FlaskClient, keys: dict[str, str], settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The request log's lock failed outside logging's own error handling: the client got an
    empty reply, for an order that was stored."""
    assert client.post("/v1/score", json=order_body(event__transaction_id="t-l1"),
                       headers=auth(keys["score"])).status_code == 200
    moved = settings.resolved_log_dir.with_name("logs.moved")
    settings.resolved_log_dir.rename(moved)
    try:
        answer = client.post("/v1/score", json=order_body(event__transaction_id="t-l2"),
                             headers=auth(keys["score"]))
        assert answer.status_code == 200 and answer.get_json()["order_id"] == "t-l2"
    finally:
        moved.rename(settings.resolved_log_dir)
    assert "Logging error" in capsys.readouterr().err  # said, on stderr
