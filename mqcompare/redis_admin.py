"""The administration of a run's queue on Redis (docs/architecture.md, "Brokers"): what
mqcompare.admin does over AMQP, done on the keys where the stack's library keeps the
queue (its admin.py `REDIS`: kombu's list and `unacked` hash, dramatiq's list, hash and
ack sets). Nothing is declared (a list exists once something is pushed); the drain counts
what is ready and what consumers hold; the keys go at the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from mqcompare.errors import InfrastructureError
from mqcompare.units import redact_url

CONNECT_TIMEOUT_S = 3.0
# redis-py retries a command 3 times with backoff by default: the core's own questions are
# asked again by its loops, and a SHUTDOWN's closed connection must not be retried
NO_RETRY = Retry(NoBackoff(), 0)


class RedisQueues:
    """Where a library keeps the run's queue in Redis (a stack's admin.py `REDIS`)."""

    def ready(self, client: Any, queue: str) -> int:
        """Messages waiting to be delivered."""
        return int(client.llen(queue))

    def held(self, client: Any, queue: str) -> int:
        """Messages delivered and not yet acknowledged (they come back if never acked)."""
        return 0

    def remove(self, client: Any, queue: str) -> None:
        client.delete(queue)


def redis_client(url: str, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """A client of the Redis at `url` that has answered PING; InfrastructureError naming
    host and port, never the password, for what the server or the network refused."""
    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    client = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=NO_RETRY
    )
    try:
        client.ping()
    except redis.AuthenticationError:
        client.close()
        raise InfrastructureError(
            f"Redis at {where} refused the credentials of {redact_url(url)}"
        ) from None
    except redis.ResponseError as exc:  # NOAUTH, WRONGPASS: a password is missing or wrong
        client.close()
        raise InfrastructureError(
            f"Redis at {where} refused {redact_url(url)}: {str(exc).split(' ', 1)[0]}"
        ) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        client.close()
        reason = str(exc).split(". ")[0].split(" connecting to ")[0] or type(exc).__name__
        raise InfrastructureError(f"Redis unreachable at {where}: {reason}") from None
    return client


class RedisAdmin:
    """Count and delete the run's queue on Redis, as mqcompare.admin.Admin does on
    RabbitMQ; exit 3 at once for a server that is unreachable or refuses the password."""

    def __init__(self, url: str, queues: RedisQueues) -> None:
        self.url = url
        self.queues = queues
        self._client: Any = redis_client(url)

    def declare(self, queue: str, arguments: dict[str, Any]) -> None:
        """Nothing to declare: a run's id is new, so its keys are too."""

    def depth(self, queue: str) -> int:
        return int(self._ask(lambda c: self.queues.ready(c, queue)))

    def held(self, queue: str) -> int | None:
        return int(self._ask(lambda c: self.queues.held(c, queue)))

    def delete(self, queue: str) -> None:
        self._ask(lambda c: self.queues.remove(c, queue))

    def take(self, queue: str) -> tuple[dict[str, Any], bytes] | None:
        return None  # no dead-letter queue or poison on Redis: the run refused them

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def _ask(self, question: Callable[[Any], Any]) -> Any:
        """The answer; InfrastructureError (and a new connection next time) when the
        server could not give it (it may be restarting under a fault)."""
        if self._client is None:
            self._client = redis_client(self.url)
        try:
            return question(self._client)
        except (redis.RedisError, OSError) as exc:
            self.close()
            raise InfrastructureError(f"Redis at {self._where()}: {type(exc).__name__}") from None

    def _where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
