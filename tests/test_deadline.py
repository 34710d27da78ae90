"""The request deadline's watchdog, on real sockets (the PostgreSQL cases are in test_not_stored)."""

from __future__ import annotations

import multiprocessing
import socket
import time

import pytest

from fraudscreen.store.deadline import Watchdog


def test_a_socket_waiting_past_its_deadline_is_shut_down() -> None:
    watchdog = Watchdog(tick=0.05)
    ours, server = socket.socketpair()  # the server never answers
    try:
        with watchdog.limit(0.3) as deadline:
            watchdog.attach(ours.fileno())
            started = time.monotonic()
            assert ours.recv(1) == b""  # the wait ends: the socket was shut down
            took = time.monotonic() - started
        assert deadline.cut and 0.2 < took < 2, took
    finally:
        ours.close()
        server.close()


def test_a_socket_checked_in_before_the_deadline_is_left_alone() -> None:
    watchdog = Watchdog(tick=0.05)
    ours, server = socket.socketpair()
    try:
        with watchdog.limit(0.2) as deadline:
            watchdog.attach(ours.fileno())
            watchdog.detach()  # back in the pool: another transaction's now
            time.sleep(0.5)
        assert not deadline.cut
        server.sendall(b"x")
        assert ours.recv(1) == b"x"  # still open both ways
    finally:
        ours.close()
        server.close()


def test_a_nested_limit_keeps_the_outer_deadline() -> None:
    watchdog = Watchdog(tick=0.05)
    with watchdog.limit(5.0) as outer, watchdog.limit(0.1) as inner:
        assert inner is outer


def _limit_in_child(watchdog: Watchdog, done: multiprocessing.synchronize.Event) -> None:
    with watchdog.limit(1.0):
        pass
    done.set()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_child_forked_while_the_lock_is_held_can_use_its_own() -> None:
    """gunicorn forks its workers from a master whose watchdog thread may hold the lock at that
    instant; the child must not inherit it held."""
    watchdog = Watchdog(tick=0.05)
    context = multiprocessing.get_context("fork")
    done = context.Event()
    with watchdog._lock:  # as the thread holds it while it scans
        child = context.Process(target=_limit_in_child, args=(watchdog, done))
        child.start()
    try:
        assert done.wait(10), "the child waited for a lock its parent held at the fork"
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()
