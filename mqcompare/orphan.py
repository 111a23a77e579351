"""A process the runner started stops by itself when the runner is gone (killed without
a chance to clean up), instead of consuming or publishing forever."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

POLL_S = 0.5
PARENT_ENV = "MQCOMPARE_PARENT_PID"  # the runner's pid, set by the runner for its children


def watch_parent(on_orphan: Callable[[], None]) -> None:
    """Call `on_orphan` once if this process's parent dies (it is then re-parented). The
    parent's pid comes from the runner, not from getppid() at start: a runner killed while
    this process was still starting up has already left it re-parented by then."""
    parent = int(os.environ.get(PARENT_ENV) or os.getppid())

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(POLL_S):
            if os.getppid() != parent:
                on_orphan()
                return

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()
