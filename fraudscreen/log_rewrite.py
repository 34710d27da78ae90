"""Erasure's log cleaning: drop every line of the daily log files that names given identifiers.

Lines are matched by whole tokens against a set of the identifiers (and their JSON-escaped
forms), in every field of a line but those that only ever hold the service's own words
(:data:`_FIXED_FIELDS`, :data:`_FIXED_MESSAGES`); files are scanned without the directory lock
and swapped in under it, so request logging never waits for a scan (see
:func:`rewrite_log_files`). Each rewrite first deletes the temporary files that crashed
rewrites left behind (:func:`~fraudscreen.logs.delete_stale_rewrites`).
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, AnyStr, BinaryIO, Generic

from fraudscreen.logs import (
    DirectoryLock,
    delete_stale_rewrites,
    locked_file,
    log_files,
    rewrite_temporary,
    stale_files,
)

_FIXED_FIELDS = frozenset({
    "time", "level", "logger",  # every line (fraudscreen.logs.JsonFormatter)
    "method", "route", "status", "duration_ms",  # request lines (fraudscreen.api.log_request)
    "api_key",  # the name an admin gave the API key: staff's, kept in the audit log as actor
    "decision",  # accept / review / reject
    "exc_type",  # an exception's class name (fraudscreen.logs.MaskingFilter)
    "erasure_id",  # a random id, made not to name the account ("account erased" lines)
})
"""Fields of a log line whose values are the service's own vocabulary, never an identifier:
an erasure of account "review", "POST" or "checkout" must not drop every line that holds
them. ``order_id`` (request lines), ``exception``, ``stack`` and any other field can name a
value, and are matched."""
_FIXED_MESSAGES = frozenset({"request", "account erased", "retention purge done"})
"""Messages logged as they are, with their data in fields (``fraudscreen.requests``,
``fraudscreen.privacy.erasure``, ``fraudscreen.privacy.retention``): a line's ``message`` is
not matched when it is one of these. Other messages can hold a formatted value ("slow lookup
for device …") and are matched."""
_TOKEN_EDGE = r"A-Za-z0-9_:@+-"
"""A value inside a longer token (or after a ".") does not count as naming it."""
_EDGE = frozenset(string.ascii_letters + string.digits + "_:@+-")
_BEFORE = _EDGE | {"."}
"""Not before a named value: the edge and ".". (The regex this replaced had ``[...@+-.]``, where
``+-.`` is a range that also holds ",": a value right after a comma was not found.)"""
_RAW_EDGE, _RAW_BEFORE = (frozenset(c.encode() for c in s) for s in (_EDGE, _BEFORE))
_TO_SPACE = bytes(c if bytes([c]) in _RAW_EDGE else ord(" ") for c in range(256))


def _raw_runs(data: bytes) -> list[bytes]:
    """The runs of ``_TOKEN_EDGE`` bytes of ``data`` (faster than a regular expression)."""
    return data.translate(_TO_SPACE).split()


_text_runs = re.compile(f"[{_TOKEN_EDGE}]+").findall


def _texts(record: dict[str, Any]) -> Iterator[str]:
    """Every string value of a decoded log line, nested ones too, fixed fields and messages
    left out."""
    stack: list[Any] = [v for k, v in record.items() if k not in _FIXED_FIELDS
                        and not (k == "message" and v in _FIXED_MESSAGES)]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


class _Tokens(Generic[AnyStr]):
    """Which of many values a text names as a whole token: an occurrence not after one of
    ``_BEFORE`` and not before one of ``_TOKEN_EDGE``.

    Such an occurrence makes every run of ``_TOKEN_EDGE`` characters in the value a whole run
    of the text, so a value is looked up by its longest run: one set look-up per run of the
    text, however many values. Values without such a run ("/", "…") are looked for directly.
    """

    def __init__(self, values: Iterable[AnyStr], runs: Callable[[AnyStr], list[AnyStr]],
                 edge: frozenset[AnyStr], before: frozenset[AnyStr]) -> None:
        self._runs: Callable[[AnyStr], list[AnyStr]] = runs
        self._edge: frozenset[AnyStr] = edge
        self._before: frozenset[AnyStr] = before
        self._by_run: dict[AnyStr, list[AnyStr]] = {}
        self._runless: list[AnyStr] = []
        for value in values:
            value_runs = runs(value)
            if value_runs:
                self._by_run.setdefault(max(value_runs, key=len), []).append(value)
            else:
                self._runless.append(value)

    def named(self, text: AnyStr) -> AnyStr | None:
        """The first value ``text`` names as a whole token, if any."""
        keys = self._by_run.keys() & self._runs(text)
        if not keys and not self._runless:
            return None
        for value in [v for key in keys for v in self._by_run[key]] + self._runless:
            at, size = text.find(value), len(value)
            while at >= 0:
                if (at == 0 or text[at - 1:at] not in self._before) and text[
                        at + size:at + size + 1] not in self._edge:
                    return value
                at = text.find(value, at + 1)
        return None


class _LineFilter:
    """Which log lines name one of a set of values (the lines erasure drops)."""

    def __init__(self, values: set[str]) -> None:
        self._forms_of = {value: tuple(dict.fromkeys(
            form.encode("utf-8", "surrogateescape")
            for form in (value, json.dumps(value, ensure_ascii=False)[1:-1]))) for value in values}
        """Each value as it is and as JSON escapes it (``"`` as ``\\"``), UTF-8 encoded."""
        self._forms = {form for forms in self._forms_of.values() for form in forms}
        self._text = _Tokens(values, _text_runs, _EDGE, _BEFORE)
        self._raw = _Tokens(self._forms, _raw_runs, _RAW_EDGE, _RAW_BEFORE)
        self._any_form: re.Pattern[bytes] | None = None

    def names(self, line: bytes) -> bool:
        """True when ``line`` holds one of the values or its JSON escape, and names a value
        as a whole token of one of its JSON string values (numbers such as ``"status": 200``
        are not identifiers), or anywhere as a whole token when it is not one of the
        service's JSON lines."""
        if b"\\" not in line and b"\0" not in line and self._raw.named(line) is None:
            return False  # unescaped UTF-8: a value named in a JSON string is a raw token too
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return self._raw.named(line) is not None
        for text in _texts(record):
            value = self._text.named(text)
            if value is not None:
                return self._holds_a_form(line, value)
        return False

    def _holds_a_form(self, line: bytes, value: str) -> bool:
        """Whether ``line`` holds any value or escape as it is, in any position (a line naming
        a value only through a ``\\u`` escape does not)."""
        if any(form in line for form in self._forms_of[value]):
            return True
        if self._any_form is None:  # another value than the one named: rare, compiled late
            self._any_form = re.compile(b"|".join(re.escape(f) for f in self._forms))
        return self._any_form.search(line) is not None


_ATTEMPTS = 3
"""Unlocked scans of a file that another rewrite replaced meanwhile before the last, locked one."""


class _Scan:
    """One log file read and filtered without the lock, up to its last whole line.

    The open handle keeps the file's inode, so that a file another rewrite replaced meanwhile
    is told apart; the lines kept so far wait in a temporary file when some were removed. The
    temporary stays open, and so locked (:func:`~fraudscreen.logs.rewrite_temporary`), until
    it is swapped in or deleted: another process's rewrite or purge leaves it alone meanwhile.
    """

    def __init__(self, path: Path, lines: _LineFilter) -> None:
        self.path, self._lines, self.removed = path, lines, 0
        self._handle = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._tmp: Path | None = None
        self._tmp_file: BinaryIO | None = None
        self.offset = 0
        try:
            kept: list[bytes] = []
            for _ in range(3):  # the file, then what was appended while it was being filtered
                self._handle.seek(self.offset)
                data = self._handle.read()
                end = data.rfind(b"\n") + 1  # a writer may be half-way through its line
                if not end:
                    break
                kept += self._filter(data[:end])
                self.offset += end
            if self.removed:
                self._temporary(kept)
        except BaseException:
            self.close()
            raise

    def _filter(self, data: bytes) -> list[bytes]:
        lines = data.splitlines(keepends=True)
        kept = [line for line in lines if not self._lines.names(line)]
        self.removed += len(lines) - len(kept)
        return kept

    def _temporary(self, kept: Iterable[bytes]) -> None:
        """Write ``kept`` to a new temporary file, synced, and keep it open (and locked)."""
        fd, self._tmp = rewrite_temporary(self.path.parent)
        self._tmp_file = os.fdopen(fd, "wb")  # from here close() deletes it on any failure
        self._tmp_file.writelines(kept)
        self._tmp_file.flush()
        os.fsync(fd)  # before the lock: only the appended lines are synced under it

    def finish(self) -> int | None:
        """Under the exclusive lock: filter the lines appended since the scan and swap the
        file in; the lines removed, or None when the file is no longer the one scanned."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return 0  # retention deleted it meanwhile
        pinned = os.fstat(self._handle.fileno())
        if (current.st_dev, current.st_ino) != (pinned.st_dev, pinned.st_ino) \
                or current.st_size < self.offset:
            return None
        self._handle.seek(self.offset)
        tail = self._filter(self._handle.read())
        if not self.removed:
            return 0
        if self._tmp_file is None:  # only appended lines name a value: copy the rest as it is
            self._handle.seek(0)
            self._temporary([self._handle.read(self.offset)])
        assert self._tmp is not None and self._tmp_file is not None
        self._tmp_file.writelines(tail)
        self._tmp_file.flush()
        os.fsync(self._tmp_file.fileno())
        os.fchmod(self._tmp_file.fileno(), current.st_mode & 0o777)
        os.replace(self._tmp, self.path)
        self._tmp = None  # it is the log file now: close() must not delete it
        self._tmp_file.close()
        self._tmp_file = None
        return self.removed

    def close(self) -> None:
        """Close the file and delete a temporary file that was not swapped in (before closing
        it, which releases its lock)."""
        self._handle.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        if self._tmp_file is not None:
            self._tmp_file.close()
            self._tmp_file = None


def rewrite_log_files(directory: Path, identifiers: Iterable[str]) -> tuple[int, int]:
    """:func:`rewrite_logs`, counted: ``(files rewritten, lines removed)``."""
    files, removed = rewrite_logs(directory, identifiers)
    return len(files), removed


def rewrite_logs(directory: Path, identifiers: Iterable[str]) -> tuple[frozenset[Path], int]:
    """Drop every log line that names one of ``identifiers`` (see :meth:`_LineFilter.names`).

    Each file is read and filtered without the lock, while requests keep logging; then,
    under the exclusive lock that every :class:`DailyFileHandler` write shares, the lines
    appended meanwhile are filtered too and the file is replaced atomically (the handlers
    reopen it on their next record): no line written meanwhile is lost, and writers wait only
    for that swap. A file another rewrite replaced meanwhile is read again.
    Returns the files rewritten and the number of lines removed.
    """
    if not directory.is_dir():
        return frozenset(), 0
    delete_stale_rewrites(directory)  # copies of lines a crashed rewrite left: nothing finds them
    values = {v for v in identifiers if v}
    if not values:
        return frozenset(), 0
    lines, removed = _LineFilter(values), 0
    done: set[Path] = set()
    rewritten: set[Path] = set()
    for attempt in range(_ATTEMPTS):
        last = attempt == _ATTEMPTS - 1
        scans: list[_Scan] = []
        try:
            if not last:
                _scan_all(directory, lines, done, scans)
            with DirectoryLock(directory, exclusive=True):
                if last:  # files still changing under us: the rest is read under the lock
                    _scan_all(directory, lines, done, scans)
                for scan in scans:
                    count = scan.finish()
                    if count is not None:
                        done.add(scan.path)
                        removed += count
                        if count:
                            rewritten.add(scan.path)
                left = [p for p in log_files(directory) if p not in done]
        finally:
            for scan in scans:
                scan.close()
        if not left:
            break
    return frozenset(rewritten), removed


def _scan_all(directory: Path, lines: _LineFilter, done: set[Path], scans: list[_Scan]) -> None:
    for path in log_files(directory):
        if path not in done:
            try:
                scans.append(_Scan(path, lines))
            except FileNotFoundError:
                continue


PENDING_PREFIX = ".erasure-pending-"
"""A :class:`PendingScrub` record in the log directory: ``.erasure-pending-`` and random
characters."""


class PendingScrub:
    """The identifiers an erasure has still to clean from the log files, recorded in the log
    directory (mode 0600, beside the lines that name them) before its database part commits,
    and removed once the pass after it is done.

    A crash, or a failing pass, in between leaves the record: its lock
    (:func:`~fraudscreen.logs.locked_file`) is gone with the process, and the next erasure or
    purge finishes the pass (:func:`finish_pending_scrubs`). Without it the identifiers of
    orders that arrived while the erasure ran were lost with the database rows.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None
        self._path: Path | None = None

    def record(self, identifiers: Iterable[str]) -> None:
        """Write the record (nothing when there is no log directory: no line to clean)."""
        if not self.directory.is_dir():
            return
        self._fd, self._path = locked_file(self.directory, PENDING_PREFIX)
        os.write(self._fd, json.dumps({"identifiers": sorted(set(identifiers))}).encode())
        os.fsync(self._fd)

    def done(self) -> None:
        """The pass is done, or the database part failed (nothing erased): remove the record."""
        if self._path is not None:
            self._path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        """Give up the record's lock and leave it for :func:`finish_pending_scrubs`."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._path = None


def finish_pending_scrubs(directory: Path) -> int:
    """Do the log pass of every erasure that left a :class:`PendingScrub` record, then remove
    the record; how many lines were removed. A record still in use is left alone."""
    removed = 0
    for path in stale_files(directory, PENDING_PREFIX):
        try:
            identifiers = json.loads(path.read_bytes())["identifiers"]
        except (ValueError, KeyError, TypeError):  # not a record this package wrote
            identifiers = []
        removed += rewrite_logs(directory, [i for i in identifiers if isinstance(i, str)])[1]
        path.unlink(missing_ok=True)
    return removed


__all__ = ["PENDING_PREFIX", "PendingScrub", "finish_pending_scrubs", "rewrite_log_files",
           "rewrite_logs"]
