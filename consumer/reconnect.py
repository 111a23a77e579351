"""The loop both consumer clients share: consume, and after a connection loss, again."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from mqcompare.consumer_state import mark_ready

Session = Callable[[Callable[[], None]], None]
"""Connect, consume until stop is set, close; call the argument once consuming."""


def reconnecting(
    session: Session, errors: tuple[type[BaseException], ...], stop: threading.Event
) -> None:
    """Run `session` until it returns, again after each of `errors`, backing off."""
    backoff = 0.1

    def connected() -> None:
        nonlocal backoff
        backoff = 0.1
        mark_ready()

    while not stop.is_set():
        try:
            session(connected)
            return
        except errors as exc:
            print(f"consumer: {type(exc).__name__}; reconnecting", file=sys.stderr, flush=True)
            stop.wait(backoff)
            backoff = min(backoff * 2, 1.0)
