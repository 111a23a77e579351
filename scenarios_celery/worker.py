"""`celery -A scenarios_celery.worker worker ...`: the run's app, read from the run directory
(MQCOMPARE_RUN_DIR) and the broker URL (MQCOMPARE_URL), as the runner starts it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from celery import signals

from mqcompare.consumer_state import mark_ready
from mqcompare.orphan import watch_parent
from scenarios_celery.app import app_for_run

# warm shutdown, as on the runner's own SIGTERM, if the runner dies without stopping us
watch_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
signals.worker_ready.connect(lambda **_: mark_ready(), weak=False)
app = app_for_run(Path(os.environ["MQCOMPARE_RUN_DIR"]), os.environ.pop("MQCOMPARE_URL", ""))
