"""The administration of a run's queues, which is not under test (docs/architecture.md,
"Stacks"): declared before the clients start, counted while the run drains, deleted at
the end, over the core's own AMQP connection (mqcompare.amqp), the same for every stack.
A stack whose library declares its queues its own way (dramatiq: the queue with its
dead-letter arguments, Q.DQ and Q.XQ) says so in its `admin.py` hooks."""

from __future__ import annotations

import struct
from typing import Any, Protocol
from urllib.parse import urlsplit

from mqcompare.amqp import Closed, Connection, NotAmqp, shortstr, table
from mqcompare.errors import InfrastructureError
from mqcompare.units import redact_url

DECLARE, DECLARE_OK = (50, 10), (50, 11)
DELETE, DELETE_OK = (50, 40), (50, 41)
DURABLE, PASSIVE = 0b10, 0b01
GET, GET_OK, GET_EMPTY = (60, 70), (60, 71), (60, 72)


class QueueAdmin(Protocol):
    """What a run asks of its queues' administration, whatever the broker (Admin here
    over AMQP, mqcompare.redis_admin.RedisAdmin on Redis)."""

    def declare(self, queue: str, arguments: dict[str, Any]) -> None: ...
    def depth(self, queue: str) -> int: ...
    def held(self, queue: str) -> int | None: ...
    def delete(self, queue: str) -> None: ...
    def take(self, queue: str) -> tuple[dict[str, Any], bytes] | None: ...
    def close(self) -> None: ...


class QueueHooks:
    """What a stack's admin.py may change: how the run's queue is declared, and which
    queues hold its messages (counted by the drain) and go with it at the end."""

    def declare(self, url: str, queue: str, arguments: dict[str, Any]) -> bool:
        """Declare the queue the library's own way; False: the core declares it."""
        return False

    def counted(self, queue: str) -> list[str]:
        return [queue]

    def removed(self, queue: str) -> list[str]:
        return [queue]


class Admin:
    """Declare, count and delete the run's queues; exit 3 at once for a broker that is
    unreachable or refuses the credentials."""

    def __init__(self, url: str, hooks: QueueHooks | None = None) -> None:
        self.url = url
        self.hooks = hooks or QueueHooks()
        self._conn: Connection | None = None
        self._connection()  # fail now, with a clear message, rather than mid-run

    def declare(self, queue: str, arguments: dict[str, Any]) -> None:
        if not self.hooks.declare(self.url, queue, arguments):
            self._declare(queue, arguments, 0)

    def depth(self, queue: str) -> int:
        """Messages ready in the queue (and in the stack's other queues of it)."""
        return sum(self._declare(name, {}, PASSIVE) for name in self.hooks.counted(queue))

    def held(self, queue: str) -> int | None:
        """What consumers hold unacknowledged: None, RabbitMQ's nodes are asked instead
        (BrokerControl.unacked)."""
        return None

    def delete(self, queue: str) -> None:
        for name in self.hooks.removed(queue):
            try:
                self._call(DELETE, struct.pack(">H", 0) + shortstr(name) + b"\0", DELETE_OK)
            except Closed as exc:
                if exc.code != 404:  # already gone: nothing to delete
                    raise

    def take(self, queue: str) -> tuple[dict[str, Any], bytes] | None:
        """One message of `queue`, taken for good (Basic.Get, no ack): its properties
        and body; None when the queue is empty."""
        args = struct.pack(">H", 0) + shortstr(queue) + b"\x01"  # no-ack
        conn = self._connection()
        reply, _ = conn.call_any(GET, args, (GET_OK, GET_EMPTY))
        return conn.content() if reply == GET_OK else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _declare(self, queue: str, arguments: dict[str, Any], flags: int) -> int:
        """Queue.Declare (durable, or passive); the broker's count of ready messages."""
        args = struct.pack(">H", 0) + shortstr(queue) + bytes([flags | DURABLE]) + table(arguments)
        ok = self._call(DECLARE, args, DECLARE_OK)
        (message_count,) = struct.unpack_from(">I", ok, 1 + ok[0])
        return int(message_count)

    def _call(self, method: tuple[int, int], args: bytes, reply: tuple[int, int]) -> bytes:
        try:
            return self._connection().call(method, args, reply)
        except Closed as exc:
            if not exc.channel:
                self.close()
            raise
        except (OSError, NotAmqp, struct.error):
            self.close()  # the next call reconnects (the broker may be restarting)
            raise

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = connect(self.url)
        return self._conn


def connect(url: str, timeout: float = 5.0) -> Connection:
    """A logged-in connection to the first node of `url` (URLs joined by ';', a cluster's)
    that answers; InfrastructureError naming host and port, never the password, for what
    the broker or the network refused."""
    unreachable: list[str] = []
    for one in url.split(";"):
        where = _where(one)
        try:
            conn = Connection(one, timeout)
        except (OSError, NotAmqp) as exc:
            unreachable.append(f"{where}: {getattr(exc, 'strerror', None) or type(exc).__name__}")
            continue
        try:
            conn.login()
        except Closed as exc:
            conn.close()
            why = "denied access to the vhost" if exc.code == 530 else "refused the credentials"
            raise InfrastructureError(f"broker at {where} {why} of {redact_url(one)}") from None
        except (OSError, NotAmqp, struct.error):
            conn.close()  # a broker that drops the socket after Start-Ok refused the login
            raise InfrastructureError(
                f"broker at {where} refused the credentials of {redact_url(one)}"
            ) from None
        return conn
    raise InfrastructureError(f"broker unreachable at {'; '.join(unreachable)}")


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5672}"
