"""Start-up: a part that fails to load is logged, and what the workers need is checked before
any worker exists (one ``Error:`` line instead of a crash in every worker)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import joblib
import pytest
from click.testing import CliRunner

from fraudscreen.api import create_app
from fraudscreen.config import REPO_DIR
from fraudscreen.logs import reset_logging
from fraudscreen.rules import compile as compile_module
from fraudscreen.store import Store

from helpers import auth, make_settings, order_body


def test_a_part_that_fails_to_load_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fs.db'}",
                             model_path=tmp_path / "missing.joblib")
    Store(settings.resolved_database_url).upgrade()
    caplog.set_level(logging.INFO)
    app = create_app(settings)
    try:
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(m.startswith("model unavailable") for m in errors), errors
    finally:
        reset_logging()
        app.extensions["fraudscreen"].store.close()


def test_serve_with_a_log_dir_that_is_a_file_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraudscreen import cli

    ran: list[object] = []
    monkeypatch.setattr("fraudscreen.server.run_server", lambda settings, options=None: ran.append(settings))
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("FRAUDSCREEN_LOG_DIR", str(tmp_path / "afile"))
    result = CliRunner().invoke(cli.main, ["--data-dir", str(tmp_path / "d"), "serve", "--port", "1"])
    assert result.exit_code == 1 and "Error:" in result.output and not ran, result.output


def test_serve_makes_its_files_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraudscreen import cli

    monkeypatch.setattr("fraudscreen.server.run_server", lambda settings, options=None: None)
    result = CliRunner().invoke(cli.main, ["--data-dir", str(tmp_path / "d"), "serve", "--port", "1"])
    assert result.exit_code == 0, result.output
    database = tmp_path / "d" / "fraudscreen.db"
    assert database.exists() and database.stat().st_mode & 0o077 == 0


def test_every_command_makes_its_files_private_and_gives_the_umask_back(tmp_path: Path) -> None:
    """A database made by `db upgrade`, and an export, were readable by every user (0644)."""
    from fraudscreen import cli

    before = os.umask(0o022)
    try:
        data = ["--data-dir", str(tmp_path / "d")]
        assert CliRunner().invoke(cli.main, [*data, "db", "upgrade"]).exit_code == 0
        assert CliRunner().invoke(cli.main, [*data, "lists", "add", "block", "account_id", "a-1"]).exit_code == 0
        out = tmp_path / "out" / "a-1.json"
        result = CliRunner().invoke(cli.main, [*data, "export", "a-1", "--out", str(out)])
        assert result.exit_code == 0, result.output
        for path in (tmp_path / "d", tmp_path / "d" / "fraudscreen.db", out):
            assert path.stat().st_mode & 0o077 == 0, path
        assert os.umask(0o022) == 0o022  # the test process's umask, given back
    finally:
        os.umask(before)


def test_a_configured_metrics_dir_that_does_not_exist_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraudscreen.server import prepare_metrics_dir

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "nope"))
    path = prepare_metrics_dir(make_settings(tmp_path, f"sqlite:///{tmp_path / 'fs.db'}"))
    assert path is not None and path.is_dir()


def _degraded_service(settings) -> tuple[dict, dict]:
    """Start the app on ``settings``: (the /readyz answer, the answer to one order)."""
    Store(settings.resolved_database_url).upgrade()
    app = create_app(settings)
    try:
        client = app.test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 503
        key = app.extensions["fraudscreen"].sql_store.create_api_key("t", ["score"])[1]
        body = order_body(device__ip_address="2.125.160.216")  # no default rule fires
        answer = client.post("/v1/score", json=body, headers=auth(key))
        assert answer.status_code == 200
        return ready.get_json(), answer.get_json()
    finally:
        reset_logging()
        app.extensions["fraudscreen"].store.close()


@pytest.mark.parametrize("limit", [None, 10**6], ids=["too-long", "parser-panic"])
def test_a_rule_the_cel_parser_cannot_take_leaves_the_service_up_without_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    # a syntax error beyond column 65535 made the cel parser panic (a BaseException) and every
    # worker die at start, in a loop; without the length limit, the panic itself is caught
    if limit is not None:
        monkeypatch.setattr(compile_module, "MAX_EXPRESSION_LENGTH", limit)
    ips = ", ".join(f'"10.0.{i // 256}.{i % 256}"' for i in range(5000))
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'version = "v1"\n[[rule]]\nid = "bad_ips"\ncode = "BAD_IPS"\naction = "reject"\n'
        f'expression = """ip.address in [{ips},]]"""\nmessage = "Bad IPs."\n'
    )
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fs.db'}", rules_path=rules)
    ready, answer = _degraded_service(settings)
    assert "bad_ips" in ready["problems"]["rules"] and ready["rules_version"] is None
    assert (answer["decision"], answer["disposition"]) == ("review", "degraded")
    assert "RULES_UNAVAILABLE" in [r["code"] for r in answer["reasons"]]


def test_a_bundle_whose_calibration_gives_nan_is_not_loaded(tmp_path: Path) -> None:
    payload = joblib.load(REPO_DIR / "models" / "default" / "model.joblib")
    payload["calibration"]["prob_knots"] = [math.nan] * len(payload["calibration"]["prob_knots"])
    joblib.dump(payload, tmp_path / "nan.joblib")
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fs.db'}",
                             model_path=tmp_path / "nan.joblib")
    ready, answer = _degraded_service(settings)
    assert "calibration" in ready["problems"]["model"] and ready["model_version"] is None
    assert (answer["decision"], answer["disposition"]) == ("review", "degraded")
    assert answer["risk_score"] is None
    assert "MODEL_UNAVAILABLE" in [r["code"] for r in answer["reasons"]]


def test_a_configured_asn_or_anonymous_ip_database_that_fails_degrades_the_service(tmp_path: Path) -> None:
    """Only the City database's failure counted: with the Anonymous-IP one missing, /readyz said
    ready, and a Tor exit's order was accepted with no rule able to see it."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fs.db'}",
                             geoip_anonymous_ip_path=str(tmp_path / "gone.mmdb"))
    ready, answer = _degraded_service(settings)
    assert "anonymous_ip database" in ready["problems"]["geoip"]
    assert (answer["decision"], answer["disposition"]) == ("review", "degraded")
    assert "GEOIP_UNAVAILABLE" in [r["code"] for r in answer["reasons"]]


def test_a_fifo_as_the_rules_or_a_geoip_file_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    """Opening a FIFO waits for a writer: the service's start hung, and /healthz never answered."""
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fs.db'}", rules_path=fifo,
                             geoip_asn_path=str(fifo))
    ready, _answer = _degraded_service(settings)
    assert "not a regular file" in ready["problems"]["rules"]
    assert "asn database" in ready["problems"]["geoip"]


def test_a_second_server_on_the_data_dir_counts_apart_and_keeps_the_first_ones_counts(
    tmp_path: Path,
) -> None:
    from fraudscreen.server import _held_locks, claim_metrics_dir

    run = tmp_path / "run"
    stale = run / "metrics-gone"  # left by a server that was killed: nobody holds its lock
    stale.mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"old")
    (run / "metrics").mkdir()
    (run / "metrics" / "counter_9.db").write_bytes(b"of an earlier run")
    first = claim_metrics_dir(run)
    assert first == run / "metrics" and not (first / "counter_9.db").exists()  # emptied
    assert not stale.exists()
    (first / "counter_2.db").write_bytes(b"counts of the running server")
    second = claim_metrics_dir(run)  # another server while the first still runs
    assert second != first and second.parent == run and second.name.startswith("metrics-")
    assert (first / "counter_2.db").read_bytes() == b"counts of the running server"
    os.close(_held_locks.pop(second))  # the second server is gone: its folder is stale
    os.close(_held_locks.pop(first))  # and so is the first: the next server takes "metrics"
    assert claim_metrics_dir(run) == first and not second.exists()
    assert not (first / "counter_2.db").exists()
    os.close(_held_locks.pop(first))
