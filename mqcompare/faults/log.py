"""Where a fault writes what it observed (docs/architecture.md, "The journal"): up to four
`fault` records, `begin`, `down` (with what it struck), `up` and `end`, and notes; and
the one log of a fault that strikes several nodes at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mqcompare.faults.kind import Fault
from mqcompare.journal import JournalWriter
from mqcompare.observe import PhaseLog, wait_for


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


class Joint:
    """One PhaseLog for a fault on several nodes: down when the first is down, up when
    the last is up; each node's part reports to it."""

    def __init__(self, log: PhaseLog, names: list[str]) -> None:
        self.log, self.names = log, names
        self.down_seen: set[int] = set()
        self.up_seen: set[int] = set()
        self.lock = threading.Lock()

    def part(self, i: int) -> PhaseLog:
        joint = self

        class Part:
            def down(self, t: float, **detail: Any) -> None:
                with joint.lock:
                    first = not joint.down_seen
                    joint.down_seen.add(i)
                if first:
                    struck = ", ".join(joint.names)
                    extra = f" ({detail['struck']})" if "struck" in detail else ""
                    joint.log.down(t, **{**detail, "struck": struck + extra, "node": struck})

            def up(self, t: float) -> None:
                with joint.lock:
                    joint.up_seen.add(i)
                    last = len(joint.up_seen) == len(joint.names)
                if last:
                    joint.log.up(t)

            def note(self, text: str) -> None:
                joint.log.note(f"node{i + 1}: {text}")

            def watch_up(self, condition: Callable[[], bool], timeout: float, missing: str) -> None:
                joint.log.watch_up(condition, timeout, missing)

        return Part()
