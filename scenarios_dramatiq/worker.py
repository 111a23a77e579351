"""dramatiq's worker process: `python -m scenarios_dramatiq.main scenarios_dramatiq.worker
--processes N --threads M --queues Q` (consumer.worker_argv). Each worker process
imports this module: the run's broker and actor (which journals what it runs), read from
the run directory, the broker URL from the environment, as the runner starts it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dramatiq
import dramatiq.cli
import dramatiq.worker

from mqcompare.orphan import watch_runner_and_main
from mqcompare.spec import RunSpec
from mqcompare.stacks import RUN_DIR_ENV, URL_ENV
from mqcompare.waking import Replaced, WakingSleep
from scenarios_dramatiq.app import make

_run_dir = Path(os.environ[RUN_DIR_ENV])
_spec = RunSpec.load(_run_dir)
# each worker process prefetches what the run says (0: dramatiq's own, 2 per thread)
dramatiq.worker.QUEUE_PREFETCH = _spec.prefetch
broker, actor = make(_spec, os.environ.get(URL_ENV, ""), _run_dir / "journal")
dramatiq.set_broker(broker)

# this worker process stops when the runner or its dramatiq main process is gone
watch_runner_and_main()


# its idle loop (`while running: time.sleep(1)`) ends when SIGTERM comes, not up to a
# second later (mqcompare.waking)
_handler = signal.getsignal(signal.SIGTERM)
if callable(_handler):  # dramatiq's worker process has installed its own
    _sleep = WakingSleep()
    signal.signal(signal.SIGTERM, _sleep.wrap(_handler))
    dramatiq.cli.time = Replaced(time, sleep=_sleep.sleep)  # type: ignore[assignment]
