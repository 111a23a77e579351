"""The run's queues as taskiq uses them: the queue declared taskiq-aio-pika's way (bound to
taskiq's exchange, dead-lettering to Q.dead_letter, which sits beside it), both deleted at
the end; a task whose retries are spent is dropped, never dead-lettered, so only the run's
queue is counted."""

from __future__ import annotations

import asyncio
from typing import Any

from mqcompare.admin import QueueHooks
from scenarios_taskiq.app import RunBroker, dead_letter_name


class TaskiqQueues(QueueHooks):
    def declare(self, url: str, queue: str, arguments: dict[str, Any]) -> bool:
        async def declare() -> None:
            broker = RunBroker(url, queue, arguments)
            await broker.startup()  # declares the exchange, Q and Q.dead_letter
            await broker.shutdown()

        asyncio.run(declare())
        return True

    def removed(self, queue: str) -> list[str]:
        return [queue, dead_letter_name(queue)]


HOOKS = TaskiqQueues()
