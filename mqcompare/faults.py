"""The nemesis: runs a fault plan against the broker and the consumer side, on schedule,
and journals what each fault observably did.

Faults run in order. Each is due AT seconds after the first publish, or as soon as the
previous one ends if that is later; every fault runs even when the producers finished
first. Each fault writes up to four `fault` records (DESIGN.md): `begin` when it is
launched (with `at`, the planned second), `down` when its target was seen stopped (with
what it struck), `up` when it was seen working again, `end` when the fault's work is
over. A fault that struck nothing writes no `down`, and the checker says it missed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mqcompare.broker import BrokerControl
from mqcompare.errors import BrokerNotBack
from mqcompare.journal import JournalWriter
from mqcompare.observe import wait_for
from mqcompare.spec import BROKER_FAULTS, Fault

Perform = Callable[[Fault, "FaultLog"], None]


class FaultLog:
    """The journal records of one fault, written as its phases are observed."""

    def __init__(
        self,
        journal: JournalWriter,
        n: int,
        fault: Fault,
        t0: float,
        on_event: Callable[[str], None],
        watchers: list[threading.Thread],
        stop: threading.Event,
    ) -> None:
        self.journal, self.n, self.fault, self.t0 = journal, n, fault, t0
        self.on_event = on_event
        self.notes: list[str] = []
        self.seen: list[str] = []
        self.watchers, self.stop = watchers, stop

    def _rel(self, t: float) -> str:
        return f"{t - self.t0:.2f} s"

    def begin(self) -> None:
        t = time.time()
        aim = {"aim": self.fault.target} if self.fault.target else {}
        self.journal.fault(self.fault.kind, "begin", t, n=self.n, at=self.fault.at, **aim)
        self.seen = [f"launched {self._rel(t)}"]  # said in one line when the fault is over

    def down(self, t: float, **detail: Any) -> None:
        self.journal.fault(self.fault.kind, "down", t, n=self.n, **detail)
        struck = f" ({detail['struck']})" if detail.get("struck") else ""
        idle = ", but it held nothing" if detail.get("idle") else ""
        self.seen.append(f"down {self._rel(t)}{struck}{idle}")

    def up(self, t: float) -> None:
        self.journal.fault(self.fault.kind, "up", t, n=self.n)
        self.seen.append(f"up {self._rel(t)}")

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.journal.fault(self.fault.kind, "note", n=self.n, text=text)
        self.seen.append(text)

    def watch_up(self, condition: Callable[[], bool], timeout: float, missing: str) -> None:
        def watch() -> None:
            t = wait_for(condition, timeout, poll=0.05, stop=self.stop)
            if t is not None:
                self.up(t)
            elif not self.stop.is_set():
                self.note(missing)

        watcher = threading.Thread(target=watch, name=f"fault-{self.n}-up", daemon=True)
        self.watchers.append(watcher)
        watcher.start()

    def end(self, error: str = "") -> None:
        extra = {"error": error} if error else {}
        t = time.time()
        self.journal.fault(self.fault.kind, "end", t, n=self.n, **extra)
        self.seen.append(f"FAILED: {error}" if error else f"over {self._rel(t)}")
        self.on_event(f"{self.fault}: {', '.join(self.seen)}")


def broker_faults(broker: BrokerControl, queue: str) -> dict[str, Perform]:
    """The faults every broker control performs (or refuses, for one it does not run);
    `queue` is the run's, whose leader a cluster's fault strikes by default."""

    def strike(fault: Fault, log: FaultLog) -> None:
        broker.strike(fault, log, queue)

    return dict.fromkeys(BROKER_FAULTS, strike)


class FaultRunner(threading.Thread):
    def __init__(
        self,
        plan: tuple[Fault, ...],
        perform: dict[str, Perform],
        journal: JournalWriter,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name="faults", daemon=True)
        self.plan = plan
        self.perform = perform
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
            perform = self.perform.get(fault.kind)
            if perform is None:
                raise RuntimeError(f"no target for fault {fault.kind}")
            perform(fault, log)
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
