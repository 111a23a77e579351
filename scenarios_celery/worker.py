"""celery's worker process: `celery -A scenarios_celery.worker worker ...`
(consumer.worker_argv). The run's app is read from the run directory and the broker
URL from the environment, as the runner starts it; each pool process journals what it runs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import celery.concurrency.prefork
from celery import signals

from mqcompare.consumer_state import mark_ready
from mqcompare.orphan import watch_parent
from mqcompare.stacks import RUN_DIR_ENV, URL_ENV
from mqcompare.waking import Replaced
from scenarios_celery.app import app_for_run

# warm shutdown, as on the runner's own SIGTERM, if the runner dies without stopping us
watch_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
signals.worker_ready.connect(lambda **_: mark_ready(), weak=False)
app = app_for_run(Path(os.environ[RUN_DIR_ENV]), os.environ.pop(URL_ENV, ""))


STOP_PASS_S = 0.05  # celery's pool stop: how often its timer thread passes (0.5 s)


def _short_sleep(seconds: float) -> None:
    """celery.concurrency.prefork's `time.sleep`: its pool's stop fires the hub's timers
    in a thread that sleeps 0.5 s between two passes, and then waits for that thread, so
    every worker's stop waited up to half a second once its pool had stopped (measured:
    stops of 0.7 to 1.7 s). Its passes come every 50 ms here; that loop runs only while
    the pool stops, and it is the module's only sleep."""
    time.sleep(min(seconds, STOP_PASS_S))


celery.concurrency.prefork.time = Replaced(time, sleep=_short_sleep)
