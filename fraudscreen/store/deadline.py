"""A client-side deadline on a request's PostgreSQL transaction.

The server's ``statement_timeout`` ends a statement that runs or waits too long, and
``tcp_user_timeout`` a connection whose server stopped acknowledging. Neither helps when the
server's host still acknowledges but its backend does not answer: a stopped or stalled process
(storage that hangs, a paused virtual machine, ``SIGSTOP``). psycopg then waits for a reply
without end, and with it the worker and the checkout that called it.

:data:`WATCHDOG` ends such a wait: a transaction run under :meth:`Watchdog.limit` has its
connection's socket shut down once the deadline passes. psycopg's wait then returns at once
with ``OperationalError`` ("server closed the connection unexpectedly"), the pool discards the
connection, and the request answers as when the database is down (scoring: ``not_stored``,
``HISTORY_UNAVAILABLE``; other calls: 503). One daemon thread per process checks the
deadlines a few times a second; a transaction costs two dictionary updates under a lock.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

__all__ = ["TRANSACTION_DEADLINE_SECONDS", "WATCHDOG", "Deadline", "Watchdog", "request_deadline"]

TRANSACTION_DEADLINE_SECONDS = 15.0
"""How long a request's PostgreSQL transaction may take, checkout and ping included, before
its connection is cut: above the 10 s statement timeout, so that a live server's own timeout
answers first."""
_TICK_SECONDS = 0.25
"""How often the watchdog looks for deadlines past; a cut comes at most this late."""


@dataclass(slots=True)
class Deadline:
    """One limited transaction: when it must end and the socket it runs on (once known)."""

    at: float
    """``time.monotonic()`` by which the transaction must end."""
    fileno: int | None = None
    """The connection's socket, from checkout to check-in; None outside them."""
    cut: bool = False
    """True once the watchdog shut the socket down."""


class Watchdog:
    """Shuts down the socket of a limited transaction that outlives its deadline."""

    def __init__(self, name: str = "fraudscreen-db-deadline", tick: float = _TICK_SECONDS) -> None:
        self._name, self._tick = name, tick
        self._lock = threading.Lock()
        self._open: dict[int, Deadline] = {}  # by thread id: a thread runs one transaction at a time
        self._local = threading.local()
        self._pid: int | None = None
        # A child forked while the thread held the lock (gunicorn forks its workers from a
        # master that may have run a limited transaction) would wait on it for ever.
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        """In a forked child: a new lock, no deadlines; the thread starts again on first use."""
        self._lock, self._open, self._local, self._pid = threading.Lock(), {}, threading.local(), None

    @contextmanager
    def limit(self, seconds: float) -> Iterator[Deadline]:
        """Run the ``with`` block's transaction under a deadline ``seconds`` from now. Nested
        limits keep the outer one."""
        if getattr(self._local, "deadline", None) is not None:
            yield self._local.deadline
            return
        deadline = Deadline(at=time.monotonic() + seconds)
        me = threading.get_ident()
        with self._lock:
            self._start()
            self._open[me] = deadline
        self._local.deadline = deadline
        try:
            yield deadline
        finally:
            self._local.deadline = None
            with self._lock:
                self._open.pop(me, None)

    def attach(self, fileno: int) -> None:
        """The connection this thread checked out runs on ``fileno`` (from the pool's checkout)."""
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None:
            with self._lock:
                deadline.fileno = fileno

    def detach(self) -> None:
        """This thread checked its connection in: its socket is no longer this transaction's."""
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None:
            with self._lock:
                deadline.fileno = None

    def _start(self) -> None:
        """Start the thread (under the lock) on first use, in each process."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                for deadline in self._open.values():
                    if deadline.fileno is not None and not deadline.cut and deadline.at <= now:
                        deadline.cut = _shut_down(deadline.fileno)


def _shut_down(fileno: int) -> bool:
    """Shut the socket down (both ways) through a duplicate descriptor; the owner's descriptor
    stays open for the driver to close. False when it is not a socket any more."""
    try:
        with socket.socket(fileno=os.dup(fileno)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return True


WATCHDOG = Watchdog()
"""The process's watchdog (its thread starts with the first limited transaction)."""


def request_deadline() -> AbstractContextManager[Deadline]:
    """:data:`WATCHDOG`'s limit of :data:`TRANSACTION_DEADLINE_SECONDS` (read at each call)."""
    return WATCHDOG.limit(TRANSACTION_DEADLINE_SECONDS)
