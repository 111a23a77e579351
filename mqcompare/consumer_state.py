"""What the runner can see of a consumer-side process (a counting consumer, a worker and
its pool): that it consumes (a ready file, touched once it is consuming) and which message
it holds right now (a busy file per process, rewritten in place with one `pwrite` when it
takes a message and when it is done with it). Faults read them to strike a process that
holds a message, and to observe a new consumer that really consumes."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

READY_ENV = "MQCOMPARE_READY_FILE"
BUSY_ENV = "MQCOMPARE_BUSY_DIR"
_WIDTH = 40  # a fixed width: a shorter id never leaves the end of a longer one behind


def mark_ready() -> None:
    """This process consumes now (a no-op outside a run)."""
    path = os.environ.get(READY_ENV)
    if path:
        with contextlib.suppress(OSError):
            Path(path).touch()


def ready(path: Path) -> bool:
    return path.exists()


class BusyMarker:
    """This process's busy file; safe across fork (each process opens its own)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        found = directory if directory is not None else os.environ.get(BUSY_ENV)
        self.dir = Path(found) if found else None
        self._fd = -1
        self._pid = 0

    def _write(self, text: str) -> None:
        if self.dir is None:
            return
        if self._pid != os.getpid():
            self.dir.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.dir / str(os.getpid()), os.O_WRONLY | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        os.pwrite(self._fd, text.ljust(_WIDTH).encode(), 0)

    def working(self, p: int, s: int) -> None:
        self._write(f"{p}:{s}")

    def idle(self) -> None:
        self._write("")


def busy_with(directory: Path, pid: int) -> str | None:
    """The message id process `pid` holds, or None if it holds none (or never marked)."""
    try:
        text = (directory / str(pid)).read_text().strip()
    except OSError:
        return None
    return text or None
