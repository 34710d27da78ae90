"""JSON logs and the masking filter: secrets pushed through messages, args, errors and requests."""

from __future__ import annotations

import io
import json
import logging
import os
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from fraudscreen.api import create_app
from fraudscreen.api import privacy as privacy_api
from fraudscreen.config import Settings
from fraudscreen.log_rewrite import rewrite_log_files
from fraudscreen.logs import (
    DailyFileHandler,
    JsonFormatter,
    delete_old_log_files,
    log_file_name,
    log_files,
    mask,
    reset_logging,
    setup_logging,
)

from helpers import make_settings, order_body

EMAIL = "leaky.person@example.com"
CARD = "4111111111111111"
SPACED_CARD = "5555 5555 5555 4444"
API_KEY = "fs_Zk3v9QwErTyUiOp1234567890abcdEFGH"
PASSWORD = "hunter2-Sw0rdfish"
SECRETS = (EMAIL, CARD, SPACED_CARD, API_KEY, PASSWORD, "5555555555554444")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"mail {EMAIL} now", "mail [email] now"),
        (f"pan={CARD}.", "pan=[card]."),
        (f"card {SPACED_CARD} end", "card [card] end"),
        ("dashes 4111-1111-1111-1111!", "dashes [card]!"),
        ("tabs 4111\t1111\t1111\t1111 and  4111  1111  1111  1111", "tabs [card] and  [card]"),
        ("dots 4111.1111.1111.1111.", "dots [card]."),
        ("ip 255.255.255.255", "ip 255.255.255.255"),
        ("GET /v1/accounts/jane%40example.org/profile", "GET [email]/profile"),  # "/" may be in an address
        ("GET /v1/orders/4111%201111%201111%201111", "GET /v1/orders/[card]"),
        ("mail jäne.doe@exämple.org", "mail [email]"),
        ("nbsp 4111\u00a01111\u00a01111\u00a01111", "nbsp [card]"),
        ("50% off", "50% off"),
        (f"key {API_KEY}", "key fs_[redacted]"),
        (f"Authorization: Bearer {API_KEY}", "Authorization: [redacted]"),
        ("curl -H 'bearer abcdefghijkl'", "curl -H 'bearer [redacted]'"),
        (f"password={PASSWORD}&x=1", "password=[redacted]&x=1"),
        (f'{{"db_password": "{PASSWORD}"}}', '{"db_password": "[redacted]"}'),
        (f"postgresql://fs:{PASSWORD}@db:5432/x", "postgresql://[redacted]@db:5432/x"),
        ("order 1732000000000 took 12 ms", "order 1732000000000 took 12 ms"),  # not Luhn-valid
        ("bin 411111 last 1111", "bin 411111 last 1111"),
        ("411111111117", "[card]"),  # a 12-digit card (the shortest) as the whole text
        ("card 4111 - 1111 - 1111 - 1111", "card [card]"),  # three separators
        ("dots 4111.1111.1117!", "dots [card]!"),  # three dotted groups of four (12 digits)
        ("GET /v1/orders/4111_1111_1111_1111 HTTP/1.1", "GET /v1/orders/[card] HTTP/1.1"),
        ("spaced 4111    1111    1111    1111.", "spaced [card]."),
        ("amex 3782:822463:10005 end", "amex [card] end"),
        ("path /v1/orders/5555%2F5555%2F5555%2F4444", "path /v1/orders/[card]"),
        ("ports 2082,2083,2086,2087 open", "ports 2082,2083,2086,2087 open"),
        (f"pass={PASSWORD}", "pass=[redacted]"),  # the short `pass` key
        (f"PASS: {PASSWORD}", "PASS: [redacted]"),
        # gunicorn quotes a bad request line with %r: its tabs and other characters as escapes
        (r"Invalid method: 'GET 4111\t1111\t1111\t1111'", "Invalid method: 'GET [card]'"),
        (r"'4111\x091111\x091111\x091111' and '5555\u00a05555\u00a05555\u00a04444'",
         "'[card]' and '[card]'"),
        (r"line '\t4111111111111111\n'", r"line '\t[card]\n'"),
        (r"C:\tmp\new 2026\t12\t07", r"C:\tmp\new 2026\t12\t07"),  # no card: as it was
        # a percent escape is decoded to mask what it hides, but never into a line break that
        # would start a forged line in a plain-text log
        ("GET /x%0D%0A[2026-12-07 10:00:00] [ERROR] forged%E2%80%A8", "GET /x  [2026-12-07 10:00:00] [ERROR] forged "),
        ("GET /v1/orders/4111%0A1111%0A1111%0A1111", "GET /v1/orders/[card]"),
    ],
)
def test_mask(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    level = logging.getLogger().level
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'var' / 'fraudscreen.db'}")
    yield settings
    reset_logging()
    logging.getLogger().setLevel(level)


def written(settings: Settings) -> bytes:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return b"".join(p.read_bytes() for p in log_files(settings.resolved_log_dir))


def assert_clean(data: bytes) -> None:
    for secret in SECRETS:
        assert secret.encode() not in data, f"{secret} reached the log"


def test_records_are_json_lines_with_every_part_masked(settings, capsys) -> None:
    setup_logging(settings)
    log = logging.getLogger("fraudscreen.test")
    log.warning("signup %s paid %s with key %s", EMAIL, CARD, API_KEY, extra={"note": f"pw={PASSWORD}"})
    try:
        raise ValueError(f"cannot charge {SPACED_CARD} for {EMAIL}; password={PASSWORD}")
    except ValueError:
        log.exception("charge failed for %s", EMAIL)
    log.error("stack", stack_info=True, extra={"where": {"emails": [EMAIL]}})
    data = written(settings)
    assert_clean(data)
    assert_clean(capsys.readouterr().err.encode())
    lines = [json.loads(line) for line in data.splitlines()]
    assert [r["level"] for r in lines] == ["WARNING", "ERROR", "ERROR"]
    assert lines[0]["message"] == "signup [email] paid [card] with key fs_[redacted]"
    assert lines[0]["note"] == "pw=[redacted]" and lines[0]["logger"] == "fraudscreen.test"
    assert lines[1]["exc_type"] == "ValueError"
    assert "cannot charge [card] for [email]; password=[redacted]" in lines[1]["exception"]
    assert lines[2]["where"] == {"emails": ["[email]"]} and "stack" in lines[2]


def test_unexpected_error_inside_a_request_leaks_nothing(settings, capsys) -> None:
    app = create_app(settings)
    if "privacy" not in app.blueprints:
        app.register_blueprint(privacy_api.bp)
    setup_logging(settings)

    @app.post("/boom")
    def boom() -> str:
        try:
            {}["card"]
        except KeyError:
            logging.getLogger("fraudscreen.api").exception(
                "lookup failed for %s using %s", EMAIL, f"Bearer {API_KEY}")
        raise RuntimeError(f"{EMAIL} {CARD} {API_KEY} password={PASSWORD}")

    store = app.extensions["fraudscreen"].store
    store.upgrade()
    try:
        key = store.create_api_key("checkout", ["score"])[1]
        client = app.test_client()
        response = client.post("/boom", json={"email": EMAIL}, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 500
        assert_clean(response.get_data())
        body = order_body(email__address=EMAIL)
        scored = client.post("/v1/score", json=body, headers={"Authorization": f"Bearer {key}"})
        assert scored.status_code == 200
        refused = order_body(credit_card__token=CARD)
        assert client.post("/v1/score", json=refused, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 401
        data = written(settings)
        assert_clean(data)
        assert key.encode() not in data
        assert_clean(capsys.readouterr().err.encode())
        records = [json.loads(line) for line in data.splitlines()]
        requests = [r for r in records if r["logger"] == "fraudscreen.requests"]
        assert [(r["route"], r["status"]) for r in requests] == [
            ("/boom", 500), ("/v1/score", 200), ("/v1/score", 401)]
        assert requests[1]["order_id"] == scored.get_json()["id"] and requests[1]["decision"]
        assert requests[1]["api_key"] == "checkout"
        assert any(r.get("exc_type") == "KeyError" and "[email]" in r["message"] for r in records)
    finally:
        store.close()


def test_daily_files_and_rewrite(tmp_path: Path) -> None:
    handler = DailyFileHandler(tmp_path / "logs")
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("fraudscreen.daily")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.warning("order %s", "ord-aaa111")
        log.warning("order %s", "ord-bbb222")
        tomorrow = logging.LogRecord("fraudscreen.daily", logging.WARNING, __file__, 1, "order ord-aaa111x", None, None)
        tomorrow.created = (datetime.now(UTC) + timedelta(days=1)).timestamp()
        handler.handle(tomorrow)
        files = log_files(tmp_path / "logs")
        assert [p.name for p in files] == [
            log_file_name(datetime.now(UTC).date()), log_file_name(datetime.now(UTC).date() + timedelta(days=1))]
        assert rewrite_log_files(tmp_path / "logs", ["ord-aaa111"]) == (1, 1)  # whole tokens only
        today = files[0]
        inode = os.stat(today).st_ino
        log.warning("order %s", "ord-ccc333")  # lands in the rewritten file, not the old inode
        text = today.read_text()
        assert "ord-aaa111" not in text and "ord-bbb222" in text and "ord-ccc333" in text
        assert os.stat(today).st_ino == inode
        assert rewrite_log_files(tmp_path / "logs", ["ord-aaa111"]) == (0, 0)
    finally:
        log.removeHandler(handler)
        handler.close()


def test_mask_skips_only_patterns_that_cannot_match() -> None:
    """``mask`` runs the secret patterns only on texts with ``: = @``, ``fs_``, bearer or
    basic, and the card pattern only on texts of 12+ characters: the answers are those of
    running every pattern on every text."""
    from fraudscreen import logs
    from fraudscreen.enrich.email import EMAIL_IN_TEXT

    def every_pattern(text: str) -> str:
        text = logs._URL_CREDENTIALS.sub(lambda m: m.group(1) + "[redacted]@", text)
        text = logs._SECRET_FIELD.sub(lambda m: m.group(1) + "[redacted]", text)
        text = logs._BEARER.sub(lambda m: m.group(1) + " [redacted]", text)
        text = logs._API_KEY.sub("fs_[redacted]", text)
        text = EMAIL_IN_TEXT.sub("[email]", text)
        return logs._DIGIT_RUN.sub(logs._mask_card, text)

    rnd = random.Random(20261125)
    parts = ["jane@example.org", "https://u:p@h/x", "password=hunter2", "PASS: x1", "Bearer abcdef12",
             "BASIC zzzzzzzz", "fs_abcdefgh", "4111 1111 1111 1111", "4111.1111.1111.1111", "order",
             "0c62a212afd424c5edb0750f4a234366", "12345678901", "route /v1/score", "a=b", "x:y", " "]
    texts = [" ".join(rnd.choice(parts) for _ in range(rnd.randint(1, 4))) for _ in range(2000)]
    assert [logs.mask(t) for t in texts] == [every_pattern(t) for t in texts]


class _Thing:
    def __str__(self) -> str:
        return f"thing of {EMAIL} password={PASSWORD}"


def test_extra_values_of_any_type_are_masked(settings, capsys) -> None:
    """an extra that is not a str, dict, list or number is masked through its str()."""
    setup_logging(settings)
    logging.getLogger("fraudscreen.test").warning(
        "odd extras", extra={"error": ValueError(EMAIL), "obj": _Thing(), "emails": {EMAIL}}
    )
    data = written(settings) + capsys.readouterr().err.encode()
    assert EMAIL.encode() not in data and PASSWORD.encode() not in data
    record = json.loads(written(settings).splitlines()[-1])
    assert record["error"] == "[email]" and "[email]" in record["obj"]


def test_stack_info_is_masked(settings, capsys) -> None:
    """the stack text quotes source lines, which may hold a literal secret."""
    setup_logging(settings)
    log = logging.getLogger("fraudscreen.test")
    log.warning("looked up leaky.person@example.com", stack_info=True)  # the literal is the point
    data = written(settings) + capsys.readouterr().err.encode()
    assert b"stack" in data and EMAIL.encode() not in data


def test_gunicorn_error_log_handlers_get_the_masking_filter(settings) -> None:
    """setup_logging puts a MaskingFilter on gunicorn's error-log handlers."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    gunicorn = logging.getLogger("gunicorn.error")
    gunicorn.addHandler(handler)
    propagate, gunicorn.propagate = gunicorn.propagate, False
    try:
        setup_logging(settings)
        setup_logging(settings)  # idempotent: still one filter
        assert len(handler.filters) == 1
        gunicorn.error("worker failed for %s password=%s", EMAIL, PASSWORD)
        assert EMAIL not in stream.getvalue() and PASSWORD not in stream.getvalue()
        assert "[email]" in stream.getvalue()
    finally:
        gunicorn.removeHandler(handler)
        gunicorn.propagate = propagate


def test_delete_old_log_files_keeps_the_cutoff_day(tmp_path: Path) -> None:
    """files of days *before* the cut-off go; the cut-off day itself stays."""
    days = [date(2026, 1, 9), date(2026, 1, 10), date(2026, 1, 11)]
    for day in days:
        (tmp_path / log_file_name(day)).write_text("{}\n")
    assert delete_old_log_files(tmp_path, date(2026, 1, 10)) == 1
    assert [p.name for p in log_files(tmp_path)] == [log_file_name(d) for d in days[1:]]
