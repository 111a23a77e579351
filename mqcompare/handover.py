"""Runs back to back: the end of one run (its consumer or worker stopping, its queue
deleted, its journals judged) goes on in a thread while the next run boots its consumer
and producers; the next run publishes only once the previous one has ended
(docs/architecture.md, "Runs back to back")."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Handover(Generic[T]):
    """At most one run's end in flight. `settle` waits for it and hands its outcome (a
    value or the exception it raised) to the callback given with it, in the caller's
    thread, so that outcomes are reported in the order the runs ran."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._report: Callable[[T | None, BaseException | None], None] | None = None
        self._value: T | None = None
        self._error: BaseException | None = None

    @property
    def pending(self) -> bool:
        return self._thread is not None

    def defer(
        self, end: Callable[[], T], report: Callable[[T | None, BaseException | None], None]
    ) -> None:
        """Run `end` in a thread; `report` gets what it returned or raised at `settle`."""
        self.settle()
        self._value, self._error, self._report = None, None, report

        def ending() -> None:
            try:
                self._value = end()
            except BaseException as exc:  # reported where settle is called
                self._error = exc

        self._thread = threading.Thread(target=ending, name="run-end")
        self._thread.start()

    def settle(self) -> None:
        """Wait for the run's end in flight, if any, and report it. Interrupted (Ctrl-C),
        the end is still in flight: call settle again."""
        if self._thread is None:
            return
        self._thread.join()
        report, value, error = self._report, self._value, self._error
        self._thread, self._report, self._value, self._error = None, None, None, None
        assert report is not None
        report(value, error)
