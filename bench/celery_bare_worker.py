"""The benchmark's bare side: the run's celery app and task, without journaling."""

from __future__ import annotations

import os
from pathlib import Path

from mqcompare.stacks import RUN_DIR_ENV, URL_ENV
from scenarios_celery.app import app_for_run

app = app_for_run(Path(os.environ[RUN_DIR_ENV]), os.environ[URL_ENV], journal_deliveries=False)
