"""The command line on bad input: one ``Error:`` line and a non-zero exit, never a traceback.

Bad files, bad option values and unwritable outputs are refused before any replay; rows of
the wrong type are skipped and counted. Found by a review of the CLI (cli-review).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from fraudscreen.cli import main
from fraudscreen.config import PACKAGE_DIR, SHIPPED_MODEL_DIR, load_settings
from fraudscreen.errors import DataFileError
from fraudscreen.features import FEATURE_NAMES
from fraudscreen.store import open_store
from fraudscreen.training.jsonl import iter_jsonl, write_jsonl
from fraudscreen.training.logged import FORMAT, export_labelled, read_logged
from fraudscreen.training.pipeline import replay
from fraudscreen.training.simulate import simulate_orders

from helpers import MAXMIND, fraudscreen_command, press_ctrl_c, screen_live, start_in_a_terminal

START = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the test GeoIP databases from the environment: no outside FRAUDSCREEN_ setting."""
    import os

    for name in [n for n in os.environ if n.startswith("FRAUDSCREEN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FRAUDSCREEN_GEOIP_CITY_PATH", str(MAXMIND / "GeoIP2-City-Test.mmdb"))
    monkeypatch.setenv("FRAUDSCREEN_GEOIP_ASN_PATH", str(MAXMIND / "GeoLite2-ASN-Test.mmdb"))


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return list(simulate_orders(800, seed=3, start=START))


@pytest.fixture()
def data_file(rows: list[dict[str, Any]], tmp_path: Path) -> Path:
    path = tmp_path / "orders.jsonl"
    write_jsonl(rows, path)
    return path


def cli(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--data-dir", str(tmp_path / "var"), *args])


def clean_failure(result: Result, code: int | None = None) -> str:
    """A handled error: click's SystemExit (not a Python exception), non-zero, an Error: line."""
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    assert result.exit_code != 0
    if code is not None:
        assert result.exit_code == code, result.output
    assert "Error" in result.output and "Aborted!" not in result.output and "Traceback" not in result.output
    return result.output


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def logged_rows(n: int) -> list[dict[str, Any]]:
    """Rows as ``export-training`` writes them; one in ten is fraud."""
    return [{"format": FORMAT, "order_id": str(i), "event_time": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
             "label": "fraud" if i % 10 == 0 else "legit",
             "features": dict.fromkeys(FEATURE_NAMES, float(i % 10 == 0)), "rules": []} for i in range(n)]


# --- reading labelled files ------------------------------------------------------------------

def test_non_json_line_names_the_file_and_line_not_its_content(data_file: Path, tmp_path: Path) -> None:
    with data_file.open("a") as fh:
        fh.write("secret@example.org is not json\n")
    output = clean_failure(cli(tmp_path, "backtest", "--no-progress", "--data", str(data_file)), code=1)
    assert "line 801" in output and "orders.jsonl" in output and "secret" not in output


def test_truncated_gzip_is_a_clear_error_not_aborted(data_file: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "cut.jsonl.gz"
    corrupt.write_bytes(gzip.compress(data_file.read_bytes())[:4000])
    assert "truncated" in clean_failure(cli(tmp_path, "backtest", "--no-progress", "--data", str(corrupt)))


def test_a_bad_checksum_or_data_after_the_gzip_stream_is_named_as_such(data_file: Path,
                                                                       tmp_path: Path) -> None:
    """Both were "not a gzip file" (after line 3000) although the file was one."""
    packed = gzip.compress(data_file.read_bytes())
    crc = tmp_path / "crc.jsonl.gz"
    crc.write_bytes(packed[:-8] + bytes([packed[-8] ^ 0xFF]) + packed[-7:])  # the CRC-32 trailer
    output = clean_failure(cli(tmp_path, "backtest", "--no-progress", "--data", str(crc)))
    assert "corrupt compressed data (its checksum or length does not match)" in output
    assert "not a gzip file" not in output
    tail = tmp_path / "tail.jsonl.gz"
    tail.write_bytes(packed + b"garbage!\n")
    output = clean_failure(cli(tmp_path, "backtest", "--no-progress", "--data", str(tail)))
    assert "unexpected data after the compressed data" in output and "not a gzip file" not in output


def test_not_gzip_and_not_utf8_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl.gz"
    bad.write_bytes(b"not gzip\n")
    assert "not a gzip file" in clean_failure(cli(tmp_path, "backtest", "--no-progress", "--data", str(bad)))
    unnamed = tmp_path / "orders.jsonl"  # compressed, but not named so
    unnamed.write_bytes(gzip.compress(b'{"a": 1}\n'))
    with pytest.raises(DataFileError, match="gzip-compressed data in a file whose name does not end in .gz"):
        list(iter_jsonl(unnamed))
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"a": 1}\n\n{"x": "\xe9"}\n')
    with pytest.raises(DataFileError, match="line 3: not UTF-8"):
        list(iter_jsonl(latin))
    with pytest.raises(DataFileError, match="line 1: nested too deeply"):
        write_path = tmp_path / "deep.jsonl"
        write_path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
        list(iter_jsonl(write_path))


def test_lines_read_as_the_standard_library_reads_them_and_strict(rows: list[dict[str, Any]],
                                                                  tmp_path: Path) -> None:
    """The rows decode to the values ``json.loads`` gives (non-ASCII text, floats, nesting); the
    constants ``NaN`` and ``Infinity``, which it lets through and RFC 8259 does not, are errors."""
    odd = {"name": "Zoë Ødegård 東京", "amount": 0.1 + 0.2, "tiny": 5e-324, "big": 1.7976931348623157e308,
           "neg": -0.0, "nested": [[{"a": None, "b": True}]], "escaped": "tab\tquote\"\\u00e9"}
    path = tmp_path / "rows.jsonl"
    write_jsonl([*rows[:50], odd], path)
    expected = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert expected == [*rows[:50], odd]  # written without loss
    assert list(iter_jsonl(path)) == expected
    assert repr(list(iter_jsonl(path))[-1]) == repr(expected[-1])  # -0.0 and float text too
    for constant in ("NaN", "Infinity", "-Infinity"):
        bad = tmp_path / "constant.jsonl"
        bad.write_text(path.read_text(encoding="utf-8") + '{"amount": ' + constant + "}\n", encoding="utf-8")
        with pytest.raises(DataFileError, match="line 52: not valid JSON"):
            list(iter_jsonl(bad))
    written = tmp_path / "written.jsonl"  # what we write, we read: no NaN, NumPy numbers as numbers
    write_jsonl([{"nan": math.nan, "inf": -math.inf, "np": np.float64(0.25), "n": np.int64(3)}], written)
    assert list(iter_jsonl(written)) == [{"nan": None, "inf": None, "np": 0.25, "n": 3}]


def test_a_key_repeated_in_one_object_is_refused_with_its_line_and_pointer(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """orjson keeps the last of two values silently: ``"label": "legit"`` added after a fraud
    row's label made every fraud row legit; the service answers such a body 400."""
    fraud = next(r for r in rows if r["label"] == "fraud")
    path = tmp_path / "repeated.jsonl"
    write_jsonl(rows[:5], path)
    text = path.read_text(encoding="utf-8")
    line = json.dumps(fraud)[:-1] + ', "label": "legit"}'
    for repeated, pointer in ((line, "/label"), ('{"label":"fraud","label":"legit"}', "/label"),
                              ('{"a": {"b" : 1, "c": [{"d": 1, "d"\t: 2}]}}', "/a/c/0/d")):
        path.write_text(text + repeated + "\n", encoding="utf-8")
        with pytest.raises(DataFileError, match=f"line 6: the key at {pointer} is repeated"):
            list(iter_jsonl(path))
    path.write_text(text + line + "\n", encoding="utf-8")
    assert "line 6: the key at /label is repeated" in clean_failure(
        cli(tmp_path, "backtest", "--no-progress", "--data", str(path)))
    # nested deeper than orjson writes (254 levels; it reads 1,024): read, not a traceback
    path.write_text('{"a": ' + "[" * 300 + "]" * 300 + "}\n", encoding="utf-8")
    assert len(list(iter_jsonl(path))) == 1
    # quotes and colons inside strings are no keys: such rows are read as they are
    odd = {"note": 'said "x": y', "k": {"say\":": '":":'}, "spaced": "a\" :b"}
    path.write_text(json.dumps(odd) + "\n" + json.dumps(odd, separators=(",", " : ")) + "\n",
                    encoding="utf-8")
    assert list(iter_jsonl(path)) == [odd, odd]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_a_byte_order_mark_before_the_first_line_is_ignored(rows: list[dict[str, Any]], suffix: str,
                                                            tmp_path: Path) -> None:
    plain = tmp_path / "plain.jsonl"
    write_jsonl(rows[:5], plain)
    text = b"\xef\xbb\xbf" + plain.read_bytes()  # as PowerShell's Out-File -Encoding utf8 writes
    marked = tmp_path / f"marked{suffix}"
    marked.write_bytes(gzip.compress(text) if suffix.endswith(".gz") else text)
    assert list(iter_jsonl(marked)) == rows[:5]
    inside = tmp_path / "inside.jsonl"  # a mark anywhere else is still an error, with its line
    inside.write_bytes(plain.read_bytes() + b"\xef\xbb\xbf{}\n")
    with pytest.raises(DataFileError, match="line 6: not valid JSON"):
        list(iter_jsonl(inside))


def test_train_first_row_not_an_object_is_a_clear_error(data_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text("[1, 2]\n" + data_file.read_text())
    output = clean_failure(cli(tmp_path, "train", "--data", str(path), "--out", str(tmp_path / "m")))
    assert "line 1: not a JSON object" in output
    assert not (tmp_path / "m").exists()


def test_mixed_files_are_refused_naming_the_line(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    requests_first = tmp_path / "a.jsonl"
    write_jsonl([*rows[:3], logged_rows(1)[0]], requests_first)
    output = clean_failure(cli(tmp_path, "backtest", "--no-progress", "--data", str(requests_first)))
    assert "line 4 is an `export-training` row but the file started with score requests" in output
    logged_first = tmp_path / "b.jsonl"
    write_jsonl([*logged_rows(5), rows[0]], logged_first)
    output = clean_failure(cli(tmp_path, "backtest", "--no-progress", "--data", str(logged_first)))
    assert "line 6 is a score request but the file started with exported features" in output


def test_non_string_label_time_is_skipped_on_every_row(rows: list[dict[str, Any]]) -> None:
    settings = load_settings(data_dir=Path("unused"))
    sample = [dict(r) for r in rows[:300]]
    fraud = next(i for i, r in enumerate(sample) if r["label"] == "fraud")
    legit = next(i for i, r in enumerate(sample) if r["label"] == "legit")
    sample[fraud]["label_time"] = 12345
    sample[legit]["label_time"] = ["2026-01-06T00:00:00Z"]
    result = replay(sample, settings=settings)
    assert result.skipped == 2 and result.y.size == len(sample) - 2


def test_logged_rows_of_the_wrong_type_are_skipped_and_counted() -> None:
    good = logged_rows(20)
    good[5]["label"] = ["fraud"]
    good[6]["rules"] = 5
    good[7]["event_time"] = 1767225600
    good[8]["label"] = {"x": 1}
    result = read_logged([*good, [1, 2], "text", None])
    assert result.skipped == 7 and result.y.size == 16


def test_backtest_of_a_replay_prints_full_tables_and_strict_json(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    changed = [dict(r) for r in rows]
    fraud = next(i for i, r in enumerate(changed) if r["label"] == "fraud")
    changed[fraud]["label_time"] = 12345
    path = tmp_path / "jane.doe@example.com-lt.jsonl"  # a file named after its subject
    write_jsonl(changed, path)
    out = tmp_path / "reports" / "r.json"  # a missing folder is made
    result = cli(tmp_path, "backtest", "--no-progress", "--data", str(path), "--json", str(out))
    assert result.exit_code == 0, repr(result.exception)
    report = strict_json(out.read_text())
    assert report["data"]["rows_skipped"] == 1  # docs/backtest.md: skipped and counted
    assert report["data"]["rows_skipped_why"] == {"with an invalid label_time": 1}  # and why
    assert "jane.doe" not in report["data"]["path"] and "[email]" in report["data"]["path"]  # as logs
    assert "(1 skipped: 1 with an invalid label_time)" in result.output
    assert "replayed orders" in result.output and f"rules {report['rules_version']}" in result.output
    table = result.output.split("Rules on the test rows")[1]  # CliRunner: not a terminal, 80 columns
    header = " ".join(table.splitlines()[2:4])  # two-line headers
    for name in ("rule", "action", "hits", "frauds", "precision", "recall", "beyond", "model"):
        assert name in header, header
    first = next(line for line in table.splitlines() if "allowlisted" in line)
    assert first.count("│") == 10  # nine columns, none cut off
    assert "new_account_high_value " in table  # the longest rule id is not folded


def test_backtest_of_logged_rows_names_no_rules_version(tmp_path: Path) -> None:
    good = logged_rows(400)
    good[5]["label"] = ["fraud"]
    good[6]["rules"] = 5
    path = tmp_path / "logged.jsonl"
    write_jsonl(good, path)
    out = tmp_path / "r.json"
    result = cli(tmp_path, "backtest", "--no-progress", "--data", str(path), "--json", str(out))
    assert result.exit_code == 0, result.output
    assert strict_json(out.read_text())["data"]["rows_skipped"] == 2
    assert "398 logged orders" in result.output and "replayed" not in result.output
    assert "rules None" not in result.output and "live when each order was scored" in result.output


# --- option values and output paths: refused before any replay -------------------------------

@pytest.mark.parametrize("args", [
    ["--min-reject-precision", "nan"],
    ["--review-capacity", "nan"],
    ["--test-fraction", "nan"],
    ["--label-delay-days", "nan"],
    ["--label-delay-days", "inf"],
    ["--label-delay-days", "1e9"],
    ["--seed", "-1"],
    ["--seed", "99999999999"],
])
@pytest.mark.parametrize("command", ["backtest", "train"])
def test_training_options_out_of_range_are_usage_errors(
    command: str, args: list[str], tmp_path: Path
) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("not read: the options fail first\n")
    out = ["--out", str(tmp_path / "m")] if command == "train" else []
    clean_failure(cli(tmp_path, command, "--data", str(data), *out, *args), code=2)


def test_unwritable_outputs_fail_before_reading(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("not read: the output check fails first\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for args in (["backtest", "--data", str(data), "--json", str(blocker / "report.json")],
                 ["backtest", "--data", str(data), "--json", str(tmp_path)],
                 ["train", "--data", str(data), "--out", str(blocker)],
                 ["train", "--data", str(data), "--out", str(blocker / "m")],
                 ["simulate", "--orders", "5", "--out", str(tmp_path)],
                 ["simulate", "--orders", "5", "--out", str(blocker / "s.jsonl")],
                 ["export-training", "--out", str(blocker / "t.jsonl")],
                 ["backtest", "--data", str(data), "--save-replay", f"{tmp_path / 'newdir'}/"],
                 ["export", "cust-1", "--out", f"{tmp_path / 'newdir'}/"],
                 # an unset $DIR wrote the model's three files into the current folder
                 ["train", "--data", str(data), "--out", ""],
                 # "-" wrote a file called "-": no option here writes to standard output
                 ["backtest", "--data", str(data), "--json", "-"],
                 ["simulate", "--orders", "5", "--out", "-"],
                 ["export", "cust-1", "--out", "-"]):
        clean_failure(cli(tmp_path, *args), code=2)
    assert not (Path.cwd() / "-").exists() and not (Path.cwd() / "model.joblib").exists()
    assert blocker.read_text() == "x"
    assert not (tmp_path / "newdir").exists()  # a name ending in / is a folder, never a file


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder holding one file, neither of which this process may write: mode 0555/0444, or,
    as root (whom modes do not stop), the immutable attribute."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    (folder / "report.json").write_text("kept")
    if os.geteuid() != 0:
        (folder / "report.json").chmod(0o444)
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    done = subprocess.run(["chattr", "+i", str(folder / "report.json"), str(folder)],
                          capture_output=True, check=False) if shutil.which("chattr") else None
    if done is None or done.returncode != 0:
        pytest.skip("running as root without chattr +i: no folder here is read-only to this test")
    yield folder
    subprocess.run(["chattr", "-i", str(folder / "report.json"), str(folder)], check=True)


def test_outputs_in_a_read_only_folder_fail_before_reading(tmp_path: Path, read_only_folder: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("not read: the output check fails first\n")
    for args, why in (
        (["backtest", "--data", str(data), "--json", str(read_only_folder / "report.json")],
         "report.json is not writable"),
        (["backtest", "--data", str(data), "--json", str(read_only_folder / "new.json")], "cannot write in"),
        (["backtest", "--data", str(data), "--save-replay", str(read_only_folder / "r.jsonl.gz")],
         "cannot write in"),
        (["train", "--data", str(data), "--out", str(read_only_folder / "model")], "cannot write in"),
        (["train", "--data", str(data), "--out", str(read_only_folder / "a" / "b")], "cannot write in"),
        (["simulate", "--orders", "5", "--out", str(read_only_folder / "s.jsonl")], "cannot write in"),
        (["export-training", "--out", str(read_only_folder / "t.jsonl.gz")], "cannot write in"),
    ):
        assert why in clean_failure(cli(tmp_path, *args), code=2), args
    assert sorted(p.name for p in read_only_folder.iterdir()) == ["report.json"]
    assert (read_only_folder / "report.json").read_text() == "kept"


def test_no_output_replaces_the_service_s_database_secrets_or_logs(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    var = tmp_path / "var"
    (var / "secrets.json").exists() or (var / "secrets.json").write_text("{}")
    (var / "logs").mkdir(exist_ok=True)
    kept = {p: p.read_bytes() for p in var.iterdir() if p.is_file()}
    data = tmp_path / "d.jsonl"
    data.write_text("not read: the output check fails first\n")
    for target, what in ((var / "fraudscreen.db", "the service's database"),
                         (var / "fraudscreen.db-wal", "the service's database"),
                         (var / "nowhere" / ".." / "fraudscreen.db", "the service's database"),
                         (var / "secrets.json", "the service's secrets file"),
                         (var / "no" / "such" / ".." / ".." / "secrets.json", "the service's secrets file"),
                         (var / "logs" / "fraudscreen-2026-12-07.log", "in the service's log directory"),
                         (var / "logs" / "new" / ".." / "x.log", "in the service's log directory")):
        for args in (["export-training", "--out", str(target)],
                     ["backtest", "--data", str(data), "--json", str(target)],
                     ["backtest", "--data", str(data), "--save-replay", str(target)],
                     ["simulate", "--orders", "5", "--out", str(target)],
                     ["export", "cust-1", "--out", str(target)]):
            result = cli(tmp_path, *args)
            clean_failure(result, code=2)
            assert what in result.output, result.output
    assert {p: p.read_bytes() for p in var.iterdir() if p.is_file()} == kept
    assert not (var / "nowhere").exists() and not (var / "no").exists()
    assert cli(tmp_path, "export-training", "--out", str(var / "training.jsonl")).exit_code == 0
    # past the output check: the account holds nothing (an export with data: test_privacy_*)
    assert "No data is held" in cli(tmp_path, "export", "cust-1", "--out", str(var / "cust-1.json")).output


def test_outputs_are_regular_files_never_links_devices_or_fifos(tmp_path: Path) -> None:
    """An output is written beside and renamed into place: it would replace a link, a FIFO or
    a device (as root, /dev/full became a file) instead of writing to it."""
    data = tmp_path / "d.jsonl"
    data.write_text("not read: the output check fails first\n")
    real = tmp_path / "real.json"
    real.write_text("kept")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for target, why in ((link, "is a symbolic link"), (fifo, "is not a regular file"),
                        (Path("/dev/null"), "is not a regular file"),
                        (tmp_path / ("a" * 300 + ".json"), "cannot use"),  # a name too long
                        ("", "an empty name names no file")):
        for args in (["backtest", "--data", str(data), "--json", str(target)],
                     ["simulate", "--orders", "5", "--out", str(target)],
                     ["export-training", "--out", str(target)]):
            assert why in " ".join(clean_failure(cli(tmp_path, *args), code=2).split()), args
    assert link.is_symlink() and real.read_text() == "kept" and fifo.is_fifo()


def test_no_output_replaces_the_service_s_rules_or_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only ``train --out`` may write the bundle the service loads (``make model`` does)."""
    service = tmp_path / "service"
    shutil.copytree(SHIPPED_MODEL_DIR, service / "model")
    shutil.copy(PACKAGE_DIR / "rules" / "default.toml", service / "rules.toml")
    monkeypatch.setenv("FRAUDSCREEN_MODEL_PATH", str(service / "model"))
    monkeypatch.setenv("FRAUDSCREEN_RULES_PATH", str(service / "rules.toml"))
    kept = {p: p.read_bytes() for p in service.rglob("*") if p.is_file()}
    data = tmp_path / "d.jsonl"
    data.write_text("not read: the output check fails first\n")
    for target, what in ((service / "rules.toml", "the service's rules file"),
                         (service / "model" / "model.joblib", "the service's model bundle"),
                         (service / "model" / "MODEL_CARD.md", "the service's model bundle")):
        for args in (["backtest", "--data", str(data), "--json", str(target)],
                     ["backtest", "--data", str(data), "--test-orders", str(target)],
                     ["simulate", "--orders", "5", "--out", str(target)]):
            assert what in " ".join(clean_failure(cli(tmp_path, *args), code=2).split()), args
    other = tmp_path / "other"
    shutil.copytree(SHIPPED_MODEL_DIR, other)
    result = cli(tmp_path, "backtest", "--data", str(data), "--compare", str(other),
                 "--json", str(other / "model.joblib"))
    assert "--json and --compare name the same file" in " ".join(clean_failure(result, code=2).split())
    assert {p: p.read_bytes() for p in service.rglob("*") if p.is_file()} == kept


@pytest.mark.parametrize("city", ["missing.mmdb", "orders.jsonl"])  # absent; not a database
def test_train_and_backtest_refuse_to_replay_without_the_geoip_database(
    data_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, city: str
) -> None:
    """The service answers "degraded" without it; a replay would train a model on orders that
    all lack their IP data, and say nothing."""
    monkeypatch.setenv("FRAUDSCREEN_GEOIP_CITY_PATH", str(tmp_path / city))
    for args in (["backtest", "--no-progress", "--data", str(data_file)],
                 ["train", "--no-progress", "--data", str(data_file), "--out", str(tmp_path / "m")]):
        failure = " ".join(clean_failure(cli(tmp_path, *args)).split())
        assert "city database" in failure and "would lack the IP data" in failure, failure
    assert not (tmp_path / "m").exists()


def test_export_writes_the_account_to_a_file_whole(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var")
    open_store(settings).close()  # migrate
    screener, _ = screen_live(settings, rows[:20])
    screener.store.close()
    account = rows[0]["account"]["user_id"]
    out = tmp_path / "account.json"
    result = cli(tmp_path, "export", account, "--out", str(out))
    assert result.exit_code == 0 and result.output == "", result.output
    assert json.loads(out.read_text())["account_id"] == account
    printed = cli(tmp_path, "export", account)
    assert json.loads(printed.output)["account_id"] == account


def test_commands_that_need_no_database_ignore_a_bad_database_url(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", "not a url")
    result = cli(tmp_path, "simulate", "--orders", "5", "--out", str(tmp_path / "s.jsonl"))
    assert result.exit_code == 0, result.output


def test_train_and_its_save_replay_never_meet_through_a_missing_folder(data_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = cli(tmp_path, "train", "--data", str(data_file), "--out", str(out),
                 "--save-replay", str(out / "nowhere" / ".." / "model.joblib"))
    clean_failure(result, code=2)
    assert "name the same file" in result.output
    result = cli(tmp_path, "backtest", "--data", str(data_file), "--json",
                 str(tmp_path / "nowhere" / ".." / data_file.name))
    clean_failure(result, code=2)
    assert "--json and --data name the same file" in " ".join(result.output.split())


def test_train_s_outputs_and_data_must_be_files_of_their_own(data_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = cli(tmp_path, "train", "--data", str(data_file), "--out", str(out),
                 "--save-replay", str(out / "model.joblib"))
    clean_failure(result, code=2)
    assert "--save-replay and --out's model.joblib name the same file" in " ".join(result.output.split())
    trained, changed = tmp_path / "trained", json.loads(data_file.read_text().splitlines()[3])
    changed["label"] = "maybe"
    data_file.write_text(data_file.read_text() + json.dumps(changed) + "\n")
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path / "var"), "train", "--data", str(data_file), "--out", str(trained)])
    assert result.exit_code == 0, result.output
    assert "\nWarning: 1 of 801 rows were skipped: 1 with a label other than fraud" in result.stderr
    card_text = (trained / "MODEL_CARD.md").read_text()
    assert "1 rows skipped: 1 with a label other than fraud or legit" in card_text
    # the held-out figures say they used labels reported after the test start, and what a
    # retrain with the labels known then reaches (or why it could not be trained)
    assert "These figures use labels reported after the first test order" in card_text
    as_a_retrain = json.loads((trained / "model_card.json").read_text())["metrics_held_out_as_a_retrain"]
    assert "problem" in as_a_retrain or as_a_retrain["train_frauds_not_yet_known"] is not None
    piped = tmp_path / "pipe"
    import os

    os.mkfifo(piped)
    for command in (["backtest"], ["train", "--out", str(out)]):
        result = cli(tmp_path, *command, "--data", str(piped))
        clean_failure(result, code=2)
        assert "is not a regular file" in result.output
        result = cli(tmp_path, *command, "--data", str(data_file), "--rules", str(piped))  # never waits
        clean_failure(result, code=2)
        assert "is not a regular file" in result.output
    assert not out.exists()


@pytest.mark.parametrize("version", ["", "  ", "v1\nINFO forged", "x" * 65, "4111 1111 1111 1111",
                                     "jane@example.org", "v\u202e1gpj.exe", "v\u200b1", " v1 "])
def test_train_refuses_a_version_the_answers_could_not_carry(tmp_path: Path, version: str) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("not read: the option check fails first\n")
    result = cli(tmp_path, "train", "--data", str(data), "--out", str(tmp_path / "m"), "--version", version)
    assert "--version" in clean_failure(result, code=2)
    assert not (tmp_path / "m").exists()


def test_simulate_checks_start_and_orders(tmp_path: Path) -> None:
    clean_failure(cli(tmp_path, "simulate", "--orders", "5", "--start", "notadate",
                      "--out", str(tmp_path / "s.jsonl")), code=2)
    clean_failure(cli(tmp_path, "simulate", "--orders", "-3", "--out", str(tmp_path / "n.jsonl")), code=2)
    clean_failure(cli(tmp_path, "simulate", "--orders", "5", "--per-day", "nan",
                      "--out", str(tmp_path / "n.jsonl")), code=2)
    assert not (tmp_path / "n.jsonl").exists()
    ok = cli(tmp_path, "simulate", "--orders", "5", "--start", "2026-03-01T00:00:00",
             "--out", str(tmp_path / "new" / "s.jsonl"))
    assert ok.exit_code == 0, ok.output
    first = next(iter_jsonl(tmp_path / "new" / "s.jsonl"))
    assert datetime.fromisoformat(first["event"]["time"]) >= datetime(2026, 3, 1, tzinfo=UTC)


def test_export_training_since_after_until_is_a_usage_error(tmp_path: Path) -> None:
    clean_failure(cli(tmp_path, "export-training", "--out", str(tmp_path / "t.jsonl"),
                      "--since", "2026-02-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z"), code=2)
    assert not (tmp_path / "t.jsonl").exists()


def test_failed_export_training_keeps_the_previous_file(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var")
    open_store(settings).close()  # migrate
    screener, _ = screen_live(settings, rows[:150])
    out = tmp_path / "training.jsonl.gz"
    assert cli(tmp_path, "export-training", "--out", str(out)).exit_code == 0
    before = out.read_bytes()
    assert list(iter_jsonl(out))
    clean_failure(cli(tmp_path, "export-training", "--out", str(out), "--label-delay-days", "1e7"), code=2)
    with pytest.raises(OverflowError):  # fails part-way, after rows were written
        export_labelled(screener.store, out, label_delay=timedelta(days=999_999_999))
    screener.store.close()
    assert out.read_bytes() == before  # written to a temporary file and renamed only when complete
    assert [p.name for p in tmp_path.iterdir() if "training" in p.name] == ["training.jsonl.gz"]


def test_a_command_s_sigterm_handler_ends_with_the_command(tmp_path: Path) -> None:
    """It raises SystemExit to clean up: left in place, a process that runs commands in turn
    (these tests, a notebook) kept it, and a worker forked later ran the parent's clean-ups."""
    import signal

    before = signal.getsignal(signal.SIGTERM)
    assert cli(tmp_path, "simulate", "--orders", "5", "--out", str(tmp_path / "s.jsonl")).exit_code == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_interrupted_simulate_keeps_the_previous_file(tmp_path: Path) -> None:
    out = tmp_path / "orders.jsonl.gz"
    write_jsonl([{"label": "legit"}], out)
    before = out.read_bytes()
    with start_in_a_terminal(["simulate", "--orders", "1000000", "--out", str(out)], tmp_path / "var") as process:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".orders.jsonl.gz.*.partial.gz")):  # writing has begun
            assert process.poll() is None and time.monotonic() < deadline, "no partial file appeared"
            time.sleep(0.05)
        err = press_ctrl_c(process)
    assert process.returncode == 130 and "Aborted!" in err and "Traceback" not in err, err
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if "orders" in p.name] == ["orders.jsonl.gz"]


# --- store commands --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["", "   ", "a\tb", "line\nbreak", "x" * 201, "4111 1111 1111 1111",
                                  "bob@example.com", "bob＠example.com"])
def test_apikeys_create_refuses_bad_names(name: str, tmp_path: Path) -> None:
    clean_failure(cli(tmp_path, "apikeys", "create", "--name", name), code=2)
    assert not (tmp_path / "var").exists()  # refused before the database is opened


def test_lists_commands_check_their_arguments(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    clean_failure(cli(tmp_path, "lists", "remove", "block", "ip", "999.1.1.1"), code=2)
    clean_failure(cli(tmp_path, "lists", "remove", "block", "bogus", "x"), code=2)
    clean_failure(cli(tmp_path, "lists", "show", "bogus"), code=2)
    assert cli(tmp_path, "lists", "add", "block", "ip", "10.0.0.1").exit_code == 0
    shown = cli(tmp_path, "lists", "show", "block")
    assert shown.exit_code == 0 and "10.0.0.1" in shown.output
    assert cli(tmp_path, "lists", "remove", "block", "ip", "10.0.0.1").exit_code == 0
    assert "no such entry" in clean_failure(cli(tmp_path, "lists", "remove", "block", "ip", "10.0.0.1"))


@pytest.mark.parametrize("args", [
    ["add", "block", "account_id", "4111-1111-1111-1111"],
    ["add", "block", "device_id", "dev-1", "--note", "card 4111 1111 1111 1111 of jane@example.org"],
    ["remove", "block", "account_id", "4111 1111 1111 1111"],
], ids=["value", "note", "remove"])
def test_lists_commands_refuse_card_numbers(args: list[str], tmp_path: Path) -> None:
    """As the API does (card_number_refused): nothing stored or audited, the number not echoed."""
    output = clean_failure(cli(tmp_path, "lists", *args), code=2)
    assert "full card number" in output and "4111" not in output
    assert ("--note" if "--note" in args else "VALUE") in output
    assert not (tmp_path / "var").exists()  # refused before the database is opened


def test_lists_add_refuses_an_overlong_note_by_name(tmp_path: Path) -> None:
    """One limit for the API and the CLI (the store's column): refused, never cut."""
    from fraudscreen.rules.lists import NOTE_MAX

    output = clean_failure(cli(tmp_path, "lists", "add", "block", "device_id", "d", "--note",
                               "n" * (NOTE_MAX + 1)), code=2)
    assert "--note" in output and f"at most {NOTE_MAX} characters" in output
    assert not (tmp_path / "var").exists()
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    added = cli(tmp_path, "lists", "add", "block", "device_id", "d", "--note", "n" * NOTE_MAX)
    assert added.exit_code == 0, added.output
    store = open_store(load_settings(data_dir=tmp_path / "var"))
    try:
        assert [len(r.note) for r in store.list_entries()] == [NOTE_MAX]
    finally:
        store.close()


def test_lists_add_refuses_an_email_hash_that_could_never_match(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    for value in ("0" * 32, "jane@example.org"):  # an MD5 from elsewhere; a raw email
        output = clean_failure(cli(tmp_path, "lists", "add", "block", "email_hash", value), code=2)
        assert "64 hexadecimal digits" in output and "fraudscreen export" in output
        assert "jane@" not in output
    assert cli(tmp_path, "lists", "add", "block", "email_hash", "AB" * 32).exit_code == 0
    assert "ab" * 32 in cli(tmp_path, "lists", "show").output


def test_bad_database_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", "bogus://x")
    assert ("cannot open the database: its URL (FRAUDSCREEN_DATABASE_URL) names 'bogus'; fraudscreen "
            "runs on SQLite and PostgreSQL") in clean_failure(cli(tmp_path, "db", "upgrade"), code=1)
    for garbage in ("garbage", "mysql://u@h/db"):
        monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", garbage)
        assert "FRAUDSCREEN_DATABASE_URL" in clean_failure(cli(tmp_path, "db", "upgrade"), code=1)
    monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", "mysql://u@h/db")
    for args in (["lists", "show"], ["apikeys", "list"], ["purge"]):  # read the schema version first
        assert "names 'mysql'; fraudscreen runs on SQLite and PostgreSQL" in clean_failure(
            cli(tmp_path, *args), code=1), args
    for memory in ("sqlite://", "sqlite:///:memory:"):  # gone when the command ends
        monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", memory)
        for args in (["db", "upgrade"], ["apikeys", "create", "--name", "x"]):
            assert "names an in-memory SQLite database" in clean_failure(cli(tmp_path, *args), code=1)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", f"sqlite:///{blocker}/sub/fraudscreen.db")
    for args in (["db", "upgrade"], ["apikeys", "list"], ["export-training", "--out", str(tmp_path / "t.jsonl")],
                 ["purge"]):
        clean_failure(cli(tmp_path, *args), code=1)


def test_data_dir_that_is_a_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    clean_failure(CliRunner().invoke(main, ["--data-dir", str(blocker), "db", "upgrade"]), code=2)
    monkeypatch.setenv("FRAUDSCREEN_DATA_DIR", str(blocker))
    assert "is a file" in clean_failure(CliRunner().invoke(main, ["db", "upgrade"]), code=1)


def test_serve_port_and_erase_account_are_checked(tmp_path: Path) -> None:
    clean_failure(cli(tmp_path, "serve", "--port", "99999"), code=2)
    clean_failure(cli(tmp_path, "serve", "--workers", "0"), code=2)
    # a port in the host was listened on instead of --port; a name that does not resolve, an
    # address of no interface here and a port in use made gunicorn retry for 5 s: one line each,
    # before an API key is made and shown for a server that does not start
    assert "without a port" in clean_failure(cli(tmp_path, "serve", "--host", "localhost:9000"))
    assert "does not resolve" in clean_failure(cli(tmp_path, "serve", "--host", "x.invalid"))
    assert "192.0.2.1:8000" in clean_failure(cli(tmp_path, "serve", "--host", "192.0.2.1"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert "the port is in use" in clean_failure(cli(tmp_path, "serve", "--port", port))
    clean_failure(cli(tmp_path, "erase", "", "--yes"), code=2)
    clean_failure(cli(tmp_path, "export", " "), code=2)
    assert not (tmp_path / "var").exists()


def test_score_refuses_non_utf8_and_deep_json(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"x": "\xe9"}')
    assert "not UTF-8" in clean_failure(cli(tmp_path, "score", str(bad)), code=1)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 30_000 + "]" * 30_000)  # within the 64 KiB body limit
    assert "nested too deeply" in clean_failure(cli(tmp_path, "score", str(deep)), code=1)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"device": {"ip_address": "81.2.69.142"}, "pad": "x" * 70_000}))
    failure = clean_failure(cli(tmp_path, "score", str(big)), code=1)
    assert "larger than 65536 bytes" in failure and "xxxx" not in failure
    assert not (tmp_path / "var").exists()  # the input is read before the database is opened
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    fits = tmp_path / "fits.json"  # the same order, padded to just under the limit, is screened
    padding = 65_536 - len(json.dumps({"device": {"ip_address": "81.2.69.142"}, "pad": ""}))
    fits.write_text(json.dumps({"device": {"ip_address": "81.2.69.142"}, "pad": "x" * padding}))
    assert fits.stat().st_size == 65_536
    screened = cli(tmp_path, "score", str(fits))
    assert screened.exit_code == 0, screened.output
    assert json.loads(screened.output)["decision"] in ("accept", "review", "reject")
    assert "not valid JSON" in clean_failure(cli(tmp_path, "score", "-"), code=1)  # empty input
    nan = tmp_path / "nan.json"  # read as the API reads it: RFC 8259, the place named
    nan.write_text('{"device": {"ip_address": "81.2.69.142"}, "order": {"amount": NaN}}')
    failure = clean_failure(cli(tmp_path, "score", str(nan)), code=1)
    assert "not valid JSON at /order/amount: NaN, Infinity" in failure


# --- commands that only read or delete need an existing database ----------------------------

MUST_EXIST = [
    ["erase", "cust-42", "--yes"],
    ["erase", "cust-42"],  # refused before the confirmation question
    ["export", "cust-42"],
    ["export-training", "--out", "{tmp}/training.jsonl"],
    ["purge"],
    ["apikeys", "list"],
    ["apikeys", "revoke", "key-1"],
    ["lists", "show"],
    ["lists", "remove", "block", "ip", "10.0.0.1"],
]


@pytest.mark.parametrize("args", MUST_EXIST, ids=lambda a: " ".join(a[:2]))
def test_read_and_delete_commands_refuse_a_missing_database(args: list[str], tmp_path: Path) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = cli(tmp_path, *args)
    output = clean_failure(result, code=1)
    database = (tmp_path / "var" / "fraudscreen.db").resolve()
    assert f"no database at {database}" in output
    assert f"data directory {(tmp_path / 'var').resolve()}" in output
    for words in ("--data-dir", "FRAUDSCREEN_DATA_DIR", "FRAUDSCREEN_DATABASE_URL", "db upgrade", "serve"):
        assert words in output
    assert "Erase this account" not in output and "{" not in output  # no question, no empty report
    assert not (tmp_path / "var").exists()  # neither the database nor its folder was made
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_missing_database_url_file_is_named_and_not_created(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "elsewhere" / "screening.db"
    monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", f"sqlite:///{missing}")
    output = clean_failure(cli(tmp_path, "erase", "cust-42", "--yes"), code=1)
    assert f"no database at {missing}" in output
    assert not missing.parent.exists() and not (tmp_path / "var").exists()


def test_erase_works_once_the_database_exists(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    result = cli(tmp_path, "erase", "cust-42", "--yes")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert not any(report["removed"].values())
    listed = cli(tmp_path, "apikeys", "list")
    assert listed.exit_code == 0 and listed.output == ""


def test_database_exists_is_false_only_for_a_missing_sqlite_file(tmp_path: Path) -> None:
    from fraudscreen.errors import StoreError
    from fraudscreen.store import database_exists, sqlite_file

    present = tmp_path / "present.db"
    present.write_bytes(b"")
    assert database_exists(f"sqlite:///{present}") is True
    assert database_exists(f"sqlite:///{tmp_path / 'absent.db'}") is False
    assert database_exists(f"sqlite:///file:{tmp_path / 'absent.db'}?mode=ro&uri=true") is False
    assert sqlite_file(f"sqlite:///file:{tmp_path / 'absent.db'}?mode=ro&uri=true") == tmp_path / "absent.db"
    for url in ("sqlite:///:memory:", "sqlite://", "sqlite:///file:mem?mode=memory&uri=true",
                "postgresql://fraud@db.invalid/fraudscreen", "postgresql+psycopg://fraud@db.invalid/x"):
        assert database_exists(url) is True, url
        assert sqlite_file(url) is None, url
    assert not (tmp_path / "absent.db").exists()
    with pytest.raises(StoreError):
        database_exists("not a url")


# --- ... and one that is the service's: not an empty file, not another database ------------

@pytest.mark.parametrize("args", [["erase", "cust-42", "--yes"], ["export", "cust-42"], ["lists", "show"]],
                         ids=lambda a: a[0])
def test_read_and_delete_commands_refuse_a_database_without_the_schema(
        args: list[str], empty_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 0-byte SQLite file, or a PostgreSQL URL naming another existing database: nothing is
    migrated into it, and no empty erasure or export is reported."""
    from fraudscreen.store import has_schema, sqlite_file

    monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", empty_store_url)
    path = sqlite_file(empty_store_url)
    if path is not None:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    output = clean_failure(cli(tmp_path, *args), code=1)
    where = str(path) if path is not None else empty_store_url.rsplit("/", 1)[-1]
    assert f"the database at {where}" in output and "has no fraudscreen tables" in output
    assert "db upgrade" in output and "{" not in output
    assert has_schema(empty_store_url) is False
    if path is not None:
        assert path.stat().st_size == 0 and [p.name for p in path.parent.iterdir()] == [path.name]
    else:
        assert not (tmp_path / "var").exists()
        import sqlalchemy as sa

        engine = sa.create_engine(empty_store_url)
        try:
            assert sa.inspect(engine).get_table_names() == []
        finally:
            engine.dispose()
    assert cli(tmp_path, "db", "upgrade").exit_code == 0  # made the service's database: it works
    assert has_schema(empty_store_url) is True
    assert cli(tmp_path, *args).exit_code in (0, 1)
    assert "no fraudscreen tables" not in cli(tmp_path, *args).output


def test_has_schema_only_reads_and_knows_its_own_migrations(tmp_path: Path) -> None:
    import sqlite3

    from fraudscreen.store import has_schema

    missing = tmp_path / "absent.db"
    assert has_schema(f"sqlite:///{missing}") is False and not missing.exists()
    assert has_schema("sqlite://") is False
    other = tmp_path / "other app.db"  # another Alembic-managed application's database
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    conn.execute("INSERT INTO alembic_version VALUES ('0123abcd')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    assert has_schema(f"sqlite:///{other}") is False
    assert other.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["other app.db"]


@pytest.mark.parametrize("case", ["server", "not a database", "directory"])
def test_a_database_that_cannot_be_opened_is_named_with_its_cause(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One line naming the server or file and why, not "database migration failed
    (OperationalError)"; a read or delete command creates nothing."""
    database = tmp_path / "var" / "fraudscreen.db"
    if case == "server":  # nothing listens on port 1
        monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", "postgresql+psycopg://fraud@127.0.0.1:1/fraudscreen")
        expected = "cannot connect to the database server at 127.0.0.1:1 ("
    elif case == "not a database":
        database.parent.mkdir()
        database.write_text("hello\n")
        expected = f"{database} is not a SQLite database"
    else:
        database.mkdir(parents=True)
        expected = f"{database} is a directory, not a SQLite database"
    for args in (["erase", "cust-42", "--yes"], ["lists", "show"]):
        output = clean_failure(cli(tmp_path, *args), code=1)
        assert expected in output and "OperationalError" not in output, output
    if case == "server":
        assert not (tmp_path / "var").exists()
    else:
        assert [p.name for p in database.parent.iterdir()] == ["fraudscreen.db"]
        assert not database.is_file() or database.read_text() == "hello\n"
    assert expected in clean_failure(cli(tmp_path, "db", "upgrade"), code=1)  # migrating says why too


@pytest.mark.parametrize("spelling", ["true", "True", "yes", "on", "1"])
def test_a_sqlite_uri_flag_is_read_as_sqlalchemy_reads_it(spelling: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """uri=True/yes/on make a SQLite URI for SQLAlchemy: the database inside it is found, and
    no directory named "file:..." is made."""
    from fraudscreen.store import sqlite_file

    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", f"sqlite:///file:var/fraudscreen.db?uri={spelling}")
    assert sqlite_file(f"sqlite:///file:var/fraudscreen.db?uri={spelling}") == Path("var/fraudscreen.db")
    result = CliRunner().invoke(main, ["--data-dir", "elsewhere", "lists", "show"])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["--data-dir", "var", "db", "upgrade"]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]  # no "file:var", no "elsewhere"


def test_a_sqlite_uri_flag_that_is_off_or_unreadable(tmp_path: Path) -> None:
    from fraudscreen.errors import StoreError
    from fraudscreen.store import sqlite_file

    for spelling in ("false", "no", "off", "0"):  # not a URI: the whole text is the file name
        assert sqlite_file(f"sqlite:///file:db.sqlite?uri={spelling}") == Path("file:db.sqlite")
    with pytest.raises(StoreError, match="uri flag"):
        sqlite_file("sqlite:///file:db.sqlite?uri=maybe")


@pytest.mark.parametrize("command", ["erase", "export"])
def test_an_account_id_that_is_a_card_number_is_refused(command: str, tmp_path: Path) -> None:
    """The audit log keeps the id it was asked for: never a card number."""
    output = clean_failure(cli(tmp_path, command, "4111-1111-1111-1111", "--yes")
                           if command == "erase" else cli(tmp_path, command, "4111-1111-1111-1111"), code=2)
    assert "card number" in output and "4111" not in output


def test_lists_add_refuses_an_email_address_in_the_note(tmp_path: Path) -> None:
    """Raw emails are never kept (P2): a note naming one is refused, and it is not echoed."""
    output = clean_failure(cli(tmp_path, "lists", "add", "block", "device_id", "d", "--note",
                               "used by Jane.Doe+shop@example.org"), code=2)
    assert "--note" in output and "email address" in output
    assert "example.org" not in output and not (tmp_path / "var").exists()


def test_a_database_migrated_by_a_newer_release_is_one_clear_line_for_every_command(tmp_path: Path) -> None:
    import sqlite3

    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    with sqlite3.connect(tmp_path / "var" / "fraudscreen.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    for args in (("db", "upgrade"), ("export", "acct-a"), ("lists", "show"), ("db", "downgrade", "0002")):
        message = clean_failure(cli(tmp_path, *args))
        assert "at migration 0099, newer than this release knows" in message, args
        assert "no fraudscreen tables" not in message


def _revision(tmp_path: Path) -> str:
    import sqlite3

    with sqlite3.connect(tmp_path / "var" / "fraudscreen.db") as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_db_downgrade_then_upgrade(tmp_path: Path) -> None:
    from fraudscreen.store import latest_revision

    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    head = latest_revision()
    for target in ("nope", "base", "", " ", head):  # base dropped every table, "" was a traceback
        assert "must be one of 0001, 0002" in clean_failure(cli(tmp_path, "db", "downgrade", target), code=2)
    asked = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "var"), "db", "downgrade", "0002"],
                               input="n\n")
    assert asked.exit_code == 1 and "Move the database back to migration 0002?" in asked.output
    assert _revision(tmp_path) == head  # not confirmed: nothing done
    down = cli(tmp_path, "db", "downgrade", "0002", "--yes")
    assert down.exit_code == 0 and "revision 0002" in down.output, down.output
    # a command of this release neither works on it nor moves it on (that undid the downgrade)
    for args in (("lists", "show"), ("purge",), ("export", "a-1")):
        message = clean_failure(cli(tmp_path, *args))
        assert f"is at migration 0002, before this release's {head}: run `fraudscreen db upgrade`" in message
    assert _revision(tmp_path) == "0002"
    up = cli(tmp_path, "db", "upgrade")
    assert up.exit_code == 0 and "latest revision" in up.output
    assert _revision(tmp_path) == head


def test_file_defaults_are_the_repository_s_whatever_the_working_directory() -> None:
    # `backtest` run from another folder looked for ./data/orders.jsonl.gz
    from fraudscreen.config import SAMPLE_DATA, SHIPPED_MODEL_DIR, Settings

    defaults = {(cmd, p.name): p.default for cmd in ("simulate", "train", "backtest")
                for p in main.commands[cmd].params if p.name == "data_path"}
    assert defaults == {("train", "data_path"): SAMPLE_DATA, ("backtest", "data_path"): SAMPLE_DATA}
    required = {(cmd, p.name) for cmd in ("simulate", "train")
                for p in main.commands[cmd].params if p.name == "out" and p.required}
    assert required == {("simulate", "out"), ("train", "out")}
    assert SAMPLE_DATA.is_absolute() and SAMPLE_DATA.is_file()
    assert Settings().resolved_model_path == SHIPPED_MODEL_DIR / "model.joblib"
    assert Settings().resolved_model_path.is_file()


def test_simulate_and_train_write_only_where_they_are_told(tmp_path: Path) -> None:
    """Without --out they refuse: `simulate --orders 500` replaced the shipped sample, and
    `train --data mine.jsonl` the shipped model, without a word."""
    from fraudscreen.config import SAMPLE_DATA, SHIPPED_MODEL_DIR

    before = (SAMPLE_DATA.stat().st_mtime_ns, (SHIPPED_MODEL_DIR / "model.joblib").stat().st_mtime_ns)
    for args in (["simulate", "--orders", "5"], ["train", "--data", str(SAMPLE_DATA)]):
        output = clean_failure(cli(tmp_path, *args), code=2)
        assert "Missing option '--out'" in output, output
    assert before == (SAMPLE_DATA.stat().st_mtime_ns, (SHIPPED_MODEL_DIR / "model.joblib").stat().st_mtime_ns)


def test_a_mistyped_variable_is_warned_about_and_the_command_still_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSCREEN_DATABSE_URL", "postgresql://db.example/fraud")
    result = cli(tmp_path, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert ("Warning: FRAUDSCREEN_DATABSE_URL is not a fraudscreen setting and is ignored; "
            "did you mean FRAUDSCREEN_DATABASE_URL?") in result.stderr
    assert "Warning" not in result.stdout
    assert (tmp_path / "var" / "fraudscreen.db").is_file()  # the typo left the default database


@pytest.mark.parametrize("args", [("lists", "add", "block", "ip", "5.6.7.8"),
                                  ("apikeys", "create", "--name", "checkout")])
def test_a_command_that_adds_to_a_database_never_makes_one(tmp_path: Path, args: tuple[str, ...]) -> None:
    """A mistyped --data-dir made a new database the service never reads, and said "Added"
    (and printed a key for it)."""
    message = clean_failure(cli(tmp_path, *args))
    assert "no database at" in message and "db upgrade` creates a database" in message
    assert not (tmp_path / "var").exists()


def _run(tmp_path: Path, *args: str, **popen: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*fraudscreen_command(), "--data-dir", str(tmp_path / "var"), *args],
                          text=True, timeout=60, check=False, **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE,
                                                    "stdin": subprocess.DEVNULL, **popen})


def _keys(tmp_path: Path) -> list[str]:
    return cli(tmp_path, "apikeys", "list").output.splitlines()


def test_a_key_nobody_could_see_is_not_left_valid(tmp_path: Path) -> None:
    """`apikeys create >&-` stored a valid key and said nothing; `> /dev/full` stored one and
    ended in a traceback."""
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    closed = _run(tmp_path, "apikeys", "create", "--name", "a", stdout=None, pass_fds=(),
                  preexec_fn=lambda: os.close(1))
    assert closed.returncode == 1 and "standard output is closed" in closed.stderr
    assert _keys(tmp_path) == []
    with open("/dev/full", "w") as full:
        failed = _run(tmp_path, "apikeys", "create", "--name", "b", stdout=full)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "No space left on device" in failed.stderr and "was revoked at once" in failed.stderr
    [line] = _keys(tmp_path)
    assert line.endswith("\tb\tscore,outcomes\trevoked")


def test_a_closed_standard_input_reads_as_empty(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    closed_stdin = {"stdin": None, "preexec_fn": lambda: os.close(0)}
    score = _run(tmp_path, "score", **closed_stdin)
    assert score.returncode == 1 and "Error: the input is not valid JSON" in score.stderr
    erase = _run(tmp_path, "erase", "acct-1", **closed_stdin)
    assert erase.returncode == 1 and "Aborted!" in erase.stderr and "Traceback" not in erase.stderr


@pytest.mark.parametrize(("value", "why"), [("ab\udcffcd", "must be UTF-8 text"),
                                            ("a\nb", "must not contain control characters"),
                                            ("x" * 129, "must be at most 128 characters"), (" ", "must not be empty")])
def test_an_account_id_that_names_nothing_stored_is_refused_in_one_line(tmp_path: Path, value: str, why: str) -> None:
    """Undecodable bytes were a traceback, 100,000 characters 'database read failed'."""
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    for args in (("export", value), ("erase", "--yes", value), ("apikeys", "revoke", value)):
        if args[0] == "apikeys" and "128" in why:
            continue
        assert why in clean_failure(cli(tmp_path, *args), code=2), args


@pytest.mark.parametrize("secret", ["password=hunter2", "fs_QLIV5LJabcdefghijklmnopqrstuvwx", "token: abc"])
def test_a_key_name_or_a_note_holding_a_secret_is_refused(tmp_path: Path, secret: str) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    assert "holds a secret" in clean_failure(cli(tmp_path, "apikeys", "create", "--name", secret), code=2)
    assert "must not hold a secret" in clean_failure(
        cli(tmp_path, "lists", "add", "block", "ip", "10.0.0.1", "--note", secret), code=2)
    assert _keys(tmp_path) == [] and cli(tmp_path, "lists", "show").output.strip() == ""


def test_erasing_an_id_nothing_names_says_so(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    result = cli(tmp_path, "erase", "--yes", "cust-9/")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["held"] is False
    assert "Nothing was held on this account: is the id right?" in result.stderr


def test_adding_an_entry_again_keeps_its_note_unless_one_is_given(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    assert cli(tmp_path, "lists", "add", "block", "ip", "1.2.3.4", "--note", "why").output == \
        "Added ip 1.2.3.4 to block.\n"
    again = cli(tmp_path, "lists", "add", "block", "ip", "1.2.3.4")
    assert again.output == "ip 1.2.3.4 was on block already; its note is kept.\n"
    assert "\twhy" in cli(tmp_path, "lists", "show", "block").output  # it was wiped
    replaced = cli(tmp_path, "lists", "add", "block", "ip", "1.2.3.4", "--note", "")
    assert replaced.output == "ip 1.2.3.4 was on block already; its note is replaced.\n"
    assert "why" not in cli(tmp_path, "lists", "show", "block").output


def test_an_export_to_a_gz_name_is_compressed(tmp_path: Path) -> None:
    """As every other output: it was plain JSON under a .gz name."""
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    assert cli(tmp_path, "lists", "add", "block", "account_id", "a-1").exit_code == 0
    out = tmp_path / "a-1.json.gz"
    assert cli(tmp_path, "export", "a-1", "--out", str(out)).exit_code == 0
    exported = json.loads(gzip.decompress(out.read_bytes()))
    assert exported["account_id"] == "a-1" and exported["list_entries"][0]["value"] == "a-1"


def test_score_with_a_data_directory_it_cannot_write_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets file could not be made (a FileNotFoundError traceback)."""
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    monkeypatch.setenv("FRAUDSCREEN_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'fraudscreen.db'}")
    order = tmp_path / "order.json"
    order.write_text(json.dumps({"device": {"ip_address": "81.2.69.142"}}))
    result = CliRunner().invoke(main, ["--data-dir", "/proc/self", "score", str(order)])
    assert "cannot write /proc/self/secrets" in clean_failure(result, code=1)


def test_a_value_put_on_two_lists_is_pointed_out(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    assert cli(tmp_path, "lists", "add", "block", "ip", "1.2.3.4").stderr == ""
    both = cli(tmp_path, "lists", "add", "allow", "ip", "1.2.3.4")
    assert both.exit_code == 0 and both.stdout == "Added ip 1.2.3.4 to allow.\n"
    assert both.stderr.startswith("Note: ip 1.2.3.4 is on block too; an order it matches is allowed")


def test_serve_shows_the_first_key_or_leaves_none_valid(tmp_path: Path) -> None:
    """`serve >&-` made the first key silently, and the next start made none: one existed."""
    closed = _run(tmp_path, "serve", "--port", "1", stdout=None, preexec_fn=lambda: os.close(1))
    assert closed.returncode == 1 and "standard output is closed" in closed.stderr
    assert _keys(tmp_path) == []
    with open("/dev/full", "w") as full:
        failed = _run(tmp_path, "serve", "--port", "1", stdout=full)
    assert failed.returncode == 1 and "was revoked at once" in failed.stderr
    assert [line.rsplit("\t", 1)[1] for line in _keys(tmp_path)] == ["revoked"]
