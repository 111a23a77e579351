"""celery's consumer side is a worker it launches: `celery -A scenarios_celery.worker worker`
(worker.py holds the run's app); each pool process journals what it runs."""

from __future__ import annotations

import sys
from typing import Any

from scenarios_celery.stack import CeleryStack

STACK = CeleryStack()


def worker_argv(spec: Any, n: int) -> list[str]:
    """The worker; each of its pool processes journals into journal's folder."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "scenarios_celery.worker",
        "worker",
        "-P",
        "prefork",
        "-c",
        str(STACK.option(spec.stack_options, "concurrency")),
        "-Q",
        spec.queue,
        "-n",
        f"mqc{n}-{spec.run_id}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]
