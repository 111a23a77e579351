"""Runs back to back (mqcompare.handover): a run's end goes on in a thread while the next
boots, and what it came to is reported in the order the runs ran, in the caller's thread,
errors included."""

from __future__ import annotations

import threading

import pytest

from mqcompare.handover import Handover


def test_an_end_runs_while_the_caller_goes_on_and_is_reported_at_settle() -> None:
    go_on = threading.Event()
    reported: list[tuple[object, object, str]] = []
    handover: Handover[str] = Handover()

    def end() -> str:
        assert go_on.wait(10), "the caller was kept waiting for the end"
        return "run 1"

    handover.defer(end, lambda value, error: reported.append((value, error, _thread())))
    assert handover.pending and not reported  # not reported before settle
    go_on.set()  # the caller does the next run's first steps meanwhile
    handover.settle()
    assert reported == [("run 1", None, "MainThread")]
    assert not handover.pending
    handover.settle()  # nothing in flight: nothing reported twice
    assert len(reported) == 1


def test_the_next_end_is_deferred_only_once_the_previous_is_reported() -> None:
    reported: list[object] = []
    handover: Handover[int] = Handover()
    for n in range(3):
        handover.defer(lambda n=n: n, lambda value, _error: reported.append(value))  # type: ignore[misc]
    handover.settle()
    assert reported == [0, 1, 2]


def test_an_end_that_fails_reports_its_error_rather_than_losing_it() -> None:
    errors: list[BaseException | None] = []
    handover: Handover[int] = Handover()

    def end() -> int:
        raise RuntimeError("the checker failed")

    handover.defer(end, lambda _value, error: errors.append(error))
    handover.settle()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)


def test_a_report_that_raises_leaves_nothing_in_flight() -> None:
    handover: Handover[int] = Handover()

    def report(_value: int | None, error: BaseException | None) -> None:
        raise RuntimeError("a bug in the report")

    handover.defer(lambda: 1, report)
    with pytest.raises(RuntimeError):
        handover.settle()
    assert not handover.pending


def _thread() -> str:
    return threading.current_thread().name
