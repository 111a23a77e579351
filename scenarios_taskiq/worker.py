"""taskiq's worker processes: `python -m taskiq worker scenarios_taskiq.worker:broker
--workers N --ack-type A` (consumer.worker_argv). Each worker process imports this module:
the run's broker and task (which journals what it runs), read from the run directory, the
broker URL from the environment, as the runner starts it."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from mqcompare.orphan import PARENT_ENV, POLL_S, kill_group_after
from mqcompare.spec import RunSpec
from mqcompare.stacks import RUN_DIR_ENV, URL_ENV
from scenarios_taskiq.app import make

_run_dir = Path(os.environ[RUN_DIR_ENV])
broker, task = make(RunSpec.load(_run_dir), os.environ.get(URL_ENV, ""), _run_dir / "journal")


def _watch(runner: int, main: int) -> None:
    """This worker process's runner gone, or its taskiq main process: stop the whole
    worker, as the runner's own SIGTERM would."""
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


if os.environ.get(PARENT_ENV):
    threading.Thread(
        target=_watch,
        args=(int(os.environ[PARENT_ENV]), os.getppid()),
        name="orphan-watch",
        daemon=True,
    ).start()
