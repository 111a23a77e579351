"""A stopped producer process ends soon even when a producer is stuck inside its library
(produce._await_all): the runner's grace is not spent waiting for it."""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from mqcompare import produce


@pytest.fixture(autouse=True)
def _fresh_stopping() -> Iterator[None]:
    produce.stopping.clear()
    yield
    produce.stopping.clear()


def _stop_after(seconds: float) -> None:
    threading.Timer(seconds, produce.stopping.set).start()


def test_a_stuck_thread_is_given_up_on_a_moment_after_the_stop() -> None:
    never = threading.Event()
    stuck = threading.Thread(target=never.wait, daemon=True)
    done = threading.Thread(target=lambda: None)
    stuck.start()
    done.start()
    _stop_after(0.1)
    began = time.monotonic()
    produce._await_all([done, stuck], deadline=time.monotonic() + 60)
    waited = time.monotonic() - began
    assert stuck.is_alive() and not done.is_alive()
    assert 0.1 + produce.STOPPED_MOMENT_S <= waited < 3.0, waited
    never.set()


def test_without_a_stop_a_stuck_thread_is_waited_for_until_its_deadline() -> None:
    never = threading.Event()
    stuck = threading.Thread(target=never.wait, daemon=True)
    stuck.start()
    began = time.monotonic()
    produce._await_all([stuck], deadline=time.monotonic() + 0.3)
    assert 1.3 <= time.monotonic() - began < 4.0  # the deadline and a second
    never.set()


def _deaf() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)


def test_a_stuck_process_is_left_to_be_killed_a_moment_after_the_stop() -> None:
    proc = multiprocessing.get_context("fork").Process(target=_deaf)
    proc.start()
    try:
        _stop_after(0.1)
        began = time.monotonic()
        produce._await_all([proc], deadline=time.monotonic() + 60)
        assert time.monotonic() - began < 3.0
        assert proc.is_alive()  # SIGTERM was ignored: run() kills what is left
    finally:
        proc.kill()
        proc.join()
