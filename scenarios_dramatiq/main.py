"""`python -m scenarios_dramatiq.main scenarios_dramatiq.worker ...`: dramatiq's own
command line (`python -m dramatiq`), whose main process ends as soon as its worker
processes have. Its log watcher thread waits on the workers' log pipes with a one-second
timeout and looks at its stop event only between two waits; its own pipe never closes,
so the main process outlived its stopped workers by up to a second, at every run's end
(measured: 1.2 s from SIGTERM to exit, of which the worker process took 0.17 s). Here
that wait is a twentieth of a second; nothing else in dramatiq waits on it, and how the
workers consume and acknowledge is untouched."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import sys
from typing import Any

import dramatiq.cli

from mqcompare.waking import Replaced

LOG_WAIT_S = 0.05


def _wait(objects: Any, timeout: float | None = None) -> Any:
    """multiprocessing.connection.wait, never longer than LOG_WAIT_S at a time (its one
    caller in dramatiq.cli, the log watcher, waits in a loop)."""
    limit = LOG_WAIT_S if timeout is None else min(timeout, LOG_WAIT_S)
    return multiprocessing.connection.wait(objects, limit)


dramatiq.cli.multiprocessing = Replaced(  # type: ignore[assignment]
    multiprocessing, connection=Replaced(multiprocessing.connection, wait=_wait)
)

if __name__ == "__main__":
    sys.exit(dramatiq.cli.main())
