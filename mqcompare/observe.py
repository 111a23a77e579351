"""Seeing what a fault did: wait for a condition to become true, and the phases a fault
reports once it has seen them (docs/architecture.md: begin, down, up, end)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from mqcompare.errors import InfrastructureError

POLL_S = 0.01  # a refused connect on loopback or a kill(pid, 0) costs microseconds


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    poll: float = POLL_S,
    stop: threading.Event | None = None,
) -> float | None:
    """The Unix time at which `condition()` was first seen true, or None after `timeout`
    (or once `stop` is set)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return time.time()
        if time.monotonic() >= deadline:
            return None
        if stop is None:
            time.sleep(poll)
        elif stop.wait(poll):
            return None


def await_started(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float, name: str, see: str
) -> float:
    """When `ready()` first held for the server process `proc` just started; an
    InfrastructureError naming it and where to `see` why, if it exited first or was not
    ready within `timeout` s."""
    up = wait_for(lambda: proc.poll() is not None or ready(), timeout, poll=0.02)
    if proc.poll() is not None:
        raise InfrastructureError(
            f"{name} exited while starting (code {proc.returncode}); see {see}"
        )
    if up is None:
        raise InfrastructureError(f"{name} was not ready within {timeout:g} s; see {see}")
    return up


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie (a killed child not yet reaped is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: believe kill()
    return stat[stat.rindex(")") + 2] != "Z"


def process_stopped(pid: int) -> bool:
    """The process is stopped by a signal (state T in /proc): a SIGSTOP has landed."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] in "Tt"


def sleep_until(t: float) -> None:
    """Sleep until Unix time `t` (at once if it has passed)."""
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


class PhaseLog(Protocol):
    """Where a fault reports what it observed, as it observes it."""

    def down(self, t: float, **detail: Any) -> None:
        """The target stopped: the broker refuses connections, the process is gone, the
        connections are closed. `detail` says what was struck (e.g. struck="task 3:17")."""

    def up(self, t: float) -> None:
        """The target works again: the broker accepts connections, a new consumer consumes."""

    def note(self, text: str) -> None:
        """Something the reader of the result should know (e.g. why nothing went down)."""

    def watch_up(self, condition: Callable[[], bool], timeout: float, missing: str) -> None:
        """Record `up` when `condition()` becomes true, without holding up the fault plan
        (what recovers is the target's own doing, not the fault's); `missing` is noted if
        it does not within `timeout`."""
