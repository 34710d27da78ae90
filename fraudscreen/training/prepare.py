"""The replay's first half: labelled rows -> validated, enriched orders, on every core.

Preparing a row (its label and ``label_time``, schema validation,
:func:`~fraudscreen.prepared.prepare_order`) needs nothing but the row, so
:func:`prepare_rows` hands it to worker processes while the replay screens the prepared orders
against their history in event-time order, in its own process. Results come back in the
order asked for, whatever the number of workers: the replay gives the same rows with 0, 1 or
more. Workers are forked (Linux), so they start in milliseconds and read the rows from the
memory they share with the replay; elsewhere the rows are prepared in the replay's process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fraudscreen.enrich import device, places
from fraudscreen.errors import InvalidRequestError
from fraudscreen.prepared import PreparedOrder, prepare_order
from fraudscreen.schema import parse_order, parse_time
from fraudscreen.signals import Enricher

__all__ = [
    "BAD_LABEL", "BAD_LABEL_TIME", "DEFAULT_LABEL_DELAY", "LABELS", "LABEL_FIELDS",
    "NO_EVENT_TIME", "SCHEMA_ERROR", "Prepared", "RowPreparer", "can_fork", "default_workers",
    "label_time",
    "prepare_rows",
]

LABEL_FIELDS = frozenset({"label", "label_time", "scenario"})
"""Top-level fields of a labelled row that are not part of the score request."""
LABELS = {"fraud": 1, "legit": 0}
"""The accepted values of a row's ``label``."""
DEFAULT_LABEL_DELAY = timedelta(days=30)
"""When a fraud row has no ``label_time``: its event time plus this."""

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
WARM_ROWS = 200
"""Rows prepared in the replay's process before the workers are forked."""
_TASKS_PER_WORKER = 3
"""Tasks in flight per worker: enough to keep it busy, few enough to bound the results held."""

Prepared = tuple[int, tuple[int, datetime, PreparedOrder] | str]
"""``(index of the row, (label, label time, order))``, or ``(index, why it was skipped)``."""


def label_time(row: dict[str, Any], at: datetime, delay: timedelta) -> datetime:
    """When the row's label becomes known; InvalidRequestError for a bad ``label_time``."""
    raw = row.get("label_time")
    if raw is not None and not isinstance(raw, str):  # parse_time wants a string
        raise InvalidRequestError("label_time must be an RFC 3339 string")
    try:
        known = at + delay if raw is None else parse_time(raw, "/label_time")
    except OverflowError:  # an event time near the year 9999 plus the delay
        raise InvalidRequestError("label_time out of range") from None
    return max(known, at)  # a label cannot be known before its order happened


@dataclass(frozen=True)
class RowPreparer:
    """Prepares labelled rows with one enricher (GeoIP readers and the email key)."""

    enricher: Enricher
    label_delay: timedelta = DEFAULT_LABEL_DELAY

    def __call__(self, row: Any) -> tuple[int, datetime, PreparedOrder] | str:
        """``(label, label time, prepared order)``, or why the row is skipped."""
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
        return label, known, prepared


def default_workers(rows: int) -> int:
    """Worker processes for a replay of ``rows`` rows: one per core beyond the first (at
    least one) where workers can be forked and the file is large enough, else 0."""
    if rows < MIN_ROWS_FOR_WORKERS or not can_fork():
        return 0
    return max(1, (os.cpu_count() or 1) - 1)


def can_fork() -> bool:
    """True where workers can be forked (Linux); elsewhere rows are prepared in-process."""
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def prepare_rows(
    rows: list[Any], order: list[int], preparer: RowPreparer, *, workers: int = 0
) -> Iterator[Prepared]:
    """Each of ``rows[i]`` for ``i`` in ``order``, prepared, in that order. A row is let go
    (its slot set to None) once prepared; ``workers`` > 0 prepares in forked processes."""
    if workers <= 0 or not can_fork():
        yield from _prepared_here(rows, order, preparer)
        return
    # What these load (the gazetteer index, the user-agent regexes, phone metadata of the
    # common regions, the first cache entries) the workers inherit instead of loading it again.
    places.warm_up()
    device.warm_up()
    yield from _prepared_here(rows, order[:WARM_ROWS], preparer)
    yield from _prepared_by_workers(rows, order[WARM_ROWS:], preparer, workers)


def _prepared_here(rows: list[Any], order: list[int], preparer: RowPreparer) -> Iterator[Prepared]:
    for index in order:
        row, rows[index] = rows[index], None
        yield index, preparer(row)


_shared: tuple[list[Any], RowPreparer] | None = None
"""What forked workers read: the rows and the preparer (set only while a pool runs)."""


def _prepare_chunk(indexes: list[int]) -> list[Prepared]:
    """In a worker: prepare ``rows[i]`` for each index, and let those rows go."""
    assert _shared is not None, "set before the workers were forked"
    rows, preparer = _shared
    done: list[Prepared] = []
    for index in indexes:
        row, rows[index] = rows[index], None  # the worker's copy-on-write view only
        done.append((index, preparer(row)))
    gc.collect(0)  # the worker's automatic collection is off, as in the replay that forked it
    return done


def _prepared_by_workers(
    rows: list[Any], order: list[int], preparer: RowPreparer, workers: int
) -> Iterator[Prepared]:
    """Chunks of rows go to the workers, a few per worker at a time; results come back in
    order. (This process does not prepare rows itself while it waits: measured, that was
    slower, each process then missing the other's enrichment caches.)"""
    global _shared
    chunks = iter([order[i:i + CHUNK_ROWS] for i in range(0, len(order), CHUNK_ROWS)])
    _shared = (rows, preparer)
    gc.freeze()  # the rows move out of the collector's reach: workers never touch their pages for it
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            due = deque(pool.apply_async(_prepare_chunk, (chunk,))
                        for chunk in _take(chunks, workers * _TASKS_PER_WORKER))
            while due:
                done = due.popleft().get()
                for chunk in _take(chunks, 1):
                    due.append(pool.apply_async(_prepare_chunk, (chunk,)))
                for index, _ in done:
                    rows[index] = None
                yield from done
    finally:
        _shared = None
        gc.unfreeze()


def _take(chunks: Iterator[list[int]], n: int) -> list[list[int]]:
    return [chunk for _, chunk in zip(range(n), chunks, strict=False)]
