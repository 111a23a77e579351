"""celery's worker process: `celery -A scenarios_celery.worker worker ...`
(consumer.worker_argv). The run's app is read from the run directory and the broker
URL from the environment, as the runner starts it; each pool process journals what it runs."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from celery import signals

from mqcompare.consumer_state import mark_ready
from mqcompare.orphan import watch_parent
from mqcompare.stacks import RUN_DIR_ENV, URL_ENV
from scenarios_celery.app import app_for_run

# warm shutdown, as on the runner's own SIGTERM, if the runner dies without stopping us
watch_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
signals.worker_ready.connect(lambda **_: mark_ready(), weak=False)
app = app_for_run(Path(os.environ[RUN_DIR_ENV]), os.environ.pop(URL_ENV, ""))
