"""Start-up: a part that fails to load is logged, and what the workers need is checked before
any worker exists (one ``Error:`` line instead of a crash in every worker)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fraudscreen.api import create_app
from fraudscreen.logs import reset_logging
from fraudscreen.store import Store

from helpers import make_settings


@pytest.fixture()
def umask_kept() -> Iterator[None]:
    """``serve`` sets the process umask; put it back for the other tests of this process."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_kept: None
) -> None:
    from fraudscreen import cli

    ran: list[object] = []
    monkeypatch.setattr("fraudscreen.server.run_server", lambda settings, options=None: ran.append(settings))
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("FRAUDSCREEN_LOG_DIR", str(tmp_path / "afile"))
    result = CliRunner().invoke(cli.main, ["--data-dir", str(tmp_path / "d"), "serve", "--port", "1"])
    assert result.exit_code == 1 and "Error:" in result.output and not ran, result.output


def test_serve_makes_its_files_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_kept: None
) -> None:
    from fraudscreen import cli

    monkeypatch.setattr("fraudscreen.server.run_server", lambda settings, options=None: None)
    result = CliRunner().invoke(cli.main, ["--data-dir", str(tmp_path / "d"), "serve", "--port", "1"])
    assert result.exit_code == 0, result.output
    database = tmp_path / "d" / "fraudscreen.db"
    assert database.exists() and database.stat().st_mode & 0o077 == 0


def test_a_configured_metrics_dir_that_does_not_exist_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraudscreen.server import prepare_metrics_dir

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "nope"))
    path = prepare_metrics_dir(make_settings(tmp_path, f"sqlite:///{tmp_path / 'fs.db'}"))
    assert path is not None and path.is_dir()
