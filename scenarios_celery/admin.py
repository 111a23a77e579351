"""The run's queues as this stack uses them: on RabbitMQ the one queue, declared, counted
and deleted by the core (mqcompare.admin), for the administration is not under test; on
Redis the keys of kombu's Redis transport (shared_clients.kombu_redis)."""

from mqcompare.admin import QueueHooks
from shared_clients.kombu_redis import REDIS

HOOKS = QueueHooks()
__all__ = ["HOOKS", "REDIS"]
