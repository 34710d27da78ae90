"""Settings: every value is read as its type and range, or refused naming the setting."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from fraudscreen.config import LIMITS, Settings, load_settings, unknown_variables
from fraudscreen.errors import ConfigError


@pytest.mark.parametrize("name", ["HOST", "DATA_DIR", "PORT", "WORKERS", "MAX_BODY_BYTES", "LOG_TO_FILE",
                                  "RETENTION_PERSONAL_DAYS", "PURGE_INTERVAL_HOURS", "LOG_LEVEL"])
def test_an_empty_value_keeps_the_default(name: str) -> None:
    """``FRAUDSCREEN_HOST=`` served on 0.0.0.0, ``FRAUDSCREEN_LOG_TO_FILE=`` turned the log
    files off, and an empty number or path crashed later with a TypeError."""
    field = name.lower()
    for empty in ("", "   "):
        assert getattr(load_settings({f"FRAUDSCREEN_{name}": empty}), field) == getattr(Settings(), field)


@pytest.mark.parametrize(("name", "value"), [
    ("port", "99999"), ("port", "-1"), ("workers", "0"), ("max_body_bytes", "99999999999999999999"),
    ("max_body_bytes", "9223372036854775807"), ("retention_logs_days", "0"),
    ("retention_orders_days", "36501"), ("purge_interval_hours", "nan"), ("purge_interval_hours", "inf"),
    ("purge_interval_hours", "-1"), ("purge_interval_hours", "1e308"), ("replay_workers", "5000"),
    ("port", "3.7"), ("workers", "many"),
])
def test_a_number_out_of_its_range_is_refused_naming_the_setting(name: str, value: str) -> None:
    env = f"FRAUDSCREEN_{name.upper()}"
    low, high = LIMITS[name]
    with pytest.raises(ConfigError, match=rf"^setting {name} \({env}\) must be a (whole )?number "
                                          rf"from {low:,.0f} to {high:,.0f}$"):
        load_settings({env: value})


def test_the_edges_of_each_range_are_taken() -> None:
    for name, (low, high) in LIMITS.items():
        for value in (low, high):
            text = str(int(value)) if name != "purge_interval_hours" else str(value)
            assert getattr(load_settings({f"FRAUDSCREEN_{name.upper()}": text}), name) == value


@pytest.mark.parametrize(("toml", "why"), [
    ("port = true", r"port \(FRAUDSCREEN_PORT\) must be a whole number"),
    ("port = 3.7", r"port \(FRAUDSCREEN_PORT\) must be a whole number"),
    ("retention_logs_days = 3.9", "retention_logs_days .* must be a whole number"),
    ("max_body_bytes = 1e400", "max_body_bytes .* must be a whole number"),
    ("log_level = 5", r"log_level \(FRAUDSCREEN_LOG_LEVEL\) must be text"),
    ('geoip_city_path = ["a"]', "geoip_city_path .* must be text"),
    ("data_dir = 3", r"data_dir \(FRAUDSCREEN_DATA_DIR\) must be a path"),
    ("erasure_keep_fraud_hashes = 1", "erasure_keep_fraud_hashes .* must be true or false"),
    ('log_level = "VERBOSE"', "log_level .* must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
])
def test_a_toml_value_of_another_type_is_refused_not_converted(tmp_path: Path, toml: str, why: str) -> None:
    """``port = 3.7`` was port 3 and ``retention_logs_days = 3.9`` three days."""
    config = tmp_path / "fraudscreen.toml"
    config.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=why):
        load_settings({"FRAUDSCREEN_CONFIG": str(config)})


def test_toml_values_of_the_right_types_are_taken(tmp_path: Path) -> None:
    config = tmp_path / "fraudscreen.toml"
    config.write_text('port = 9000\npurge_interval_hours = 6\nlog_level = "warning"\nlog_to_file = false\n'
                      'data_dir = "/srv/fraud"\n')
    settings = load_settings({"FRAUDSCREEN_CONFIG": str(config)})
    assert (settings.port, settings.purge_interval_hours, settings.log_level, settings.log_to_file,
            settings.data_dir) == (9000, 6.0, "WARNING", False, Path("/srv/fraud"))


def test_a_config_file_that_is_not_utf8_or_not_a_file_is_one_error(tmp_path: Path) -> None:
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'host = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="latin.toml: not UTF-8 text"):
        load_settings({"FRAUDSCREEN_CONFIG": str(latin)})
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    done: list[BaseException] = []

    def load() -> None:
        try:
            load_settings({"FRAUDSCREEN_CONFIG": str(fifo)})
        except ConfigError as exc:
            done.append(exc)

    reader = threading.Thread(target=load, daemon=True)  # it hung, waiting for a writer
    reader.start()
    reader.join(10)
    if reader.is_alive():  # let the blocked open go before failing
        with open(fifo, "w"):
            pass
        pytest.fail("reading a FIFO as the config file blocked")
    assert "not a regular file" in str(done[0])


@pytest.mark.parametrize(("given", "taken"), [
    ("0.0.0.0", "0.0.0.0"), ("::1", "::1"), ("[::1]", "::1"), ("[2001:DB8::1]", "2001:db8::1"),
    ("localhost", "localhost"), ("api.example.net.", "api.example.net."), (" 127.0.0.1 ", "127.0.0.1"),
])
def test_a_host_is_an_address_or_a_name(given: str, taken: str) -> None:
    from fraudscreen.server import bind_address

    settings = load_settings({"FRAUDSCREEN_HOST": given, "FRAUDSCREEN_PORT": "8001"})
    assert settings.host == taken
    assert bind_address(settings) == (f"[{taken}]:8001" if ":" in taken else f"{taken}:8001")


@pytest.mark.parametrize("given", [
    "localhost:9000", "127.0.0.1:8000", "http://localhost", "unix:/tmp/fs.sock", "a_b", "-x.org",
    "two words", "x" * 64 + ".org", "[localhost]",
])
def test_a_host_with_a_port_or_not_a_name_is_refused(given: str) -> None:
    with pytest.raises(ConfigError, match=r"host \(FRAUDSCREEN_HOST\) must be an IP address"):
        load_settings({"FRAUDSCREEN_HOST": given})


def test_an_unknown_variable_is_named_with_the_nearest_setting() -> None:
    lines = unknown_variables({
        "FRAUDSCREEN_DATABSE_URL": "postgresql://db/x", "FRAUDSCREEN_ZZZ": "1",
        "FRAUDSCREEN_PORT": "9000", "FRAUDSCREEN_CONFIG": "x.toml", "HOME": "/root"})
    assert lines == [
        ("FRAUDSCREEN_DATABSE_URL is not a fraudscreen setting and is ignored; "
         "did you mean FRAUDSCREEN_DATABASE_URL?"),
        "FRAUDSCREEN_ZZZ is not a fraudscreen setting and is ignored"]
    assert unknown_variables({"FRAUDSCREEN_LOG_LEVEL": "debug", "PATH": "/bin"}) == []
