"""The benchmark's bare side: the run's celery app and task, without journaling."""

from __future__ import annotations

import os
from pathlib import Path

from scenarios_celery.app import app_for_run

app = app_for_run(
    Path(os.environ["MQCOMPARE_RUN_DIR"]), os.environ["MQCOMPARE_URL"], journal_deliveries=False
)
