"""Hosts sharing one database share one email key: the database refuses a host with another."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fraudscreen.errors import ConfigError
from fraudscreen.installation import key_check, load_or_create_secrets
from fraudscreen.screening import Screener

from helpers import make_settings


def test_the_check_value_is_the_same_for_one_key_and_differs_between_keys(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path / "a")
    assert key_check(first) == key_check(load_or_create_secrets(tmp_path / "a"))
    assert key_check(first) != key_check(load_or_create_secrets(tmp_path / "b"))
    assert 0 <= key_check(first) < 2**63  # fits the database's BIGINT
    assert first.email_hmac_key.hex() not in str(key_check(first))


def test_a_host_with_another_email_key_is_refused_and_one_with_the_same_key_is_not(
    tmp_path: Path, store_url: str
) -> None:
    host_a = Screener.from_settings(make_settings(tmp_path / "a", store_url))  # claims the key
    host_a.store.close()
    with pytest.raises(ConfigError, match="secrets.json"):
        Screener.from_settings(make_settings(tmp_path / "b", store_url))
    (tmp_path / "c" / "var").mkdir(parents=True)
    shutil.copy(tmp_path / "a" / "var" / "secrets.json", tmp_path / "c" / "var" / "secrets.json")
    host_c = Screener.from_settings(make_settings(tmp_path / "c", store_url))  # the copied file
    host_c.store.close()


def test_serve_on_a_database_first_used_with_another_key_is_one_error_line(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraudscreen import cli

    ran: list[object] = []
    monkeypatch.setattr("fraudscreen.server.run_server", lambda settings, options=None: ran.append(settings))
    monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", store_url)
    first = CliRunner().invoke(cli.main, ["--data-dir", str(tmp_path / "a"), "serve", "--port", "1"])
    assert first.exit_code == 0 and len(ran) == 1, first.output
    other = CliRunner().invoke(cli.main, ["--data-dir", str(tmp_path / "b"), "serve", "--port", "1"])
    assert other.exit_code == 1 and len(ran) == 1, other.output
    assert other.output.count("\n") == 1 and "same secrets.json" in other.output
    assert load_or_create_secrets(tmp_path / "a").email_hmac_key.hex() not in other.output


@pytest.mark.parametrize("content", ["[1, 2]", "5", "null", '{"email_hmac_key": 5}', '{"email_hmac_key": ""}',
                                     '{"email_hmac_key": "ab"}', '{"email_hmac_key": "zz"}', "{}"])
def test_a_secrets_file_of_another_shape_or_a_short_key_is_one_clear_error(tmp_path: Path, content: str) -> None:
    """A list or a number gave a TypeError traceback; an empty key started a service that failed
    every order with a 500, and a one-byte key was taken."""
    (tmp_path / "secrets.json").write_text(content)
    with pytest.raises(ConfigError, match="email_hmac_key is at least 64 hex digits"):
        load_or_create_secrets(tmp_path)


def test_a_secrets_file_that_is_not_json_or_not_a_file_says_what_is_wrong(tmp_path: Path) -> None:
    import os

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "secrets.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"secrets.json \(not JSON\)"):
        load_or_create_secrets(tmp_path / "a")
    (tmp_path / "b").mkdir()
    os.mkfifo(tmp_path / "b" / "secrets.json")  # reading it blocked every start
    with pytest.raises(ConfigError, match=r"secrets.json \(not a regular file\)"):
        load_or_create_secrets(tmp_path / "b")


def test_a_secrets_file_others_can_read_is_made_private(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """It holds the key of the e-mail hashes; one copied to another host as 0644 was taken silently."""
    key = load_or_create_secrets(tmp_path).email_hmac_key
    path = tmp_path / "secrets.json"
    path.chmod(0o644)
    with caplog.at_level("WARNING", logger="fraudscreen"):
        assert load_or_create_secrets(tmp_path).email_hmac_key == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert any("was readable by others: made 0600" in r.getMessage() for r in caplog.records)
    assert key.hex() not in caplog.text
