"""taskiq's producers: asyncio tasks awaiting `task.kiq(...)` on the run's broker."""

from __future__ import annotations

import contextlib
from importlib.metadata import version
from typing import Any

from mqcompare.envelope import decode
from scenarios_taskiq.app import make
from scenarios_taskiq.app import settings as app_settings
from scenarios_taskiq.connect import HEARTBEAT_S
from scenarios_taskiq.stack import ACK_TYPE


class Kicker:
    def __init__(self, task: Any) -> None:
        self.task = task

    async def publish(self, p: int, s: int, body: bytes) -> None:
        _, _, sent = decode(body)
        # kiq wraps whatever the publish raised in SendTaskError: the outcome is open
        await self.task.kiq(p, s, sent)

    async def close(self) -> None:
        pass  # the session owns the broker


class SharedBroker:
    """shared-broker: one AioPikaBroker, started before the producers (its robust
    connection reconnects by itself)."""

    window = 1  # kiq returns once aio-pika's publish returns: one message at a time

    def __init__(self, spec: Any, url: str) -> None:
        self.broker, self.task = make(spec, url)

    async def open(self) -> SharedBroker:
        await self.broker.startup()
        return self

    async def publisher(self, p: int) -> Kicker:
        return Kicker(self.task)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.broker.shutdown()


async def shared_broker(spec: Any, url: str) -> SharedBroker:
    return await SharedBroker(spec, url).open()


def settings(spec: Any) -> dict[str, Any]:
    return {
        "taskiq_version": version("taskiq"),
        "taskiq_aio_pika_version": version("taskiq-aio-pika"),
        "delivery_mode": 2,
        "heartbeat_s": HEARTBEAT_S,
        "ack_type": ACK_TYPE.value(spec.stack_options),
        **app_settings(spec),
        "retry": f"publish again, up to {spec.retry_budget_s:g} s per message",
    }
