"""The replay's first half: labelled rows -> validated, enriched orders, on every core.

Preparing a row (its label and ``label_time``, schema validation,
:func:`~fraudscreen.prepared.prepare_order`) needs nothing but the row, so
:class:`RowPreparers` hands it to worker processes while the replay screens the prepared orders
against their history in event-time order, in its own process. Results come back in the
order asked for, whatever the number of workers: the replay gives the same rows with 0, 1 or
more. Workers are forked (Linux), so they start in milliseconds with the enricher (GeoIP
readers, email key, warm caches) already loaded; elsewhere the rows are prepared in the
replay's process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.pool import AsyncResult, Pool
from typing import Any, Self

from fraudscreen.enrich import device, places
from fraudscreen.errors import InvalidRequestError
from fraudscreen.prepared import PreparedOrder, prepare_order
from fraudscreen.schema import LATEST_TIME, parse_order, parse_time
from fraudscreen.signals import Enricher
from fraudscreen.training.jsonl import decode_line
from fraudscreen.training.segments import SegmentBy, segment_of

__all__ = [
    "BAD_LABEL", "BAD_LABEL_TIME", "DEFAULT_LABEL_DELAY", "LABELS", "LABEL_FIELDS",
    "NO_EVENT_TIME", "SCHEMA_ERROR", "JsonRow", "Prepared", "Ready", "RowPreparer",
    "RowPreparers", "can_fork", "default_workers", "label_time",
]

LABEL_FIELDS = frozenset({"label", "label_time", "scenario"})
"""Top-level fields of a labelled row that are not part of the score request."""
LABELS = {"fraud": 1, "legit": 0}
"""The accepted values of a row's ``label``."""
DEFAULT_LABEL_DELAY = timedelta(days=30)
"""When a fraud row has no ``label_time``: its event time plus this."""
LAST_LABEL_TIME = LATEST_TIME - timedelta(seconds=1)
"""The latest label time a row can hold (2099-12-31T23:59:59Z): a label the delay puts later is
known from then, after every order a file can hold, so a saved replay can write it."""

# Why a row was skipped: the phrases of ``ReplayResult.skipped_why`` (read after a count).
NO_EVENT_TIME = "without a valid event time"
BAD_LABEL = "with a label other than fraud or legit"
BAD_LABEL_TIME = "with an invalid label_time"
SCHEMA_ERROR = "failing the request schema"

CHUNK_ROWS = 500
"""Rows a worker prepares per task: large enough that the hand-over costs little, small
enough that the replay starts at once and memory stays flat."""
MIN_ROWS_FOR_WORKERS = 2_000
"""Below this, starting workers costs more than they save."""
_TASKS_PER_WORKER = 3
"""Tasks in flight per worker: enough to keep it busy, few enough to bound the results held."""

Ready = tuple[int, datetime, PreparedOrder, str | None]
"""A prepared row: ``(label, label time, order, segment)``."""
Prepared = tuple[int, Ready | str]
"""``(index of the row, a prepared row)``, or ``(index, why it was skipped)``."""


@dataclass(frozen=True, slots=True)
class JsonRow:
    """A labelled row of a file, kept as its line's bytes until it is prepared, with its event
    time (the replay's sort key; None when missing or invalid). The simulator's rows take
    about 1 KB so, against 6.2 KB decoded (``tracemalloc``), and a worker is sent the bytes
    alone, which cost nothing to pickle."""

    text: bytes
    """The line, read and checked once (:func:`~fraudscreen.training.jsonl.iter_jsonl_raw`)."""
    event_time: datetime | None


def label_time(row: dict[str, Any], at: datetime, delay: timedelta) -> datetime:
    """When the row's label becomes known; InvalidRequestError for a bad ``label_time``. Without
    one, the event time plus ``delay``, at the latest :data:`LAST_LABEL_TIME`."""
    raw = row.get("label_time")
    if raw is not None and not isinstance(raw, str):  # parse_time wants a string
        raise InvalidRequestError("label_time must be an RFC 3339 string")
    if raw is None:
        known = at + delay if LAST_LABEL_TIME - at > delay else LAST_LABEL_TIME
    else:
        known = parse_time(raw, "/label_time")
    return max(known, at)  # a label cannot be known before its order happened


@dataclass(frozen=True)
class RowPreparer:
    """Prepares labelled rows with one enricher (GeoIP readers and the email key)."""

    enricher: Enricher
    label_delay: timedelta = DEFAULT_LABEL_DELAY
    segment_by: SegmentBy = "scenario"
    """What gives each row its segment (:func:`~fraudscreen.training.segments.segment_of`)."""

    def __call__(self, row: Any) -> Ready | str:
        """``(label, label time, prepared order, segment)``, or why the row is skipped; ``row``
        is a decoded row or the bytes of a :class:`JsonRow`."""
        if isinstance(row, bytes):
            row = decode_line(row)
        raw_label = row.get("label")
        label = LABELS.get(raw_label) if isinstance(raw_label, str) else None
        if label is None:
            return BAD_LABEL
        body = {k: v for k, v in row.items() if k not in LABEL_FIELDS}
        try:
            order, _ = parse_order(body, warn_unknown=False)
        except InvalidRequestError:
            return SCHEMA_ERROR
        at = order.event.time
        if at is None:  # pragma: no cover - the replay sorted the rows by this time
            return NO_EVENT_TIME
        try:
            known = label_time(row, at, self.label_delay)  # validated for every row
        except InvalidRequestError:
            return BAD_LABEL_TIME
        prepared = prepare_order(self.enricher, order, received_at=at, build_response=False)
        return label, known, prepared, segment_of(self.segment_by, row, order, prepared)


def default_workers(rows: int | None = None) -> int:
    """Worker processes for a replay of ``rows`` rows (None: not known yet): one per core
    beyond the first (at least one) where workers can be forked, else 0; 0 as well for fewer
    than :data:`MIN_ROWS_FOR_WORKERS` rows."""
    if (rows is not None and rows < MIN_ROWS_FOR_WORKERS) or not can_fork():
        return 0
    return max(1, len(os.sched_getaffinity(0)) - 1)  # the cores this process may run on


def can_fork() -> bool:
    """True where workers can be forked (Linux); elsewhere rows are prepared in-process."""
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


_preparer: RowPreparer | None = None
"""In a worker: the preparer it uses (set by :func:`_start_worker`)."""


def _start_worker(preparer: RowPreparer) -> None:
    """A worker's initializer: forked workers inherit ``preparer`` (its GeoIP readers, email
    key and loaded caches) without pickling; a worker the pool starts again gets it too.

    Ctrl-C reaches the whole process group; the replay's process handles it and stops the
    workers, which would otherwise each print a traceback of where they were interrupted."""
    global _preparer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool stops its workers with it
    _preparer = preparer


def _prepare_chunk(chunk: list[tuple[int, Any]]) -> list[Prepared]:
    """In a worker: prepare each ``(index, row)``."""
    assert _preparer is not None, "set by the worker's initializer"
    done = [(index, _preparer(row)) for index, row in chunk]
    gc.collect(1)  # the worker's automatic collection is off, as in the replay that forked it
    return done


@contextmanager
def _default_sigterm() -> Iterator[None]:
    """SIGTERM's default action in this (main) thread meanwhile: workers forked now inherit it.

    The command line's handler (``fraudscreen.cli``) raises SystemExit to clean up; in a forked
    worker that exit would run the parent's clean-ups, and may wait on a lock held at the fork."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread sets handlers; it is the one the command line set
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class RowPreparers:
    """``workers`` forked processes that prepare rows, or none (0, or where fork is missing).

    Use as a context manager, and enter it before reading the rows: a forked worker keeps the
    memory of its parent at the fork as it was, so every page the replay frees or changes
    afterwards would exist twice (a 100,000-row replay took 1.42 GB forked after reading the
    rows, 0.97 GB in one process). Rows are sent to the workers (pickled, about 10 µs a row)
    and let go here as they leave.
    """

    def __init__(self, preparer: RowPreparer, workers: int) -> None:
        self.preparer = preparer
        # more processes than cores only take turns (a --workers 300 forked 300 of them)
        self.workers = min(workers, len(os.sched_getaffinity(0))) if can_fork() else 0
        self._pool: Pool | None = None

    def __enter__(self) -> Self:
        if self.workers > 0:
            places.warm_up()  # loaded once here, inherited by every worker
            device.warm_up()
            with _default_sigterm():  # a worker the pool stops before its initializer ran dies too
                self._pool = multiprocessing.get_context("fork").Pool(
                    self.workers, initializer=_start_worker, initargs=(self.preparer,))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def prepare(self, rows: list[Any], order: list[int]) -> Iterator[Prepared]:
        """Each of ``rows[i]`` for ``i`` in ``order``, prepared, in that order; each row is
        let go (its slot set to None) once prepared or sent to a worker."""
        if self._pool is None:
            for index in order:
                row, rows[index] = rows[index], None
                yield index, self.preparer(_payload(row))
            return
        pool = self._pool
        chunks = iter([order[i:i + CHUNK_ROWS] for i in range(0, len(order), CHUNK_ROWS)])

        def send(chunk: list[int]) -> AsyncResult[list[Prepared]]:
            payload = [(index, _payload(rows[index])) for index in chunk]
            for index in chunk:
                rows[index] = None
            return pool.apply_async(_prepare_chunk, (payload,))

        # A few chunks per worker in flight; this process does not prepare rows itself while
        # it waits (measured: slower, each process then missing the other's caches).
        due = deque(send(chunk) for chunk in _take(chunks, self.workers * _TASKS_PER_WORKER))
        while due:
            done = due.popleft().get()
            for chunk in _take(chunks, 1):
                due.append(send(chunk))
            yield from done


def _payload(row: Any) -> Any:
    """What the preparer is given for a row: a :class:`JsonRow`'s bytes, any other row as it is."""
    return row.text if isinstance(row, JsonRow) else row


def _take(chunks: Iterator[list[int]], n: int) -> list[list[int]]:
    return [chunk for _, chunk in zip(range(n), chunks, strict=False)]
