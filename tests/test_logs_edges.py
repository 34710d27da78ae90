"""Masking at its edges (shortest cards, most separators, odd extras, stack text, gunicorn's
handlers) and the log-retention cut-off day."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from fraudscreen.config import Settings
from fraudscreen.logs import (
    delete_old_log_files,
    log_file_name,
    log_files,
    mask,
    reset_logging,
    setup_logging,
)

from helpers import make_settings

EMAIL = "leaky.person@example.com"
PASSWORD = "hunter2-Sw0rdfish"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("411111111117", "[card]"),  # a 12-digit PAN (MIN_PAN_LENGTH) as the whole text
        ("card 4111 - 1111 - 1111 - 1111", "card [card]"),  # three separators
        ("dots 4111.1111.1117!", "dots [card]!"),  # three dotted groups of four (12 digits)
        (f"pass={PASSWORD}", "pass=[redacted]"),  # the short `pass` key
        (f"PASS: {PASSWORD}", "PASS: [redacted]"),
    ],
)
def test_mask_edge_cases(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    level = logging.getLogger().level
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'var' / 'fraudscreen.db'}")
    yield settings
    reset_logging()
    logging.getLogger().setLevel(level)


def _written(settings: Settings) -> bytes:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return b"".join(p.read_bytes() for p in log_files(settings.resolved_log_dir))


class _Thing:
    def __str__(self) -> str:
        return f"thing of {EMAIL} password={PASSWORD}"


def test_extra_values_of_any_type_are_masked(settings, capsys) -> None:
    """an extra that is not a str, dict, list or number is masked through its str()."""
    setup_logging(settings)
    logging.getLogger("fraudscreen.test").warning(
        "odd extras", extra={"error": ValueError(EMAIL), "obj": _Thing(), "emails": {EMAIL}}
    )
    data = _written(settings) + capsys.readouterr().err.encode()
    assert EMAIL.encode() not in data and PASSWORD.encode() not in data
    record = json.loads(_written(settings).splitlines()[-1])
    assert record["error"] == "[email]" and "[email]" in record["obj"]


def test_stack_info_is_masked(settings, capsys) -> None:
    """the stack text quotes source lines, which may hold a literal secret."""
    setup_logging(settings)
    log = logging.getLogger("fraudscreen.test")
    log.warning("looked up leaky.person@example.com", stack_info=True)  # the literal is the point
    data = _written(settings) + capsys.readouterr().err.encode()
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
