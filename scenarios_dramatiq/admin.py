"""Queue administration for dramatiq runs: the run's queue as dramatiq declares it (with
its dead-letter arguments), its delay queue (Q.DQ) and its dead-letter queue (Q.XQ).
The credentials check and the counting go through pika's blocking client."""

from __future__ import annotations

import contextlib
from typing import Any

from dramatiq.common import dq_name, xq_name

from scenarios_dramatiq.app import RunBroker
from scenarios_pika.admin import Admin as PikaAdmin


class Admin(PikaAdmin):
    def declare(self, queue: str, arguments: dict[str, Any]) -> None:
        broker = RunBroker(self.url, False, arguments)
        try:
            broker.declare_queue(queue, ensure=True)  # Q, Q.DQ and Q.XQ, dramatiq's way
        finally:
            broker.close()

    def depth(self, queue: str) -> int:
        """Ready in the queue, and waiting in its delay queue (retries backing off)."""
        return super().depth(queue) + super().depth(dq_name(queue))

    def delete(self, queue: str) -> None:
        for name in (queue, dq_name(queue), xq_name(queue)):
            with contextlib.suppress(Exception):
                super().delete(name)
