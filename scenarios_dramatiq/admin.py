"""The run's queues as dramatiq uses them: the queue declared dramatiq's way (with its
dead-letter arguments, and its delay queue Q.DQ and dead-letter queue Q.XQ beside it);
the delay queue holds retries backing off, so the drain counts it too."""

from __future__ import annotations

from typing import Any

from dramatiq.common import dq_name, xq_name

from mqcompare.admin import QueueHooks
from scenarios_dramatiq.app import RunBroker


class DramatiqQueues(QueueHooks):
    def declare(self, url: str, queue: str, arguments: dict[str, Any]) -> bool:
        broker = RunBroker(url, False, arguments)
        try:
            broker.declare_queue(queue, ensure=True)  # Q, Q.DQ and Q.XQ, dramatiq's way
        finally:
            broker.close()
        return True

    def counted(self, queue: str) -> list[str]:
        return [queue, dq_name(queue)]

    def removed(self, queue: str) -> list[str]:
        return [queue, dq_name(queue), xq_name(queue)]


HOOKS = DramatiqQueues()
