"""taskiq's worker processes: `taskiq worker scenarios_taskiq.worker:broker --workers N
--ack-type A`, run as `python -m scenarios_taskiq.main` (consumer.worker_argv). Each worker
process imports this module: the run's broker and task (which journals what it runs), read
from the run directory, the broker URL from the environment, as the runner starts it."""

from __future__ import annotations

import os
from pathlib import Path

from mqcompare.orphan import watch_runner_and_main
from mqcompare.spec import RunSpec
from mqcompare.stacks import RUN_DIR_ENV, URL_ENV
from scenarios_taskiq.app import make

_run_dir = Path(os.environ[RUN_DIR_ENV])
broker, task = make(RunSpec.load(_run_dir), os.environ.get(URL_ENV, ""), _run_dir / "journal")

# this worker process stops when the runner or its taskiq main process is gone
watch_runner_and_main()
