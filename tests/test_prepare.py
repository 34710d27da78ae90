"""The replay's first half in worker processes: the same rows as in one process, in order."""

from __future__ import annotations

import copy
import pickle
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fraudscreen.config import SAMPLE_DATA, Settings, load_settings
from fraudscreen.enrich import GeoIP
from fraudscreen.signals import Enricher
from fraudscreen.training import prepare
from fraudscreen.training.pipeline import ReplayResult, replay
from fraudscreen.training.prepare import RowPreparer, RowPreparers, default_workers
from fraudscreen.training.simulate import simulate_orders

from helpers import order_body, press_ctrl_c, start_in_a_terminal

START = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def rows() -> list[Any]:
    """Simulated orders with bad rows of every kind mixed in, in no particular order."""
    good: list[Any] = list(simulate_orders(900, seed=5, start=START))
    bad_ip = order_body(event__transaction_id="b-1", device__ip_address="not-an-ip", label="legit")
    no_label = order_body(event__transaction_id="b-3")
    card = order_body(event__transaction_id="b-4", order__referrer_uri="4111 1111 1111 1111",
                      label="fraud")
    bad_label_time = order_body(event__transaction_id="b-5", label="fraud", label_time="soon")
    no_time = order_body(event__transaction_id="b-6", event__time="yesterday", label="legit")
    repeated = copy.deepcopy(good[100])
    mixed = [*good, bad_ip, no_label, card, bad_label_time, no_time, repeated, "junk"]
    random.Random(3).shuffle(mixed)
    return mixed


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("var"))


def _same_rows(a: ReplayResult, b: ReplayResult) -> None:
    np.testing.assert_array_equal(a.X, b.X)  # NaN == NaN here
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.event_times, b.event_times)
    np.testing.assert_array_equal(a.source_rows, b.source_rows)
    np.testing.assert_array_equal(a.label_times, b.label_times)
    assert a.rule_hits == b.rule_hits
    assert a.transaction_ids == b.transaction_ids
    assert a.segments == b.segments and any(a.segments)
    assert (a.skipped, a.skipped_why) == (b.skipped, b.skipped_why)


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_give_the_rows_one_process_gives(rows, settings, workers, monkeypatch) -> None:
    monkeypatch.setattr(prepare, "CHUNK_ROWS", 37)  # many chunks, a short last one
    alone = replay(rows, settings=settings, workers=0)
    shared = replay(rows, settings=settings, workers=workers)
    _same_rows(alone, shared)
    # the comparison means something: profiles are filled, and every kind of skip happened
    assert alone.X.shape[0] == 900 and alone.y.sum() > 0
    assert alone.X[:, 0].std() > 0
    assert len(alone.skipped_why) == 6, alone.skipped_why


def test_the_setting_chooses_the_workers(rows, settings) -> None:
    assert replay(rows[:50], settings=settings.with_overrides(replay_workers=1)).workers == 1
    assert replay(rows[:50], settings=settings).workers == 0  # small: prepared in this process
    assert replay(iter(rows[:50]), settings=settings).workers >= 1  # size unknown: workers
    assert replay(rows[:50], settings=settings.with_overrides(replay_workers=1), workers=0).workers == 0
    assert load_settings({"FRAUDSCREEN_REPLAY_WORKERS": "3"}).replay_workers == 3


def test_default_workers_leave_small_files_to_one_process() -> None:
    assert default_workers(prepare.MIN_ROWS_FOR_WORKERS - 1) == 0
    assert default_workers(1_000_000) >= 1  # the tests run on Linux
    assert default_workers(None) == default_workers(1_000_000)


@pytest.mark.parametrize("workers", [0, 1])
def test_prepared_rows_come_in_the_order_asked_and_are_let_go(rows, settings, workers, monkeypatch) -> None:
    monkeypatch.setattr(prepare, "CHUNK_ROWS", 10)
    objects = [r for r in rows if isinstance(r, dict)][:95]
    order = list(range(len(objects)))
    random.Random(1).shuffle(order)
    geoip = GeoIP(settings.geoip_city_path)
    preparer = RowPreparer(Enricher(geoip, b"k" * 32))
    try:
        expected = [preparer(objects[i]) for i in order]
        held = list(objects)
        with RowPreparers(preparer, workers) as preparers:
            got = list(preparers.prepare(held, order))
    finally:
        geoip.close()
    assert [index for index, _ in got] == order
    assert [result for _, result in got] == expected
    assert held == [None] * len(objects)  # each row let go once prepared


def test_workers_are_never_more_than_the_cores(settings) -> None:
    """A --workers 300 forked 300 processes on two cores; more than one per core only take turns."""
    import os

    geoip = GeoIP(settings.geoip_city_path)
    try:
        preparers = RowPreparers(RowPreparer(Enricher(geoip, b"k" * 32)), 300)
    finally:
        geoip.close()
    assert preparers.workers == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("value", ["-1", "many"])
def test_a_negative_or_odd_worker_count_is_a_config_error(value: str) -> None:
    from fraudscreen.errors import ConfigError

    with pytest.raises(ConfigError, match=r"setting replay_workers \(FRAUDSCREEN_REPLAY_WORKERS\) must be a "
                                          "whole number from 0 to 1,024"):
        load_settings({"FRAUDSCREEN_REPLAY_WORKERS": value})


def test_a_prepared_order_crosses_processes_unchanged(rows, settings) -> None:
    geoip = GeoIP(settings.geoip_city_path)
    try:
        preparer = RowPreparer(Enricher(geoip, b"k" * 32))
        results = [preparer(r) for r in rows[:40] if isinstance(r, dict)]
    finally:
        geoip.close()
    prepared = [r for r in results if not isinstance(r, str)]
    assert prepared
    assert pickle.loads(pickle.dumps(prepared)) == prepared


def test_the_replay_s_rows_are_those_of_a_file(tmp_path: Path, rows, settings) -> None:
    # load_labelled goes through the same replay: the workers serve train and backtest too
    from fraudscreen.training.jsonl import write_jsonl
    from fraudscreen.training.pipeline import load_labelled

    path = tmp_path / "rows.jsonl.gz"
    assert rows[0] != "junk"  # the first row tells the kind of file: a score request
    write_jsonl(rows, path)
    decoded = replay(rows, settings=settings, workers=0)
    alone, read = load_labelled(path, settings=settings.with_overrides(replay_workers=0))
    shared, _ = load_labelled(path, settings=settings.with_overrides(replay_workers=1))
    assert read == len(rows)
    _same_rows(decoded, alone)
    _same_rows(decoded, shared)


def test_a_file_s_rows_wait_as_their_bytes(tmp_path: Path, rows) -> None:
    from fraudscreen.training.jsonl import decode_line, write_jsonl
    from fraudscreen.training.pipeline import _sort_key, iter_replay_rows

    path = tmp_path / "rows.jsonl"
    write_jsonl(rows, path)
    kept = list(iter_replay_rows(path))
    assert kept[rows.index("junk")] == "junk"  # not an object: counted as such by the replay
    objects = [(row, k) for row, k in zip(rows, kept, strict=True) if isinstance(row, dict)]
    assert all(isinstance(k, prepare.JsonRow) for _, k in objects)
    assert [decode_line(k.text) for _, k in objects] == [row for row, _ in objects]
    assert [k.event_time for _, k in objects] == [_sort_key(row) for row, _ in objects]
    assert any(k.event_time is None for _, k in objects)  # the row without a valid time


def test_a_failure_in_a_worker_reaches_the_replay_and_stops_the_workers(rows) -> None:
    import multiprocessing

    broken = RowPreparer(Enricher(None, b"k" * 32))  # type: ignore[arg-type]  # no GeoIP at all
    objects = [r for r in rows if isinstance(r, dict)][:30]
    with pytest.raises(AttributeError), RowPreparers(broken, 1) as preparers:
        list(preparers.prepare(list(objects), list(range(len(objects)))))
    assert multiprocessing.active_children() == []


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


@contextmanager
def _replaying_with_a_worker(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """``backtest`` of the sample with one worker, a second into its replay: the process and
    its workers' pids (it is killed on leaving, whatever happened)."""
    with start_in_a_terminal(["backtest", "--data", str(SAMPLE_DATA), "--no-progress", "--workers", "1"],
                             tmp_path / "var", TMPDIR=str(tmp_path)) as process:
        deadline = time.monotonic() + 60
        while not (workers := _children(process.pid)) and process.poll() is None:
            assert time.monotonic() < deadline, "no worker was started"
            time.sleep(0.05)
        time.sleep(1.0)  # the 20,000-row replay takes several seconds: well inside it
        assert list(tmp_path.glob("fraudscreen-replay-*")) and process.poll() is None
        yield process, workers


@pytest.mark.skipif(not prepare.can_fork(), reason="workers are forked (Linux)")
def test_ctrl_c_stops_the_replay_and_its_workers_without_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C in a terminal signals the whole process group: the command stops with click's
    one-line "Aborted!" and the shells' status of an interrupt (130, not a failure's 1), the
    workers end with it, and none prints where it was interrupted."""
    with _replaying_with_a_worker(tmp_path) as (process, workers):
        err = press_ctrl_c(process)
    assert process.returncode == 130
    assert "Aborted!" in err and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert not list(tmp_path.glob("fraudscreen-replay-*"))  # the temporary store went too


@pytest.mark.skipif(not prepare.can_fork(), reason="workers are forked (Linux)")
def test_sigterm_stops_the_replay_cleaning_up_as_ctrl_c_does(tmp_path: Path) -> None:
    """``kill`` and ``timeout`` send SIGTERM to the command alone: it left the replay's
    temporary folder (with its secrets file) behind."""
    with _replaying_with_a_worker(tmp_path) as (process, workers):
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert not list(tmp_path.glob("fraudscreen-replay-*"))
