"""The run's queues as dramatiq uses them. On RabbitMQ: the queue declared dramatiq's way
(with its dead-letter arguments, and its delay queue Q.DQ and dead-letter queue Q.XQ
beside it); the delay queue holds retries backing off, so the drain counts it too. On
Redis: dramatiq's keys (dramatiq/brokers/redis/dispatch.lua): a list of message ids per
queue, a hash of their bodies, a set per worker of those it fetched and has not acked."""

from __future__ import annotations

from typing import Any

from dramatiq.common import dq_name, xq_name

from mqcompare.admin import QueueHooks
from mqcompare.redis_admin import RedisQueues
from scenarios_dramatiq.app import RunBroker

NAMESPACE = "dramatiq"  # RedisBroker's default key prefix


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


class DramatiqRedisQueues(RedisQueues):
    def ready(self, client: Any, queue: str) -> int:
        return sum(int(client.llen(f"{NAMESPACE}:{q}")) for q in (queue, dq_name(queue)))

    def held(self, client: Any, queue: str) -> int:
        return sum(int(client.scard(key)) for key in self._acks(client, queue))

    def remove(self, client: Any, queue: str) -> None:
        keys = [*client.scan_iter(match=f"{NAMESPACE}:{queue}*"), *self._acks(client, queue)]
        if keys:
            client.delete(*keys)

    @staticmethod
    def _acks(client: Any, queue: str) -> list[bytes]:
        """Each worker's set of the messages of `queue` (and its delay queue) it holds."""
        found = []
        for q in (queue, dq_name(queue)):
            found += list(client.scan_iter(match=f"{NAMESPACE}:__acks__.*.{q}"))
        return found


HOOKS = DramatiqQueues()
REDIS = DramatiqRedisQueues()
