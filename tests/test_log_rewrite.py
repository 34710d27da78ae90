"""Erasure's log rewrite under load: writers do not wait while it scans, lines appended
meanwhile are filtered too, a file replaced meanwhile is read again, and its token matching
answers as the regular expressions it replaced did."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fraudscreen import log_rewrite, logs
from fraudscreen.log_rewrite import rewrite_log_files
from fraudscreen.logs import (
    DailyFileHandler,
    JsonFormatter,
    log_file_name,
    log_files,
)

REQUEST = ('{"time": "2026-11-25T00:27:31.940+00:00", "level": "INFO", "logger": "fraudscreen.requests", '
           '"message": "request", "method": "POST", "route": "/v1/score", "status": 200, '
           '"duration_ms": 47.17, "api_key": "checkout", "order_id": "%s", "decision": "accept"}\n')


@pytest.fixture
def writer(tmp_path: Path) -> Iterable[tuple[logging.Logger, Path]]:
    """A logger writing through a real :class:`DailyFileHandler` to ``tmp_path/logs``."""
    log_dir = tmp_path / "logs"
    handler = DailyFileHandler(log_dir)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"fraudscreen.test.rewrite.{tmp_path.name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield logger, log_dir
    logger.removeHandler(handler)
    handler.close()


def test_writers_do_not_wait_while_a_rewrite_scans(writer: tuple[logging.Logger, Path]) -> None:
    logger, log_dir = writer
    ids = [hashlib.sha1(str(i).encode()).hexdigest()[:20] for i in range(300)]  # no common prefix
    today = log_dir / log_file_name(datetime.now(UTC).date())
    with open(today, "w", encoding="utf-8") as fh:
        fh.writelines(REQUEST % (ids[i // 1000] if i % 1000 == 0 else f"other-{i}")
                      for i in range(200_000))
    result: list[tuple[int, int]] = []
    thread = threading.Thread(target=lambda: result.append(rewrite_log_files(log_dir, ids)))
    waits: list[float] = []
    thread.start()
    while thread.is_alive():
        start = time.perf_counter()
        logger.info("meanwhile %d", len(waits) + 1)
        waits.append(time.perf_counter() - start)
        time.sleep(0.005)
    thread.join()
    text = today.read_text(encoding="utf-8")
    assert max(waits) < 0.5, f"a log write waited {max(waits):.2f} s for the rewrite"
    assert len(waits) >= 10, "the rewrite ended before the writer could try it"
    assert result == [(1, 200)]
    meanwhile = {int(n) for n in re.findall(r'"message": "meanwhile (\d+)"', text)}
    lost = set(range(1, len(waits) + 1)) - meanwhile
    assert not lost, f"{len(lost)} of {len(waits)} lines written meanwhile were lost"
    orders = re.findall(r'"order_id": "([^"]+)"', text)
    assert len(orders) == 199_800 and set(ids).isdisjoint(orders)


def test_lines_appended_during_the_scan_are_filtered_under_the_lock(
    writer: tuple[logging.Logger, Path],
) -> None:
    logger, log_dir = writer
    logger.info("order %s", "ord-kept")
    path = log_files(log_dir)[0]
    with open(path, "ab") as fh:  # another worker half-way through its line
        fh.write(b'{"message": "order ord-')
    scan = log_rewrite._Scan(path, log_rewrite._LineFilter({"ord-gone"}))
    try:
        assert scan.removed == 0  # nothing to remove yet, and the half line was not read
        with open(path, "ab") as fh:
            fh.write(b'gone"}\n')
        logger.info("late order %s", "ord-gone")
        logger.info("late order %s", "ord-other")
        with logs.DirectoryLock(log_dir, exclusive=True):
            assert scan.finish() == 2
    finally:
        scan.close()
    logger.info("after the swap")  # the handler reopens the new file
    text = path.read_text(encoding="utf-8")
    assert "ord-gone" not in text
    assert all(s in text for s in ("ord-kept", "ord-other", "after the swap"))
    assert [p.name for p in log_dir.iterdir() if p.name.startswith(".rewrite-")] == []


def _three_orders_scanned_for_ord_a(writer: tuple[logging.Logger, Path]) -> tuple[Path, Path, Any]:
    """Log ``order ord-a``, ``-b`` and ``-c``; the log directory, the file, and a scan of it
    for ``ord-a`` (not finished)."""
    logger, log_dir = writer
    for order in ("ord-a", "ord-b", "ord-c"):
        logger.info("order %s", order)
    path = log_files(log_dir)[0]
    return log_dir, path, log_rewrite._Scan(path, log_rewrite._LineFilter({"ord-a"}))


def test_a_file_another_rewrite_replaced_meanwhile_is_read_again(
    writer: tuple[logging.Logger, Path],
) -> None:
    log_dir, path, scan = _three_orders_scanned_for_ord_a(writer)
    try:
        assert scan.removed == 1
        assert rewrite_log_files(log_dir, ["ord-b"]) == (1, 1)  # a second erasure swaps it
        with logs.DirectoryLock(log_dir, exclusive=True):
            assert scan.finish() is None  # not the file it scanned: writing it would bring ord-b back
    finally:
        scan.close()
    assert [p.name for p in log_dir.iterdir() if p.name.startswith(".rewrite-")] == []
    assert rewrite_log_files(log_dir, ["ord-a"]) == (1, 1)
    text = path.read_text(encoding="utf-8")
    assert "ord-a" not in text and "ord-b" not in text and "ord-c" in text


# The regular expressions the token sets replaced: the reference answers. One change: the
# class before a value was ``[...+-.]``, a range holding ","; a value after a comma now counts.
_EDGE = r"A-Za-z0-9_:@+-"


def _regex_filter(identifiers: Iterable[str]) -> Callable[[bytes], bool]:
    values = sorted({v for v in identifiers if v}, key=len, reverse=True)
    token = re.compile(rf"(?<![.{_EDGE}])(?:{'|'.join(re.escape(v) for v in values)})(?![{_EDGE}])")
    forms = sorted({f for v in values for f in (v, json.dumps(v, ensure_ascii=False)[1:-1])},
                   key=len, reverse=True)
    prefilter = re.compile(b"|".join(re.escape(f.encode("utf-8", "surrogateescape")) for f in forms))
    raw_token = re.compile(
        rf"(?<![.{_EDGE}])(?:{'|'.join(re.escape(f) for f in forms)})(?![{_EDGE}])".encode(
            "utf-8", "surrogateescape"))

    def names(line: bytes) -> bool:
        if not prefilter.search(line):
            return False
        try:
            record = json.loads(line)
        except ValueError:
            return bool(raw_token.search(line))
        if not isinstance(record, dict):
            return bool(raw_token.search(line))
        return any(token.search(text) for text in log_rewrite._texts(record))

    return names


@pytest.mark.parametrize(("values", "line", "named"), [
    ({"ord-1"}, b'{"message": "order ord-1 done"}', True),
    ({"ord-1"}, b'{"message": "order ord-1x"}', False),  # inside a longer token
    ({"ord-1"}, b'{"message": "file.ord-1"}', False),  # after a "."
    ({"ord-1"}, b'{"message": "ids ord-0,ord-1"}', True),  # after a "," (the old regex missed it)
    ({"ord-1"}, b'{"message": "ids ord-1,ord-0"}', True),
    ({"81.2.200.1"}, b'{"message": "from 81.2.200.1."}', True),
    ({"81.2.200.1"}, b'{"message": "from 181.2.200.1"}', False),
    ({"200"}, b'{"status": 200, "route": "/v1/200", "message": "ok"}', False),  # fixed fields
    ({"200"}, b'{"message": "status 200"}', True),
    ({'dev"q\\9'}, b'{"message": "device dev\\"q\\\\9 slow"}', True),  # as JSON escapes it
    ({"ord-1"}, b'{"message": "trace:\\nord-1"}', True),  # after an escaped newline
    ({"ord-1"}, b'{"message": "\\u006frd-1"}', False),  # only as a \\u escape: as the regex did
    ({"ord-1"}, b"plain ord-1 text", True),
    ({"/"}, b"a / b", True),
    ({"\u65e5\u672c"}, "x \u65e5\u672c".encode(), True),
])
def test_token_matching_answers_as_the_regex_did(values: set[str], line: bytes, named: bool) -> None:
    assert _regex_filter(values)(line) is named
    assert log_rewrite._LineFilter(values).names(line) is named


def test_token_matching_agrees_with_the_regex_on_random_lines() -> None:
    rnd = random.Random(20261125)
    alphabet = list("ab1-_:@+.,/ \"\\\u00e9\u65e5\n\t\r\x00")

    def text(n: int) -> str:
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, n)))

    disagree = []
    for _ in range(400):
        values = sorted({text(4) for _ in range(rnd.randint(1, 6))})
        reference, lines = _regex_filter(values), log_rewrite._LineFilter(set(values))
        for _ in range(25):
            message = rnd.choice(["", " ", ",", "."]).join(
                rnd.choice(values) if rnd.random() < 0.5 else text(3) for _ in range(rnd.randint(1, 5)))
            kind = rnd.random()
            if kind < 0.5:
                record: dict[str, Any] = {"level": "INFO", "message": message, "status": 200}
                if rnd.random() < 0.3:
                    record["route" if rnd.random() < 0.5 else "detail"] = {"x": [rnd.choice(values)]}
                line = json.dumps(record, ensure_ascii=rnd.random() < 0.2).encode() + b"\n"
            else:
                line = message.encode("utf-8", "surrogateescape") + rnd.choice([b"\n", b""])
            if reference(line) != lines.names(line):
                disagree.append((values, line))
    assert not disagree, disagree[:5]


# What the service writes itself: an erasure of an account named like one of its words (a
# decision, a method, an API key's name, a constant message) removes no line for it.
SERVICE_LINES = [
    REQUEST % "ord-1",
    REQUEST.replace('"accept"', '"review"') % "ord-2",
    REQUEST.replace('"accept"', '"reject"') % "ord-3",
    *(json.dumps({"time": "2026-11-25T00:27:32.000+00:00", "level": level, "logger": logger,
                  **fields}) + "\n" for level, logger, fields in [
        ("INFO", "fraudscreen.requests", {
            "message": "request", "method": "DELETE", "route": "/v1/accounts/<path:account_id>",
            "status": 200, "duration_ms": 9.1, "api_key": "ops admin"}),
        ("INFO", "fraudscreen.privacy.erasure", {
            "message": "account erased", "erasure_id": "erasure_3f2a",
            "removed": {"orders": 2, "log_lines": 6}}),
        ("INFO", "fraudscreen.privacy.retention", {
            "message": "retention purge done", "counts": {"log_files": 1}}),
        ("ERROR", "fraudscreen.api.errors", {
            "message": "unexpected error: OperationalError", "exc_type": "OperationalError"}),
    ]),
]


@pytest.mark.parametrize("word", [
    "accept", "review", "reject",  # decisions
    "POST", "DELETE", "request", "INFO", "200",  # method, message, level, status
    "checkout", "ops admin", "admin",  # API key names
    "account erased", "erased", "retention purge done", "purge",  # constant messages
    "erasure_3f2a",  # an erasure's id
])
def test_a_service_word_names_no_line(tmp_path: Path, word: str) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    path = log_dir / log_file_name(datetime(2026, 11, 25, tzinfo=UTC).date())
    path.write_text("".join(SERVICE_LINES), encoding="utf-8")
    assert rewrite_log_files(log_dir, [word]) == (0, 0)
    assert path.read_text(encoding="utf-8") == "".join(SERVICE_LINES)


@pytest.mark.parametrize(("word", "line"), [
    ("review", '{"level": "WARNING", "message": "slow lookup for device review"}'),
    ("review", '{"message": "request", "order_id": "review"}'),  # an order id is an identifier
    ("accept", '{"message": "failed", "exception": "KeyError: \'accept\'"}'),
    ("request", '{"message": "request request"}'),  # not the constant message itself
    ("checkout", '{"message": "x", "detail": {"api_key": "checkout"}}'),  # fixed only at the top
])
def test_fields_that_can_name_a_value_are_still_matched(word: str, line: str) -> None:
    assert log_rewrite._LineFilter({word}).names(line.encode())


def _temporaries(log_dir: Path) -> list[str]:
    return sorted(p.name for p in log_dir.iterdir() if p.name.startswith(logs.REWRITE_PREFIX))


_HOLD_A_TEMPORARY = """
import sys
from pathlib import Path
from fraudscreen.logs import rewrite_temporary
fd, path = rewrite_temporary(Path(sys.argv[1]))
with open(fd, "wb", closefd=False) as fh:
    fh.write(b'{"message": "order ord-other-account"}\\n')
print(path, flush=True)
sys.stdin.read()  # until killed
"""


def _crashed_rewrite(log_dir: Path) -> Path:
    """A temporary file that a rewrite in another process was writing when it was killed."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", _HOLD_A_TEMPORARY, str(log_dir)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        path = Path(process.stdout.readline().strip())
        assert path.parent == log_dir and path.exists()
        # still being written: neither a cleaner nor another rewrite touches it
        assert logs.delete_stale_rewrites(log_dir) == 0
        assert rewrite_log_files(log_dir, ["ord-gone"]) == (0, 0)
        assert path.exists()
    finally:
        process.kill()  # the crash
        process.communicate()
    return path


def test_a_temporary_a_crashed_rewrite_left_is_removed_by_the_next_rewrite(
    writer: tuple[logging.Logger, Path],
) -> None:
    logger, log_dir = writer
    logger.info("order %s", "ord-other-account")
    stale = _crashed_rewrite(log_dir)
    assert stale.exists() and log_files(log_dir) == [log_dir / log_file_name(datetime.now(UTC).date())]
    assert rewrite_log_files(log_dir, ["ord-gone"]) == (0, 0)  # names nothing: still cleans
    assert _temporaries(log_dir) == []
    assert "ord-other-account" in log_files(log_dir)[0].read_text(encoding="utf-8")


def test_a_temporary_from_before_the_lock_was_kept_open_is_stale(tmp_path: Path) -> None:
    """A ``.rewrite-`` file nobody holds open (a crash of an earlier version) goes too; a
    file of another name, or a link, stays."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / ".rewrite-abc123").write_bytes(b'{"message": "order ord-x"}\n')
    (log_dir / ".rewrite-link").symlink_to(tmp_path / "elsewhere")
    (log_dir / "rewrite-notes.txt").write_text("kept")
    assert logs.delete_stale_rewrites(log_dir) == 1
    assert sorted(p.name for p in log_dir.iterdir()) == [".rewrite-link", "rewrite-notes.txt"]


def test_a_rewrite_leaves_another_rewrite_s_temporary_alone(
    writer: tuple[logging.Logger, Path],
) -> None:
    """A scan in progress holds its temporary open: a second rewrite (or a purge) meanwhile
    does not delete it, and the scan still swaps it in."""
    log_dir, path, scan = _three_orders_scanned_for_ord_a(writer)
    try:
        held = _temporaries(log_dir)
        assert scan.removed == 1 and len(held) == 1
        assert rewrite_log_files(log_dir, ["ord-none"]) == (0, 0)
        assert logs.delete_old_log_files(log_dir, datetime(2000, 1, 1).date()) == 0
        assert _temporaries(log_dir) == held
        with logs.DirectoryLock(log_dir, exclusive=True):
            assert scan.finish() == 1
    finally:
        scan.close()
    assert _temporaries(log_dir) == []
    text = path.read_text(encoding="utf-8")
    assert "ord-a" not in text and "ord-b" in text and "ord-c" in text


def test_a_temporary_that_could_not_be_written_is_removed(tmp_path: Path) -> None:
    """A scan that fails half-way (a full disk) deletes its temporary before it ends."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    path = log_dir / log_file_name(datetime(2026, 11, 25, tzinfo=UTC).date())
    path.write_text(REQUEST % "ord-gone" + "x" * 100 + "\n", encoding="utf-8")

    class Unwritable:
        def __iter__(self) -> Any:
            raise OSError(28, "No space left on device")

    scan = log_rewrite._Scan(path, log_rewrite._LineFilter({"nothing"}))
    try:
        with pytest.raises(OSError, match="No space"):
            scan._temporary(Unwritable())  # type: ignore[arg-type]
        assert len(_temporaries(log_dir)) == 1  # still held: close() deletes it
    finally:
        scan.close()
    assert _temporaries(log_dir) == []
