"""The nemesis: runs a fault plan against the broker and the consumer side, on schedule,
and journals what each fault observably did.

Faults run in order. Each is due AT seconds after the first publish, or as soon as the
previous one ends if that is later; every fault runs even when the producers finished
first. Each fault writes up to four `fault` records (docs/architecture.md): `begin` when it is
launched (with `at`, the planned second), `down` when its target was seen stopped (with
what it struck), `up` when it was seen working again, `end` when the fault's work is
over. A fault that struck nothing writes no `down`, and the checker says it missed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mqcompare.errors import BrokerNotBack
from mqcompare.faults.kind import Context, Fault
from mqcompare.faults.log import FaultLog
from mqcompare.faults.registry import KINDS
from mqcompare.journal import JournalWriter


class FaultRunner(threading.Thread):
    def __init__(
        self,
        plan: tuple[Fault, ...],
        context: Context,
        journal: JournalWriter,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name="faults", daemon=True)
        self.plan = plan
        self.context = context
        self.journal = journal
        self.on_event = on_event or (lambda _msg: None)
        self.t0: float | None = None
        self._clock_started = threading.Event()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.fired: list[str] = []
        # a broker that did not come back: the run must stop rather than publish into it
        self.fatal: BrokerNotBack | None = None
        self.watchers: list[threading.Thread] = []  # recoveries still being watched
        self._busy_until = 0.0

    def start_clock(self, t0: float) -> None:
        """Called once, with the time of the first publish."""
        if self.t0 is None:
            self.t0 = t0
            self._clock_started.set()

    def run(self) -> None:
        while not self._clock_started.wait(0.1):
            if self.stop.is_set():
                return
        assert self.t0 is not None
        try:
            for n, fault in enumerate(self.plan):
                delay = self.t0 + fault.at - time.time()
                if delay > 0 and self.stop.wait(delay):
                    return
                if self.stop.is_set():
                    return
                self._perform(n, fault)
                if self.fatal is not None:
                    return
        finally:
            for watcher in self.watchers:  # bounded: each ends by its timeout or on stop
                watcher.join()

    def busy(self) -> bool:
        """A fault is running, or ended so recently that clients are still reconnecting."""
        return time.monotonic() < self._busy_until

    def _perform(self, n: int, fault: Fault) -> None:
        assert self.t0 is not None
        self._busy_until = float("inf")
        log = FaultLog(self.journal, n, fault, self.t0, self.on_event, self.watchers, self.stop)
        log.begin()
        error = ""
        try:
            KINDS[fault.kind].perform(fault, self.context, log)
        except BrokerNotBack as exc:
            self.fatal = exc
            error = str(exc)
        except Exception as exc:
            error = str(exc)
        finally:
            if error:
                self.errors.append(f"{fault}: {error}")
            # a client may still be inside its retry budget after the broker is back
            self._busy_until = time.monotonic() + 20.0
            log.end(error)
            self.fired.append(str(fault))
