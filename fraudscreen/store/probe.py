"""A check that answers within a time limit even when what it checks hangs.

A database that stops answering without closing the connection (a frozen server, a network
that drops packets) holds a query forever: no driver timeout covers a reply that never comes.
:class:`Probe` runs its check in a daemon thread and waits for it only so long; while a check
hangs, no second one starts, so probes every few seconds do not pile up threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["Probe"]


class _Run:
    """One run of the check: done once it returned, with its answer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


class Probe:
    """Call ``check`` (which must not raise) in a daemon thread; :meth:`__call__` waits for it."""

    def __init__(self, check: Callable[[], bool], name: str) -> None:
        self._check = check
        self._name = name
        self._lock = threading.Lock()
        self._run: _Run | None = None
        self._pid = os.getpid()

    def __call__(self, timeout: float) -> bool:
        """The check's answer, or False when it has not answered within ``timeout`` seconds
        (then the next call waits for the same run instead of starting another)."""
        with self._lock:
            if self._pid != os.getpid():  # a forked worker: the parent's thread is not here
                self._pid, self._run = os.getpid(), None
            run = self._run
            if run is None or run.done.is_set():
                run = self._run = _Run()
                threading.Thread(target=self._work, args=(run,), name=self._name, daemon=True).start()
        return run.done.wait(timeout) and run.ok

    def waiting(self) -> bool:
        """True while a run has not answered yet."""
        run = self._run
        return run is not None and not run.done.is_set()

    def _work(self, run: _Run) -> None:
        try:
            run.ok = self._check()
        finally:
            run.done.set()
