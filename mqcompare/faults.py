"""The nemesis: runs a fault plan against the broker and the consumer, on schedule.

Faults run in order. Each starts AT seconds after the first publish, or as soon as
the previous one ends if that is later; every fault runs even when the producers
finished first. A `fault` begin/end record pair is journaled around each."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mqcompare.broker import BrokerControl
from mqcompare.journal import JournalWriter
from mqcompare.spec import Fault


@dataclass
class FaultTargets:
    """What a fault can act on besides the broker; set by the runner."""

    kill_consumer: Callable[[float], None] | None = None
    extra: dict[str, Callable[[Fault], None]] = field(default_factory=dict)


class FaultRunner(threading.Thread):
    def __init__(
        self,
        plan: tuple[Fault, ...],
        broker: BrokerControl,
        targets: FaultTargets,
        journal: JournalWriter,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name="faults", daemon=True)
        self.plan = plan
        self.broker = broker
        self.targets = targets
        self.journal = journal
        self.on_event = on_event or (lambda _msg: None)
        self.t0: float | None = None
        self._clock_started = threading.Event()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.fired: list[str] = []
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
        for fault in self.plan:
            delay = self.t0 + fault.at - time.time()
            if delay > 0 and self.stop.wait(delay):
                return
            if self.stop.is_set():
                return
            self._perform(fault)

    def busy(self) -> bool:
        """A fault is running, or ended so recently that clients are still reconnecting."""
        return time.monotonic() < self._busy_until

    def _perform(self, fault: Fault) -> None:
        self._busy_until = float("inf")
        self.journal.fault(fault.kind, "begin")
        self.on_event(f"{fault}: begins")
        try:
            if fault.kind == "restart":
                self.broker.restart(fault.down)
            elif fault.kind == "kill":
                self.broker.kill(fault.down)
            elif fault.kind == "drop":
                self.broker.drop_connections()
            elif fault.kind == "consumer-kill" and self.targets.kill_consumer:
                self.targets.kill_consumer(fault.down)
            elif fault.kind in self.targets.extra:
                self.targets.extra[fault.kind](fault)
            else:
                raise RuntimeError(f"no target for fault {fault.kind}")
        except Exception as exc:
            self.errors.append(f"{fault}: {exc}")
            self.on_event(f"{fault}: FAILED: {exc}")
        finally:
            # a client may still be inside its retry budget after the broker is back
            self._busy_until = time.monotonic() + 20.0
            self.journal.fault(fault.kind, "end")
            self.fired.append(str(fault))
            self.on_event(f"{fault}: ends")
