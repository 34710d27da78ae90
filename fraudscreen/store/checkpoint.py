"""SQLite WAL checkpoints off the request path, and truncating the WAL after deleting personal data.

With SQLite's automatic checkpoint, the commit that crosses the threshold copies the WAL
into the database and fsyncs it: 5–20 ms on one request in a few hundred. Instead a
daemon thread runs a PASSIVE checkpoint after every few dozen writes (PASSIVE never
blocks readers or writers), and the automatic checkpoint stays on, at a higher
threshold, only as a safety net. The thread starts lazily in the process that writes,
so it survives gunicorn's fork-after-import.

After an erasure or purge, :func:`truncate_wal` empties the WAL, which still holds the page
images from before the deletion (SQLite reuses the WAL file from its start and never shortens
it, so without this they would stay until overwritten). A reader's open snapshot blocks that;
the thread then retries every :data:`SCRUB_RETRY_SECONDS` until it succeeds. A process that
exits first (``fraudscreen erase`` from a shell) leaves it to the next erasure or purge.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_WRITES = 64
"""Signal a background checkpoint after this many write transactions."""
SAFETY_NET_PAGES = 4000
"""``PRAGMA wal_autocheckpoint`` value: SQLite checkpoints inline only past this WAL size."""
SCRUB_BUSY_TIMEOUT_MS = 100
"""How long one truncating checkpoint waits for readers. It holds the write lock while it waits,
so every writer queues behind it: the wait must be short (the connections' own is 10 s)."""
SCRUB_RETRY_SECONDS = 30.0
"""After readers blocked a truncation, the background thread tries again this often."""


def truncate_wal(engine: Engine, busy_timeout_ms: int = SCRUB_BUSY_TIMEOUT_MS) -> bool:
    """``PRAGMA wal_checkpoint(TRUNCATE)``, waiting at most ``busy_timeout_ms`` for others' locks.

    True when the WAL was copied into the database and cut to zero bytes. Raises the driver's
    (or SQLAlchemy's) error when the database cannot be reached.
    """
    pooled = engine.raw_connection()  # autocommit: a checkpoint needs no transaction
    try:
        cursor = pooled.cursor()
        usual = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        cursor.execute(f"PRAGMA busy_timeout={int(usual)}")
    except BaseException:
        pooled.invalidate()  # it may still have the short timeout: not one for the pool
        raise
    finally:
        pooled.close()
    return not busy


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` in a daemon thread when enough writes happened,
    and retries a WAL truncation that readers blocked (:meth:`truncate_later`)."""

    def __init__(
        self,
        engine: Engine,
        every_writes: int = CHECKPOINT_EVERY_WRITES,
        retry_seconds: float | None = None,
    ) -> None:
        self._engine = engine
        self._every = every_writes
        # read here, not as a default: tests shorten the module's value
        self._retry = SCRUB_RETRY_SECONDS if retry_seconds is None else retry_seconds
        self._writes = 0
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False
        self._truncate_at: float | None = None
        """When (``time.monotonic()``) to try truncating the WAL again; None when not pending."""
        self.checkpoints = 0
        """How many checkpoints ran (for tests and metrics)."""

    @property
    def truncation_pending(self) -> bool:
        """True while a WAL truncation that readers blocked waits for its retry."""
        return self._truncate_at is not None

    def wrote(self) -> None:
        """Count one committed write; wake the thread every ``every_writes`` writes."""
        self._writes += 1  # a lost increment under threads only delays a checkpoint
        if self._writes < self._every or self._closed:
            return
        self._writes = 0
        self._ensure_thread()
        self._wake.set()

    def truncate_later(self) -> None:
        """Truncate the WAL in the thread, trying every ``retry_seconds`` until readers let it."""
        if self._closed:
            return
        with self._lock:
            self._truncate_at = time.monotonic() + self._retry
        self._ensure_thread()
        self._wake.set()  # the thread waits without a timeout until told of the retry

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()  # after a fork the parent's thread does not exist here
            self._thread = threading.Thread(
                target=self._run, name="fraudscreen-wal-checkpoint", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            due = self._truncate_at
            self._wake.wait(None if due is None else max(0.0, due - time.monotonic()))
            self._wake.clear()
            if self._closed:
                return
            try:
                self._checkpoint()
            except Exception:
                log.warning("background WAL checkpoint failed", exc_info=True)

    def _checkpoint(self) -> None:
        claimed = self._claim_truncation()
        if claimed is None:
            pooled = self._engine.raw_connection()
            try:
                pooled.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                pooled.close()
        elif truncate_wal(self._engine):
            with self._lock:
                if self._truncate_at == claimed:  # else a newer truncation was asked for meanwhile
                    self._truncate_at = None
            log.info("WAL truncated: the readers that blocked the last scrub are gone")
        self.checkpoints += 1

    def _claim_truncation(self) -> float | None:
        """When a truncation is due: schedule the next try (in case this one fails) and return
        its time; None when none is due."""
        with self._lock:
            due = self._truncate_at
            if due is None or due > time.monotonic():
                return None
            self._truncate_at = time.monotonic() + self._retry
            return self._truncate_at

    def close(self) -> None:
        """Stop the thread (waits briefly for a running checkpoint)."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            thread.join(timeout=5)
