"""Where kombu's Redis transport keeps a queue (celery's too: its broker client is kombu),
for the run's administration (mqcompare.redis_admin): a list per priority step, named
after the queue, and every delivered, unacknowledged message of the database in one hash,
`unacked`, indexed by delivery time in `unacked_index`, which the consumer puts back in
the list once it is older than the visibility timeout (kombu/transport/redis.py)."""

from __future__ import annotations

import json
from typing import Any

from kombu.transport.redis import PRIORITY_STEPS, Channel

from mqcompare.redis_admin import RedisQueues


def lists(queue: str) -> list[str]:
    """The queue's list of each priority step (step 0 is the queue's own name)."""
    return [queue if not step else f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS]


class KombuRedisQueues(RedisQueues):
    def ready(self, client: Any, queue: str) -> int:
        return sum(int(client.llen(name)) for name in lists(queue))

    def held(self, client: Any, queue: str) -> int:
        return len(self._tags(client, queue))

    def remove(self, client: Any, queue: str) -> None:
        tags = self._tags(client, queue)
        if tags:
            client.hdel(Channel.unacked_key, *tags)
            client.zrem(Channel.unacked_index_key, *tags)
        # what declaring it left: its bindings, in sets named after the exchange (celery's
        # default exchange is named after its default queue, the run's)
        client.delete(*client.scan_iter(match=f"_kombu.binding*.{queue}"), *lists(queue))

    @staticmethod
    def _tags(client: Any, queue: str) -> list[bytes]:
        """Delivery tags of the unacked hash whose message was routed to `queue`: each
        value is [message, exchange, routing key]."""
        found = []
        for tag, raw in client.hscan_iter(Channel.unacked_key):
            try:
                routing_key = json.loads(raw)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing_key == queue:
                found.append(tag)
        return found


REDIS = KombuRedisQueues()
