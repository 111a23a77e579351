"""The benchmark's bare side: the run's celery app and task, without journaling."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mqcompare.spec import RunSpec
from scenarios_celery.app import make_app

_run_dir = Path(os.environ["MQCOMPARE_RUN_DIR"])
_spec = RunSpec.from_json(json.loads((_run_dir / "spec.json").read_text()))
app = make_app(_spec, os.environ["MQCOMPARE_URL"], journal_deliveries=False)
