"""A Redis server as the broker of celery, dramatiq and kombu (`--broker redis://HOST:PORT/DB`):
talked to as is, never restarted, so it suffers no broker fault. What every Redis kind
shares: the protocol (stacks say whether they speak it), what a run cannot ask of Redis,
its version, its queue administration (mqcompare.redis_admin)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis

from mqcompare.brokers.base import BrokerControl
from mqcompare.errors import BadInput, InfrastructureError
from mqcompare.redis_admin import RedisAdmin, redis_client
from mqcompare.units import redact_url

REDIS_PORT = 6379


def is_redis(choice: str) -> bool:
    """--broker redis (a private server) or redis://... (one given)."""
    return choice == "redis" or choice.startswith(("redis://", "rediss://"))


class RedisBroker(BrokerControl):
    protocol = "redis"
    runs_its_own = "--broker redis"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise BadInput("--broker", f"{redact_url(url)} is not a redis://host[:port][/db] URL")
        self.url = url

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "localhost", parts.port or REDIS_PORT

    @classmethod
    def refuse(cls, spec: Any) -> None:
        """BadInput for what a run asks of RabbitMQ that Redis does not have."""
        asked = [
            ("--confirms", spec.confirms, "Redis replies to every push: there are no "
             "publisher confirms to turn on"),
            ("--mandatory", spec.mandatory, "Redis has no exchanges to return a message"),
            ("--queue", spec.queue_type != "classic", f"{spec.queue_type} is a RabbitMQ "
             "queue type; on Redis a queue is a list"),
            ("--dead-letter", spec.dead_letter, "a dead-letter target is RabbitMQ's"),
            ("--poison", spec.poison, "a poison message needs RabbitMQ's requeue and "
             "delivery count"),
            ("--consumer-timeout", spec.consumer_timeout_s, "RabbitMQ's; on Redis use "
             "--visibility-timeout"),
            ("--cluster", spec.cluster > 1, "mqcompare runs one Redis server"),
        ]  # fmt: skip
        for flag, given, why in asked:
            if given:
                raise BadInput(flag, f"not on Redis: {why}")

    def check_reachable(self, timeout: float = 3.0) -> None:
        redis_client(self.url, timeout).close()

    def heal(self) -> None:
        self.check_reachable()

    def versions(self) -> dict[str, str]:
        """{'product': 'Redis', 'version': '7.0.15', 'redis': '7.0.15'}, or {'error': why}."""
        try:
            client = redis_client(self.url)
        except InfrastructureError as exc:
            return {"error": str(exc)}
        try:
            version = str(client.info("server").get("redis_version", ""))
        except redis.RedisError as exc:
            return {"error": f"INFO: {type(exc).__name__}"}
        finally:
            client.close()
        return {"product": "Redis", "version": version, "redis": version}

    def open_admin(self, hooks: Any) -> RedisAdmin:
        """The run's queue administration on the keys the stack's library uses (its
        admin.py `REDIS`)."""
        return RedisAdmin(self.url, hooks.REDIS)

    def unacked(self, queue: str) -> int | None:
        return None  # the admin reads what consumers hold off the library's keys

    def set_consumer_timeout(self, seconds: float) -> Any:
        raise InfrastructureError("--consumer-timeout: RabbitMQ's; Redis has none")
