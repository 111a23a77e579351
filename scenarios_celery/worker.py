"""`celery -A scenarios_celery.worker worker ...`: the run's app, read from the run directory
(MQCOMPARE_RUN_DIR) and the broker URL (MQCOMPARE_URL), as the runner starts it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from mqcompare.orphan import watch_parent
from mqcompare.spec import RunSpec
from scenarios_celery.app import make_app

_run_dir = Path(os.environ["MQCOMPARE_RUN_DIR"])
_spec = RunSpec.from_json(json.loads((_run_dir / "spec.json").read_text()))
# warm shutdown, as on the runner's own SIGTERM, if the runner dies without stopping us
watch_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
app = make_app(_spec, os.environ.pop("MQCOMPARE_URL", ""), _run_dir / "journal")
