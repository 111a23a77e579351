"""dramatiq's worker process: `python -m dramatiq scenarios_dramatiq.worker
--processes N --threads M --queues Q` (consumer.worker_argv). Each worker process
imports this module: the run's broker and actor (which journals what it runs), read from
the run directory, the broker URL from the environment, as the runner starts it."""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

import dramatiq
import dramatiq.cli
import dramatiq.worker

from mqcompare.orphan import watch_runner_and_main
from mqcompare.spec import RunSpec
from mqcompare.stacks import RUN_DIR_ENV, URL_ENV
from scenarios_dramatiq.app import make

_run_dir = Path(os.environ[RUN_DIR_ENV])
_spec = RunSpec.load(_run_dir)
# each worker process prefetches what the run says (0: dramatiq's own, 2 per thread)
dramatiq.worker.QUEUE_PREFETCH = _spec.prefetch
broker, actor = make(_spec, os.environ.get(URL_ENV, ""), _run_dir / "journal")
dramatiq.set_broker(broker)

# this worker process stops when the runner or its dramatiq main process is gone
watch_runner_and_main()


class _WakingTime:
    """dramatiq.cli's `time` in this worker process: its worker process idles in `while
    running: time.sleep(1)`, and its SIGTERM handler only clears `running`; a sleep goes
    on after a signal (PEP 475), so every stop waited up to a second before the worker
    began to stop. This sleep ends when SIGTERM comes (a byte on a pipe, which a signal
    handler may write safely)."""

    def __init__(self) -> None:
        self.woken, self.wake = os.pipe()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        select.select([self.woken], [], [], seconds)

    def wrap(self, handler: Any) -> Any:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            handler(signum, frame)  # dramatiq's own: `running` cleared (or a second: exit)
            os.write(self.wake, b"x")

        return on_stop


_handler = signal.getsignal(signal.SIGTERM)
if callable(_handler):  # dramatiq's worker process has installed its own
    _time = _WakingTime()
    signal.signal(signal.SIGTERM, _time.wrap(_handler))
    dramatiq.cli.time = _time  # type: ignore[assignment]
