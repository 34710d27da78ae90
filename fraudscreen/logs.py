"""Structured JSON logs that never carry raw emails, card numbers, API keys or passwords (P5).

:func:`setup_logging` sends every record to stderr and to one file a day under the log
directory (``<data_dir>/logs/fraudscreen-YYYY-MM-DD.log``), one JSON object a line.
:class:`MaskingFilter` sits on each of those handlers and masks the message, its arguments,
extra fields, the exception text and the stack of every record before it is written.
:func:`delete_old_log_files` serves retention; erasure's line removal is :mod:`.log_rewrite`,
whose temporary files (:func:`rewrite_temporary`) a crash can leave behind:
:func:`delete_stale_rewrites` removes them (each rewrite and each purge calls it).
"""

from __future__ import annotations

import fcntl
import json
import logging
import logging.handlers
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fraudscreen.config import Settings
from fraudscreen.enrich.card import find_card_numbers
from fraudscreen.enrich.email import EMAIL_IN_TEXT

LOG_PREFIX = "fraudscreen-"
LOG_SUFFIX = ".log"
REWRITE_PREFIX = ".rewrite-"
"""A rewrite's temporary file in the log directory: ``.rewrite-`` and random characters."""
_MARK = "_fraudscreen_handler"

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_SECRET_FIELD = re.compile(
    r"(?i)((?:password|passwd|pwd|secret|api[_-]?key|apikey|token|authorization|hmac[_-]?key"
    r"|(?<![a-z])pw|(?<![a-z])pass)"
    r"[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+|basic\s+)?[^\s\"',;&}]+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_API_KEY = re.compile(r"\bfs_[A-Za-z0-9_-]{6,}")
_DIGIT_RUN = re.compile(
    r"(?<!\d)\d(?:[\s\u2010-\u2015\u2212\u200b-]{0,3}\d){11,}(?!\d)"  # \d, \s: any script's
    r"|(?<!\d)\d{4}(?:\.\d{4}){2,4}(?!\d)"
    # a card's grouping with another separator repeated (fraudscreen.enrich.card._GROUPED)
    r"|(?<!\d)\d{4}(?P<s>\s+|[-+.=_/\\:,;~|*#])"
    r"(?:\d{4}(?P=s)\d{4}(?P=s)\d{1,4}(?:(?P=s)\d{1,3})?|\d{6}(?P=s)\d{4,5})(?!\d)"
)
_REDACTED = "[redacted]"
_MAY_HOLD_SECRET = re.compile(r"[:=@＠﹫]|fs_|(?i:bearer|basic)")  # the at signs EMAIL_IN_TEXT takes
"""What each pattern above but the digit run needs: a text without it skips them."""

# Attributes every LogRecord has; anything else was passed as ``extra`` and is logged as a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


_PERCENT_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _unquoted(match: re.Match[str]) -> str:
    """Percent escapes decoded, but a control character as a space: ``%0A`` decoded into a
    plain-text log (gunicorn's warnings) began a line the client wrote."""
    return _LINE_BREAKING.sub(" ", unquote(match.group(), errors="replace"))


def _mask_card(match: re.Match[str]) -> str:
    return "[card]" if find_card_numbers(match.group()) else match.group()


_ESCAPE = re.compile(r"\\(?:[tnrvf]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})")
"""A character as ``repr`` writes it: gunicorn's plain-text warnings quote requests with ``%r``,
so a card sent with tabs between its groups reached the log as ``4111\\t1111\\t…``."""


def _mask_cards(text: str) -> str:
    """``text`` with every card-like digit run that holds a card replaced by ``[card]``, also
    where escapes such as ``\\t`` separate the digits."""
    if "\\" in text and _ESCAPE.search(text):
        shadow = _ESCAPE.sub(lambda m: " " * len(m.group()), text)  # spaces: the spans line up
        for match in reversed(list(_DIGIT_RUN.finditer(shadow))):
            if find_card_numbers(match.group()):
                text = text[:match.start()] + "[card]" + text[match.end():]
    return _DIGIT_RUN.sub(_mask_card, text)


def mask(text: str) -> str:
    """``text`` with emails, Luhn-valid card-like digit runs, ``fs_`` API keys, bearer
    tokens, URL credentials and ``password=``-style values replaced."""
    if not text:
        return text
    if "%" in text:  # a request path: jane%40example.org, 4111%201111...
        text = _PERCENT_ESCAPES.sub(_unquoted, text)
    if _MAY_HOLD_SECRET.search(text):  # most values (ids, routes, names) hold none of these
        text = _URL_CREDENTIALS.sub(lambda m: m.group(1) + _REDACTED + "@", text)
        text = _SECRET_FIELD.sub(lambda m: m.group(1) + _REDACTED, text)
        text = _BEARER.sub(lambda m: m.group(1) + " " + _REDACTED, text)
        text = _API_KEY.sub("fs_" + _REDACTED, text)
        text = EMAIL_IN_TEXT.sub("[email]", text)
    return _mask_cards(text) if len(text) >= 12 else text


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_value(v) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return mask(str(value))


_MASKED = "_fraudscreen_masked"
_JSON = "_fraudscreen_json"
_INTERNAL = frozenset({_MASKED, _JSON})


class MaskingFilter(logging.Filter):
    """Masks personal data and secrets in a record's message, args, extras, exception and stack.

    The message is rendered (``msg % args``) and masked, the args dropped; the exception is
    rendered to text and masked, and ``exc_info`` cleared so no later formatter renders it raw.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MASKED, False):  # already masked for another handler
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = f"{record.msg} (unformattable arguments)"
        record.msg, record.args = mask(str(message)), None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            exc_type = record.exc_info[0]
            record.exc_type = exc_type.__name__ if exc_type else None
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and key != "exc_type":
                setattr(record, key, _mask_value(value))
        setattr(record, _MASKED, True)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        cached = getattr(record, _JSON, None)  # the same line for every handler of the record
        if cached is not None:
            return str(cached)
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in payload and key not in _INTERNAL:
                payload[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        line = json.dumps(payload, default=str, ensure_ascii=False)
        setattr(record, _JSON, line)
        return line


def log_file_name(day: date) -> str:
    """The file name of one day's log."""
    return f"{LOG_PREFIX}{day.isoformat()}{LOG_SUFFIX}"


class DailyFileHandler(logging.handlers.WatchedFileHandler):
    """Appends to the current UTC day's file; reopens it when erasure has rewritten it.

    Every worker appends to the same file (``O_APPEND``): no rotation step to race on.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._day = datetime.now(UTC).date()
        super().__init__(directory / log_file_name(self._day), encoding="utf-8", delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            with DirectoryLock(self.directory, exclusive=False):  # not while erasure swaps a file in
                self._emit(record)
        except OSError:  # the folder gone or unwritable: the request is answered all the same
            self.handleError(record)

    def _emit(self, record: logging.LogRecord) -> None:
        day = datetime.fromtimestamp(record.created, UTC).date()
        if day != self._day:
            self.acquire()
            try:
                self._day = day
                self.baseFilename = os.fspath(self.directory / log_file_name(day))
                if self.stream is not None:
                    self.stream.close()
                    self.stream = None  # type: ignore[assignment]
            finally:
                self.release()
        super().emit(record)


def _install(handler: logging.Handler, level: int) -> logging.Handler:
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskingFilter())
    setattr(handler, _MARK, True)
    return handler


def setup_logging(settings: Settings) -> None:
    """JSON logs to stderr and (unless ``log_to_file`` is off) to the daily files; idempotent.

    Replaces the handlers an earlier call installed; leaves other handlers alone but puts a
    :class:`MaskingFilter` on gunicorn's error-log handlers too.
    """
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    reset_logging()
    root = logging.getLogger()
    root.addHandler(_install(logging.StreamHandler(sys.stderr), level))
    if settings.log_to_file:
        root.addHandler(_install(DailyFileHandler(settings.resolved_log_dir), level))
    root.setLevel(level)
    for handler in logging.getLogger("gunicorn.error").handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())


def reset_logging() -> None:
    """Remove and close the handlers :func:`setup_logging` installed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()


def log_files(directory: Path) -> list[Path]:
    """The service's log files in ``directory``, oldest first (files only: a folder of that
    name is nobody's log)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"{LOG_PREFIX}*{LOG_SUFFIX}") if p.is_file())


def _lock_path(directory: Path) -> Path:
    return directory / ".lock"


class DirectoryLock:
    """``flock`` on ``<log dir>/.lock``: writers share it, a rewrite swaps a file in alone."""

    def __init__(self, directory: Path, *, exclusive: bool) -> None:
        self._path, self._mode = _lock_path(directory), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, self._mode)

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def rewrite_temporary(directory: Path) -> tuple[int, Path]:
    """A new, empty temporary file for a rewrite (``.rewrite-…``): see :func:`locked_file`."""
    return locked_file(directory, REWRITE_PREFIX)


def locked_file(directory: Path, prefix: str) -> tuple[int, Path]:
    """A new, empty file named ``prefix`` and random characters (mode 0600): its descriptor,
    holding an exclusive ``flock`` on it, and its path.

    The lock says "still in use": it lasts until the descriptor is closed, by its maker or,
    when the process dies, by the kernel. Keep the descriptor open for as long as the file is
    in use. :func:`stale_files` yields only unlocked ones; one a cleaner removed between this
    function's ``mkstemp`` and its ``flock`` is noticed here (the path no longer names the
    locked file) and another one is made.
    """
    while True:
        fd, name = tempfile.mkstemp(dir=directory, prefix=prefix)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(os.fstat(fd), os.lstat(name)):
                return fd, Path(name)
        except FileNotFoundError:
            pass  # a cleaner removed it before it was locked
        except BaseException:
            os.close(fd)
            Path(name).unlink(missing_ok=True)
            raise
        os.close(fd)  # not ours any more: leave whatever now has that name


def stale_files(directory: Path, prefix: str) -> Iterator[Path]:
    """The files named ``prefix``… that no live process holds (see :func:`locked_file`): made
    by a process that ended without removing them (a crash, a kill, a power cut). Each is
    yielded while this process holds its lock, so that no other cleaner takes it meanwhile; a
    file still in use is locked and skipped (the check takes the lock without waiting)."""
    if not directory.is_dir():
        return
    for path in directory.glob(f"{prefix}*"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # gone meanwhile, or not a file we made (a symbolic link)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use
            try:
                same = _same_file(os.fstat(fd), os.lstat(path))
            except FileNotFoundError:
                continue  # its maker removed or renamed it meanwhile
            if same:
                yield path
        finally:
            os.close(fd)


def delete_stale_rewrites(directory: Path) -> int:
    """Delete the temporary files of rewrites that ended without removing them; how many.

    Such a file holds copies of log lines that no later erasure or retention purge would
    reach. A temporary that a rewrite (in any process) is still writing is locked (see
    :func:`rewrite_temporary`) and stays.
    """
    removed = 0
    for path in stale_files(directory, REWRITE_PREFIX):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def delete_old_log_files(directory: Path, before: date) -> int:
    """Delete the daily log files of days before ``before``; how many. Stale rewrite
    temporaries (:func:`delete_stale_rewrites`) go too, uncounted: they are copies of lines
    that their log file still holds."""
    delete_stale_rewrites(directory)
    removed = 0
    for path in log_files(directory):
        stem = path.name[len(LOG_PREFIX) : -len(LOG_SUFFIX)]
        try:
            day = date.fromisoformat(stem)
        except ValueError:
            continue
        if day < before:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


__all__ = [
    "DailyFileHandler",
    "JsonFormatter",
    "MaskingFilter",
    "delete_old_log_files",
    "delete_stale_rewrites",
    "locked_file",
    "log_files",
    "mask",
    "reset_logging",
    "rewrite_temporary",
    "setup_logging",
    "stale_files",
]
