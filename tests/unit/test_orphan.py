"""An orphan that does not stop by itself is killed with what it forked (orphan.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import psutil

from mqcompare.observe import wait_for
from mqcompare.orphan import PARENT_ENV

# a process that ignores SIGTERM (a hung warm shutdown) and has forked a pool child
HUNG = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    from mqcompare.orphan import kill_group_after
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pool = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(pool.pid, flush=True)
    kill_group_after(0.5)
    time.sleep(60)
    """
)


def test_the_group_is_killed_after_the_grace() -> None:
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    proc = subprocess.Popen(
        [sys.executable, "-c", HUNG],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        pool = int(proc.stdout.readline())
        assert proc.wait(timeout=20) == -9
        assert wait_for(lambda: not psutil.pid_exists(pool), 10.0, poll=0.1) is not None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
