"""`python -m mqcompare.brokers.guardian`: stops the private nodes and containers of a
process that died without stopping them (SIGKILL, OOM killer), so that nothing of ours
outlives mqcompare.

The process that starts something keeps the write end of this guardian's stdin and tells
it, one JSON line per change, what to stop: `{"id": ..., "pgids": [...], "pidfile": ...,
"dir": ...}` for a node, `{"id": ..., "container": ...}` for a container (`"network"` for
a container cluster's network, removed after every container), `{"id": ...,
"nft_table": ...}` for a cluster's partition rules, `{"id": ..., "undo": [argv, ...]}`
for anything else (a fault's rules or queueing discipline: the commands that remove
it); `{"release": id}` when it stopped it itself. When stdin ends without a release (the
kernel closes a dead process's pipes, however it died) the guardian SIGKILLs what it was
told of, by the pids it was given, removes the node's directory and the container with
its volume, and runs the undo commands."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mqcompare.observe import pid_alive, wait_for


class Guardian:
    """The guardian process (the `main` below) of what this process starts: told one
    JSON line per change, it stops what it was told of if this process dies first."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @classmethod
    def start(cls) -> Guardian:
        return cls(
            subprocess.Popen(
                [sys.executable, "-m", "mqcompare.brokers.guardian"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C to mqcompare's group must not reach it
            )
        )

    def tell(self, ident: str, **msg: object) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps({"id": ident, **msg}) + "\n").encode())
            self.proc.stdin.flush()

    def release(self, ident: str, last: bool = True) -> None:
        """We stopped it ourselves: the guardian forgets it, and ends if it was the `last`
        thing it guarded."""
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps({"release": ident}) + "\n").encode())
            self.proc.stdin.flush()
            if not last:
                return
            self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


GONE_WAIT_S = 10.0  # how long the killed processes may take to be gone


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: it exists, and is not ours to signal
    return True


def _remove_dir(path: str) -> None:
    """A process that dies while it writes can leave a file behind rmtree's listing of
    the folder: tried again while the folder is still there."""
    for _ in range(5):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(0.2)


def _stop(node: dict[str, Any]) -> None:
    pid: int | None = None
    pidfile = node.get("pidfile")
    if pidfile:
        with contextlib.suppress(OSError, ValueError):
            pid = int(Path(pidfile).read_text().strip())
            os.kill(pid, signal.SIGKILL)
    pgids = [int(g) for g in node.get("pgids") or []]
    for pgid in pgids:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    # a node writes into its folder until it is gone
    wait_for(
        lambda: not (pid is not None and pid_alive(pid)) and not any(map(_group_exists, pgids)),
        GONE_WAIT_S,
        poll=0.05,
    )
    if node.get("dir"):
        _remove_dir(node["dir"])
    if node.get("nft_table"):  # a cluster's partition rules
        with contextlib.suppress(Exception):
            subprocess.run(
                ["nft", "delete", "table", "inet", str(node["nft_table"])],
                capture_output=True,
                timeout=10,
            )
    for argv in node.get("undo") or []:  # what a fault set up: the command that removes it
        with contextlib.suppress(Exception):
            subprocess.run([str(a) for a in argv], capture_output=True, timeout=10)
    if node.get("container"):
        with contextlib.suppress(Exception):
            import docker

            docker.from_env().containers.get(node["container"]).remove(force=True, v=True)
    if node.get("network"):  # a container cluster's network, once its containers are gone
        with contextlib.suppress(Exception):
            import docker

            docker.from_env().networks.get(node["network"]).remove()


def main() -> int:
    # a Ctrl-C meant for mqcompare must not take its guardian first
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    nodes: dict[str, dict[str, Any]] = {}
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "release" in msg:
            nodes.pop(str(msg["release"]), None)
        else:
            nodes.setdefault(str(msg["id"]), {}).update(msg)
    for node in sorted(nodes.values(), key=lambda n: "network" in n):  # networks last
        _stop(node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
