"""SQLite WAL checkpoints off the request path.

With SQLite's automatic checkpoint, the commit that crosses the threshold copies the WAL
into the database and fsyncs it: 5–20 ms on one request in a few hundred. Instead a
daemon thread runs a PASSIVE checkpoint after every few dozen writes (PASSIVE never
blocks readers or writers), and the automatic checkpoint stays on, at a higher
threshold, only as a safety net. The thread starts lazily in the process that writes,
so it survives gunicorn's fork-after-import.
"""

from __future__ import annotations

import logging
import os
import threading

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_WRITES = 64
"""Signal a background checkpoint after this many write transactions."""
SAFETY_NET_PAGES = 4000
"""``PRAGMA wal_autocheckpoint`` value: SQLite checkpoints inline only past this WAL size."""


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` in a daemon thread when enough writes happened."""

    def __init__(self, engine: Engine, every_writes: int = CHECKPOINT_EVERY_WRITES) -> None:
        self._engine = engine
        self._every = every_writes
        self._writes = 0
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False
        self.checkpoints = 0
        """How many checkpoints ran (for tests and metrics)."""

    def wrote(self) -> None:
        """Count one committed write; wake the thread every ``every_writes`` writes."""
        self._writes += 1  # a lost increment under threads only delays a checkpoint
        if self._writes < self._every or self._closed:
            return
        self._writes = 0
        self._ensure_thread()
        self._wake.set()

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
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            try:
                pooled = self._engine.raw_connection()
                try:
                    pooled.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                finally:
                    pooled.close()
            except Exception:
                log.warning("background WAL checkpoint failed", exc_info=True)

    def close(self) -> None:
        """Stop the thread (waits briefly for a running checkpoint)."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            thread.join(timeout=5)
