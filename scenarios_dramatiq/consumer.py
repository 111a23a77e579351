"""dramatiq's consumer side is a worker it launches: `dramatiq scenarios_dramatiq.worker`
(worker.py holds the run's broker and actor); each worker process journals what it runs."""

from __future__ import annotations

import sys
from typing import Any

from scenarios_dramatiq.stack import DramatiqStack

STACK = DramatiqStack()


def worker_argv(spec: Any, n: int) -> list[str]:
    """The worker; each of its processes journals into journal's folder."""
    return [
        sys.executable,
        "-m",
        "scenarios_dramatiq.main",  # dramatiq's command line, ending with its workers
        "scenarios_dramatiq.worker",
        "--processes",
        str(STACK.option(spec.stack_options, "processes")),
        "--threads",
        str(STACK.option(spec.stack_options, "threads")),
        "--queues",
        spec.queue,
    ]
