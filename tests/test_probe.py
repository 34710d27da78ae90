"""The store's time-limited ping (fraudscreen.store.probe): answers in time, never piles up."""

from __future__ import annotations

import os
import threading

from fraudscreen.store.probe import Probe


def _blocking_check(release: threading.Event, calls: list[int]) -> Probe:
    def check() -> bool:
        calls.append(1)
        release.wait()
        return True

    return Probe(check, "test-probe")


def test_a_hung_check_answers_false_in_time_and_is_not_started_again() -> None:
    release, calls = threading.Event(), list[int]()
    probe = _blocking_check(release, calls)
    assert probe(0.05) is False and probe.waiting()
    assert probe(0.05) is False and len(calls) == 1  # waits for the same run
    release.set()
    assert probe(5.0) is True  # the hung run's answer, once it came
    assert probe(5.0) is True and len(calls) == 2 and not probe.waiting()


def test_a_forked_worker_does_not_wait_for_its_parent_s_thread() -> None:
    """The parent's hung run has no thread in the child: the child starts its own."""
    release, calls = threading.Event(), list[int]()
    probe = _blocking_check(release, calls)
    assert probe(0.05) is False
    pid = os.fork()
    if pid == 0:  # the child: its own run finds the release set
        release.set()
        os._exit(0 if probe(5.0) else 1)
    _, status = os.waitpid(pid, 0)
    release.set()
    assert os.waitstatus_to_exitcode(status) == 0
