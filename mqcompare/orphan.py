"""A process the runner started stops by itself when the runner is gone (killed without
a chance to clean up), instead of consuming or publishing forever."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

POLL_S = 0.5


def watch_parent(on_orphan: Callable[[], None]) -> None:
    """Call `on_orphan` once if this process's parent dies (it is then re-parented)."""
    parent = os.getppid()

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(POLL_S):
            if os.getppid() != parent:
                on_orphan()
                return

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()
