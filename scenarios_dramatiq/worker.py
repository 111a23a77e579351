"""dramatiq's worker process: `python -m dramatiq scenarios_dramatiq.worker
--processes N --threads M --queues Q` (consumer.worker_argv). Each worker process
imports this module: the run's broker and actor (which journals what it runs), read from
the run directory, the broker URL from the environment, as the runner starts it."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import dramatiq
import dramatiq.worker

from mqcompare.orphan import PARENT_ENV, POLL_S, kill_group_after
from mqcompare.spec import RunSpec
from mqcompare.stacks import RUN_DIR_ENV, URL_ENV
from scenarios_dramatiq.app import make

_run_dir = Path(os.environ[RUN_DIR_ENV])
_spec = RunSpec.load(_run_dir)
# each worker process prefetches what the run says (0: dramatiq's own, 2 per thread)
dramatiq.worker.QUEUE_PREFETCH = _spec.prefetch
broker, actor = make(_spec, os.environ.get(URL_ENV, ""), _run_dir / "journal")
dramatiq.set_broker(broker)


def _watch(runner: int, main: int) -> None:
    """This worker process's runner (its grandparent) gone, or its dramatiq main process:
    stop the whole worker, as the runner's own SIGTERM would."""
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
