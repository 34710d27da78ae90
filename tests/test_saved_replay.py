"""``backtest --save-replay``: a replay saved once gives the same back-test when read again."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from fraudscreen.config import Settings
from fraudscreen.errors import DataFileError
from fraudscreen.training import commands
from fraudscreen.training.commands import backtest, save_replay_hint, train
from fraudscreen.training.logged import FORMAT, read_logged
from fraudscreen.training.pipeline import load_labelled
from fraudscreen.training.saved_replay import saved_replay_rows
from fraudscreen.training.simulate import simulate_orders

# What may differ between a back-test of the requests and one of their saved replay.
HOW_READ = ("created_at", "data", "replay", "model")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 simulated orders, a few of them fraud labelled 10 days after the order."""
    rows = list(simulate_orders(3000, seed=11, start=datetime(2026, 3, 2, tzinfo=UTC)))
    path = tmp_path_factory.mktemp("data") / "orders.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _backtest(args: list[str], tmp: Path) -> str:
    done = CliRunner().invoke(backtest, ["--no-progress", *args], obj=Settings(data_dir=tmp / "var"),
                              catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.output


@pytest.fixture(scope="module")
def both(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A back-test of the requests that saves its replay, and the same back-test of the saved
    replay (random split, warm-up, seeded): reports, printed tables and test-row CSVs."""
    tmp = tmp_path_factory.mktemp("both")
    saved = tmp / "replayed.jsonl.gz"
    common = ["--split", "random", "--seed", "3", "--warm-up-days", "5", "--segment-by", "billing-country",
              "--label-delay-days", "20"]
    out: dict[str, Any] = {}
    for name, source, extra in (("replay", data, ["--save-replay", str(saved)]), ("saved", saved, [])):
        printed = _backtest(["--data", str(source), *common, "--json", str(tmp / f"{name}.json"),
                                "--test-orders", str(tmp / f"{name}.csv"), *extra], tmp)
        out[name] = {"report": json.loads((tmp / f"{name}.json").read_text()), "printed": printed,
                     "csv": (tmp / f"{name}.csv").read_text(), "path": source}
    return out


def test_a_saved_replay_gives_the_same_back_test(both: dict[str, Any]) -> None:
    replay, saved = both["replay"]["report"], both["saved"]["report"]
    assert replay["replay"]["method"] == "replay" and saved["replay"]["method"] == "saved"
    assert {k: v for k, v in saved.items() if k not in HOW_READ} == \
        {k: v for k, v in replay.items() if k not in HOW_READ}
    assert saved["segments"] and saved["segment_by"] == "billing-country"
    assert saved["split"]["warm_up_rows"] == replay["split"]["warm_up_rows"] > 0
    assert saved["replay"]["label_delay_days"] == replay["replay"]["label_delay_days"] == 20
    assert saved["data"]["rows_replayed"] == replay["data"]["rows_replayed"]
    assert saved["rules_version"] == replay["rules_version"] is not None
    # The tables after the first two lines (what was read, and the model's version) are the same.
    tables = [b["printed"].splitlines() for b in (both["replay"], both["saved"])]
    assert "saved replayed orders" in tables[1][0] and "saved" not in tables[0][0]
    assert tables[0][2:-3] == tables[1][2:-2]


def test_the_test_rows_keep_their_transaction_ids_decisions_and_segments(both: dict[str, Any]) -> None:
    replay = both["replay"]["csv"].splitlines()
    saved = both["saved"]["csv"].splitlines()
    assert len(saved) == len(replay) == both["saved"]["report"]["test"]["rows"] + 1
    columns = replay[0].split(",")
    assert "transaction_id" in columns and "billing_country" in columns
    line = columns.index("line")  # the line in --data: of the requests, or of the saved file
    assert [r.split(",")[:line] + r.split(",")[line + 1:] for r in saved] == \
        [r.split(",")[:line] + r.split(",")[line + 1:] for r in replay]


def test_the_saved_rows_hold_no_personal_fields(both: dict[str, Any], data: Path) -> None:
    with gzip.open(both["saved"]["path"], "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    assert {tuple(sorted(row)) for row in rows} == {(
        "account", "event_time", "features", "format", "label", "label_time", "replayed", "rules",
        "segment", "transaction_id")}
    assert rows[0]["format"] == FORMAT
    assert rows[0]["replayed"]["segment_by"] == "billing-country"
    requests = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    # an account is a number shared by its rows in this file, never its id
    by_tx = {r["event"]["transaction_id"]: r["account"]["user_id"] for r in requests}
    pairs = {(by_tx[row["transaction_id"]], row["account"]) for row in rows}
    assert all(type(number) is int for _, number in pairs)
    assert len(pairs) == len({user for user, _ in pairs}) == len({number for _, number in pairs}) < len(rows)
    text = json.dumps(rows)
    for request in requests[:50]:
        assert request["email"]["address"] not in text
        assert request["device"]["ip_address"] not in text


def test_train_reads_a_saved_replay(both: dict[str, Any], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    out = tmp_path / "model"
    done = CliRunner().invoke(train, ["--no-progress", "--data", str(both["saved"]["path"]), "--out", str(out)],
                              obj=settings, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    card = json.loads((out / "model_card.json").read_text())
    assert card["backtest"]["replay"]["method"] == "saved"
    assert card["backtest"]["replay"]["label_delay_days"] == 20


@pytest.mark.parametrize(("args", "why"), [
    (["--segment-by", "currency"], "segments by billing-country"),
    (["--label-delay-days", "30"], "made with 20.0 days"),
    (["--rules", "fraudscreen/rules/default.toml"], "a saved replay holds the hits of the rules"),
    (["--save-replay", "again.jsonl"], "holds features already"),
])
def test_options_a_saved_replay_cannot_follow_are_refused(both: dict[str, Any], tmp_path: Path,
                                                          args: list[str], why: str) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    done = CliRunner().invoke(backtest, ["--no-progress", "--data", str(both["saved"]["path"]), *args],
                              obj=settings)
    assert done.exit_code == 2 and why in done.output, done.output
    assert not (tmp_path / "again.jsonl").exists()


def test_the_same_options_as_saved_are_accepted(both: dict[str, Any], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    done = CliRunner().invoke(backtest, ["--no-progress", "--data", str(both["saved"]["path"]),
                                    "--segment-by", "billing-country", "--label-delay-days", "20"],
                              obj=settings)
    assert done.exit_code == 0, done.output


def _saved_rows(data: Path, tmp: Path) -> list[dict[str, Any]]:
    replayed, _ = load_labelled(data, settings=Settings(data_dir=tmp), limit=300)
    rows: list[dict[str, Any]] = json.loads(json.dumps(list(saved_replay_rows(replayed))))
    return rows


def test_rows_of_two_replays_or_of_an_export_in_one_file_are_refused(data: Path, tmp_path: Path) -> None:
    rows = _saved_rows(data, tmp_path)
    assert read_logged(rows).saved == rows[0]["replayed"]
    other = [*rows[:10], {**rows[10], "replayed": {**rows[10]["replayed"], "label_delay_days": 5}}]
    with pytest.raises(DataFileError, match=r"row 11 comes from another replay than the first "
                                            r"\(its label_delay_days differ\)"):
        read_logged(other)
    export_first = [{k: v for k, v in rows[0].items() if k != "replayed"}, *rows[1:]]
    with pytest.raises(DataFileError, match="row 2 comes from a saved replay but the first from an `export"):
        read_logged(export_first)
    # read from a file, the error names the line (blank lines count), not the row
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in other[:10]) + "\n\n\n"
                    + json.dumps(other[10]) + "\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=rf"^{re.escape(str(path))}: line 13 comes from another "
                                            r"replay than the first \(its label_delay_days differ\)"):
        load_labelled(path, settings=Settings(data_dir=tmp_path / "var"))


def test_rows_replayed_with_other_features_are_refused(data: Path, tmp_path: Path) -> None:
    rows = _saved_rows(data, tmp_path)
    stale = [{**row, "replayed": {**row["replayed"], "feature_schema": "v0"}} for row in rows]
    with pytest.raises(DataFileError, match="other model features; replay the score requests again"):
        read_logged(stale)
    path = tmp_path / "stale.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in stale), encoding="utf-8")
    with pytest.raises(DataFileError, match=f"^{path}: these rows were replayed"):
        load_labelled(path, settings=Settings(data_dir=tmp_path))
    odd = [{**row, "replayed": {**row["replayed"], "segment_by": "shoe-size"}} for row in rows]
    with pytest.raises(DataFileError, match="segment_by must be one of"):
        read_logged(odd)
    for days in ("30", None, -1, True, float("inf")):
        odd = [{**row, "replayed": {**row["replayed"], "label_delay_days": days}} for row in rows]
        with pytest.raises(DataFileError, match="label_delay_days must be a number of days"):
            read_logged(odd)
    for skipped in ("3", -1, True, 2.5):
        odd = [{**row, "replayed": {**row["replayed"], "rows_skipped": skipped}} for row in rows]
        with pytest.raises(DataFileError, match="rows_skipped must be a count of rows"):
            read_logged(odd)


def test_rule_ids_and_versions_from_a_file_are_read_only_as_a_rules_file_has_them(
    data: Path, tmp_path: Path
) -> None:
    """They are printed and written to every output: an e-mail or a card number in one was."""
    rows = _saved_rows(data, tmp_path)
    for bad in ([{"id": "jane.doe@example.org", "action": "review"}], [{"id": "4111111111111111"}],
                [{"id": None}], [{"id": "ok", "action": "explode"}], ["x"], {"id": "ok"}):
        odd = [{**row, "rules": bad} if i % 2 else row for i, row in enumerate(rows)]
        result = read_logged(odd)
        assert result.skipped == len(rows) // 2, bad
        assert set(result.skipped_why) == {
            "with a rules or rule_errors value that is not a list of rule ids and actions"}
    for version in ("jane.doe@example.org", "4111 1111 1111 1111", {"a": 1}, "v\x1b[2J", ""):
        odd = [{**row, "replayed": {**row["replayed"], "rules_version": version}} for row in rows]
        with pytest.raises(DataFileError, match="rules_version must be a rules file's version"):
            read_logged(odd)


def test_a_saved_replay_reads_back_exactly(data: Path, tmp_path: Path) -> None:
    replayed, _ = load_labelled(data, settings=Settings(data_dir=tmp_path), limit=500)
    rows = json.loads(json.dumps(list(saved_replay_rows(replayed))))
    back = read_logged(rows)
    assert np.array_equal(back.X, replayed.X, equal_nan=True)
    assert np.array_equal(back.y, replayed.y)
    assert np.array_equal(back.event_times, replayed.event_times)
    assert np.array_equal(back.label_times, replayed.label_times, equal_nan=True)
    assert back.transaction_ids == replayed.transaction_ids
    assert back.segments == replayed.segments and back.segment_by == "scenario"
    assert np.array_equal(back.accounts, replayed.accounts) and replayed.accounts.size == len(rows)
    # an account number a replay never writes counts as an account of its own; none at all: rows
    odd = [{**row, "account": bad} for row, bad in zip(rows[:4], [-1, 10**30, "7", True], strict=True)]
    mixed = read_logged([*odd, *rows[4:]])
    assert len(set(mixed.accounts.tolist())) == len(set(replayed.accounts[4:].tolist())) + 4
    assert read_logged([{**row, "account": None} for row in rows]).accounts.size == 0
    leaky = read_logged([{**row, "segment": "jane@example.com"} for row in rows])
    assert leaky.segments == [None] * len(rows)  # never printed nor written as a segment
    for unprintable in ("\r=1+1", "\x1b[2J\x1b[31m", "a\nb", "\x9b31m"):  # a CSV record, a terminal
        assert read_logged([{**row, "segment": unprintable} for row in rows[:3]]).segments == [None] * 3
    assert [[h.rule_id for h in hits] for hits in back.rule_hits] == \
        [[h.rule_id for h in hits] for hits in replayed.rule_hits]
    assert back.method == "saved" and replayed.method == "replay"
    assert back.label_delay_days == replayed.label_delay_days == 30.0
    twice = read_logged([*rows, *rows])  # one file concatenated to itself: each order once
    assert np.array_equal(twice.X, back.X, equal_nan=True)
    assert twice.skipped_why == {"repeating an event.transaction_id": len(rows)}
    with pytest.raises(ValueError, match="only a replay of score requests"):
        next(saved_replay_rows(back))


@pytest.mark.parametrize(("clash", "why"), [
    (["--save-replay", "{data}"], "name the same file"),
    (["--json", "{link}"], "is a symbolic link"),  # to the data: it would replace the link
    (["--json", "{out}", "--test-orders", "{out}"], "name the same file"),
])
def test_an_output_never_replaces_the_data_or_another_output(data: Path, tmp_path: Path,
                                                             clash: list[str], why: str) -> None:
    copy = tmp_path / "orders.jsonl"
    copy.write_bytes(data.read_bytes())
    (tmp_path / "link.jsonl").symlink_to(copy)
    names = {"data": copy, "link": tmp_path / "link.jsonl", "out": tmp_path / "out"}
    args = [arg.format(**names) for arg in clash]
    done = CliRunner().invoke(backtest, ["--no-progress", "--data", str(copy), *args],
                              obj=Settings(data_dir=tmp_path / "var"))
    assert done.exit_code == 2 and why in " ".join(done.output.split()), done.output
    assert copy.read_bytes() == data.read_bytes() and not (tmp_path / "out").exists()


def test_train_saves_its_replay_too(data: Path, tmp_path: Path) -> None:
    saved = tmp_path / "replayed.jsonl"
    done = CliRunner().invoke(train, ["--no-progress", "--data", str(data), "--out", str(tmp_path / "m"),
                                      "--save-replay", str(saved)],
                              obj=Settings(data_dir=tmp_path / "var"), catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert f"Wrote {saved}." in done.output
    card = json.loads((tmp_path / "m" / "model_card.json").read_text())
    rows = [json.loads(line) for line in saved.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == card["backtest"]["data"]["rows_replayed"] == 3000
    assert {row["replayed"]["segment_by"] for row in rows} == {"scenario"}


def test_the_replay_is_saved_before_training_so_a_training_error_keeps_it(data: Path, tmp_path: Path) -> None:
    saved = tmp_path / "replayed.jsonl.gz"
    args = ["--no-progress", "--data", str(data), "--warm-up-days", "36500", "--save-replay", str(saved)]
    failed = CliRunner().invoke(backtest, args, obj=Settings(data_dir=tmp_path / "var"))
    assert failed.exit_code == 1 and "warm-up" in failed.output, failed.output
    again = CliRunner().invoke(backtest, ["--no-progress", "--data", str(saved)],
                               obj=Settings(data_dir=tmp_path / "var"))
    assert again.exit_code == 0 and "3000 saved replayed orders" in again.output, again.output


def test_a_replay_that_cannot_be_saved_stops_with_the_reason(data: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(DataFileError, match="cannot write .*a-folder .*the replay was not saved"):
        load_labelled(data, settings=settings, limit=100, save_replay=folder)
    first = tmp_path / "first.jsonl"
    load_labelled(data, settings=settings, limit=200, save_replay=first)
    with pytest.raises(DataFileError, match="holds features already"):
        load_labelled(first, settings=settings, save_replay=tmp_path / "again.jsonl")
    assert not (tmp_path / "again.jsonl").exists()


def test_a_long_replay_ends_with_the_hint_to_save_it(data: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert save_replay_hint({"method": "replay", "seconds": 59.4}, data) is None
    assert save_replay_hint({"method": "saved", "seconds": 600.0}, data) is None
    assert save_replay_hint({"method": "logged", "seconds": 600.0}, data) is None
    hint = save_replay_hint({"method": "replay", "seconds": 291.2}, data)
    assert hint is not None and hint.startswith("The replay took 4 min 51 s.")
    assert "--save-replay FILE" in hint and "instead of orders.jsonl" in hint
    monkeypatch.setattr(commands, "SAVE_REPLAY_HINT_SECONDS", 0.0)  # every replay counts as long
    done = CliRunner().invoke(backtest, ["--no-progress", "--data", str(data)],
                              obj=Settings(data_dir=tmp_path / "var"), catch_exceptions=False)
    assert done.exit_code == 0 and "The replay took 0 min" in done.stderr
    assert "--save-replay" not in done.stdout  # the hint goes to standard error, not the report
    model = ["--out", str(tmp_path / "model")]
    done = CliRunner().invoke(train, ["--no-progress", "--data", str(data), *model],
                              obj=Settings(data_dir=tmp_path / "var"), catch_exceptions=False)
    assert done.exit_code == 0 and "The replay took 0 min" in done.stderr  # train replays too
    assert "--save-replay" not in done.stdout
    saved = tmp_path / "r.jsonl.gz"
    for command, args in ((backtest, ["--data", str(data), "--save-replay", str(saved)]),
                          (backtest, ["--data", str(saved)]),
                          (train, ["--data", str(saved), *model])):
        done = CliRunner().invoke(command, ["--no-progress", *args],
                                  obj=Settings(data_dir=tmp_path / "var"), catch_exceptions=False)
        assert done.exit_code == 0 and "The replay took" not in done.output, args


def test_a_label_the_delay_puts_after_2099_is_saved_as_a_time_the_reader_takes(tmp_path: Path) -> None:
    """A delay of 100 years: the replay's label times stop at 2099-12-31T23:59:59Z, so the saved
    replay reads back with every fraud row (they were written as 2125 and refused on reading)."""
    rows = list(simulate_orders(600, seed=5, start=datetime(2026, 3, 2, tzinfo=UTC)))
    data = tmp_path / "orders.jsonl"
    data.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "label_time"}) + "\n"
                            for row in rows), encoding="utf-8")
    saved = tmp_path / "replayed.jsonl"
    replayed, _ = load_labelled(data, settings=Settings(data_dir=tmp_path / "var"),
                                label_delay=timedelta(days=36_500))
    frauds = int(replayed.y.sum())
    assert frauds > 0
    assert np.nanmax(replayed.label_times) == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    saved.write_text("".join(json.dumps(row) + "\n" for row in saved_replay_rows(replayed)),
                     encoding="utf-8")
    again, _ = load_labelled(saved, settings=Settings(data_dir=tmp_path / "var"))
    assert again.skipped == 0 and int(again.y.sum()) == frauds
    assert np.array_equal(again.label_times, replayed.label_times, equal_nan=True)


def test_the_rows_a_replay_skipped_are_reported_with_its_saved_replay(data: Path, tmp_path: Path) -> None:
    """A back-test or training run of a saved replay says how many rows of the original file its
    replay left out: 3 bad labels once vanished from the counts ("0 skipped")."""
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    for i in (5, 500, 1500):
        lines[i] = json.dumps({**json.loads(lines[i]), "label": "maybe"}) + "\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(lines), encoding="utf-8")
    saved = tmp_path / "saved.jsonl.gz"
    printed = _backtest(["--data", str(bad), "--json", str(tmp_path / "r.json"), "--save-replay", str(saved)],
                        tmp_path)
    first = json.loads((tmp_path / "r.json").read_text())["data"]
    assert first["rows_skipped"] == 3 and first["rows_skipped_before_saving"] is None
    assert "(3 skipped: 3 with a label other than fraud or legit)" in " ".join(printed.split())
    printed = _backtest(["--data", str(saved), "--json", str(tmp_path / "s.json")], tmp_path)
    again = json.loads((tmp_path / "s.json").read_text())["data"]
    assert again["rows_skipped"] == 0 and again["rows_skipped_before_saving"] == 3
    assert "(0 skipped; 3 more when the replay was saved)" in " ".join(printed.split())
    out = tmp_path / "model"
    done = CliRunner().invoke(train, ["--no-progress", "--data", str(saved), "--out", str(out)],
                              obj=Settings(data_dir=tmp_path / "var"), catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "0 rows skipped; 3 more when the replay was saved" in (out / "MODEL_CARD.md").read_text()
