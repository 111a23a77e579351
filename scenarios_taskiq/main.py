"""`python -m scenarios_taskiq.main worker ...`: taskiq's own command line, in a main
process that ends itself when the runner is gone. Its worker processes watch the runner
too (worker.py), but when the broker went first (the guardian stops a killed runner's
node) they die of the lost connection before they look, and taskiq's main process
starts a new one every second, for ever: seen under load, the main process of a killed
run outlived it by minutes.

taskiq's main process looks at its signals in a loop that sleeps a second between two
looks: a stop waited up to that second before the workers were told (measured: 0.5 to
1.2 s from SIGTERM to exit). Here the sleep ends when the signal comes
(mqcompare.waking); how often it looks at its workers otherwise is untouched."""

from __future__ import annotations

import os
import signal
from typing import Any

from taskiq.__main__ import main
from taskiq.cli.worker import process_manager

from mqcompare.observe import wait_for
from mqcompare.orphan import watch_parent
from mqcompare.waking import WakingSleep

ACTION_WAIT_S = 0.5
_sleep = WakingSleep()
_made = process_manager.get_signal_handler
_queues: list[Any] = []  # where the main process's signal handlers put their actions


def _handler(queue: Any, action: Any) -> Any:
    _queues.append(queue)
    return _sleep.wrap(_made(queue, action))


def _sleep_then_look(seconds: float) -> None:
    """The loop's sleep; after a signal, until its action is in the queue (a
    multiprocessing queue's put goes through a feeder thread: looked at at once, the
    queue still seemed empty, and the action waited for the next look)."""
    if _sleep.sleep(seconds):
        wait_for(lambda: not all(queue.empty() for queue in _queues), ACTION_WAIT_S)


process_manager.sleep = _sleep_then_look  # type: ignore[assignment]
process_manager.get_signal_handler = _handler  # type: ignore[assignment]

if __name__ == "__main__":
    # taskiq's main process shuts its workers down on SIGTERM; watch_parent kills the
    # whole group if that has not ended it within its grace
    watch_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
    main()
