"""`python -m scenarios_taskiq.main worker ...`: taskiq's own command line, in a main
process that ends itself when the runner is gone. Its worker processes watch the runner
too (worker.py), but when the broker went first (the guardian stops a killed runner's
node) they die of the lost connection before they look, and taskiq's main process
starts a new one every second, for ever: seen under load, the main process of a killed
run outlived it by minutes."""

from __future__ import annotations

import os
import signal

from taskiq.__main__ import main

from mqcompare.orphan import watch_parent

if __name__ == "__main__":
    # taskiq's main process shuts its workers down on SIGTERM; watch_parent kills the
    # whole group if that has not ended it within its grace
    watch_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
    main()
