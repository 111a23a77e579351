"""A sleep that a stop signal ends: for the idle loops of the task frameworks' main and
worker processes (`while running: time.sleep(1)`). Their signal handlers only set a flag,
and a sleep goes on after a signal (PEP 475), so every stop waited up to a second before
anything began to stop. This sleep waits on a pipe that the wrapped handler writes a byte
to (what a signal handler may do safely). `Replaced` sets such a sleep, or any other
shortened wait, in a library's module."""

from __future__ import annotations

import os
import select
from types import FrameType
from typing import Any


class WakingSleep:
    """`sleep` ends early once a handler made by `wrap` has run in this process."""

    def __init__(self) -> None:
        self.woken, self.wake = os.pipe()
        os.set_blocking(self.woken, False)
        self.pid = os.getpid()  # a forked child's handlers inherit the pipe: not theirs

    def sleep(self, seconds: float) -> bool:
        """Whether a signal ended it."""
        if not select.select([self.woken], [], [], seconds)[0]:
            return False
        while True:  # drained, so that the next sleep sleeps
            try:
                if not os.read(self.woken, 512):
                    break
            except BlockingIOError:
                break
        return True

    def wrap(self, handler: Any) -> Any:
        """`handler`, then the wake-up (in the process that made this sleep)."""

        def on_stop(signum: int, frame: FrameType | None) -> None:
            try:
                handler(signum, frame)
            finally:
                if os.getpid() == self.pid:
                    os.write(self.wake, b"x")

        return on_stop


class Replaced:
    """A module's attributes, some of them replaced: a library's `time` or
    `multiprocessing` of our own, set on the library's module."""

    def __init__(self, module: Any, **replaced: Any) -> None:
        self._module, self._replaced = module, replaced

    def __getattr__(self, name: str) -> Any:
        if name in self._replaced:
            return self._replaced[name]
        return getattr(self._module, name)
