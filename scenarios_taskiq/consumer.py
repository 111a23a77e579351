"""taskiq's consumer side is a worker it launches: `taskiq worker scenarios_taskiq.worker:broker`
through main.py, which ends it with the runner (worker.py holds the run's broker and task);
each worker process journals what it runs."""

from __future__ import annotations

import sys
from typing import Any

from scenarios_taskiq.stack import ACK_TYPE, WORKERS, TaskiqStack

STACK = TaskiqStack()


def worker_argv(spec: Any, n: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "scenarios_taskiq.main",  # taskiq's command line, ended with the runner
        "worker",
        "scenarios_taskiq.worker:broker",
        "--workers",
        str(STACK.option(spec.stack_options, WORKERS.key)),
        "--ack-type",
        str(STACK.option(spec.stack_options, ACK_TYPE.key)),
        "--no-configure-logging",
    ]
