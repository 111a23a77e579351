"""A process the runner started stops by itself when the runner is gone (killed without
a chance to clean up), instead of consuming or publishing forever."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable

POLL_S = 0.5
PARENT_ENV = "MQCOMPARE_PARENT_PID"  # the runner's pid, set by the runner for its children
# how long an orphan may take to stop by itself before its whole process group is killed
GRACE_S = 10.0


def kill_group_after(grace_s: float = GRACE_S) -> None:
    """SIGKILL this process's group (the runner starts each child in a session of its own,
    so the group is this child and what it forked: a worker's pool) in `grace_s`, unless it
    has exited by then. A warm shutdown can hang (a celery worker on Redis once did, CI,
    2026-12-03); an orphan must not outlive its runner by more than this."""

    def kill() -> None:
        with contextlib.suppress(OSError):
            if os.environ.get(PARENT_ENV):  # started by the runner: the group is ours
                os.killpg(os.getpgrp(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)

    timer = threading.Timer(grace_s, kill)
    timer.daemon = True  # the process exiting in time cancels it
    timer.start()


def watch_parent(on_orphan: Callable[[], None]) -> None:
    """Call `on_orphan` once if this process's parent dies (it is then re-parented), and
    kill the process group if that has not ended it within GRACE_S. The parent's pid comes
    from the runner, not from getppid() at start: a runner killed while this process was
    still starting up has already left it re-parented by then."""
    parent = int(os.environ.get(PARENT_ENV) or os.getppid())

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(POLL_S):
            if os.getppid() != parent:
                kill_group_after()
                on_orphan()
                return

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def watch_runner_and_main() -> None:
    """For a process of a worker's pool (a child of the worker's main process, a grandchild
    of the runner): if the runner dies, SIGTERM the worker's main process; if the main
    process dies, SIGTERM this one; either way the group is killed after GRACE_S. Nothing
    outside a run (no runner pid in the environment)."""
    if not os.environ.get(PARENT_ENV):
        return
    runner, main = int(os.environ[PARENT_ENV]), os.getppid()

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(POLL_S):
            try:
                os.kill(runner, 0)
            except ProcessLookupError:
                kill_group_after()
                os.kill(main, signal.SIGTERM)
                return
            if os.getppid() != main:
                kill_group_after()
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()
