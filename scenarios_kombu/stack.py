"""kombu, used each way experiment 1 asks about. `pool` is kombu's documented thread-safe
use; every mode publishes with kombu's own retry (`retry=True`), so a retry is kombu's
behaviour, journaled as a new attempt through the errback kombu calls before it."""

from __future__ import annotations

from mqcompare.result import RunResult
from mqcompare.stacks import Mode, Stack, mode_table
from shared_clients.kombu_redis_notes import redis_notes
from shared_clients.pyamqp import TCP_USER_TIMEOUT, blocked_loss


class KombuStack(Stack):
    name = "kombu"
    protocols = ("amqp", "redis")
    library = "kombu"
    libraries = ("kombu",)
    transport_libraries = {"amqp": ("amqp",), "redis": ("redis",)}  # noqa: RUF012
    default_mode = "pool"
    blocked_publish = (
        "with confirm_publish a publish waits for its confirm up to confirm_timeout (10 s "
        "as mqcompare publishes; kombu's default waits forever) and raises; without confirms "
        "it returns while the socket's buffers take its bytes, until the connection's "
        "TCP_USER_TIMEOUT drops it (py-amqp's 1 s; --tcp-user-timeout-ms 0: never; kombu "
        "docs, Producer.publish)"
    )

    modes = mode_table(
        Mode(
            "pool",
            "each publish takes a producer from kombu.pools.producers (kombu's way)",
            "pooled",
        ),
        Mode(
            "shared-unsafe",
            "one Connection and Producer made once, shared by all threads",
            "shared_unsafe",
        ),
        Mode(
            "shared-locked",
            "one Connection and Producer shared by all threads behind a lock",
            "shared_locked",
        ),
        Mode(
            "connection-per-thread",
            "each producer thread has its own Connection and Producer",
            "connection_per_thread",
        ),
    )
    options = (TCP_USER_TIMEOUT,)

    def explain(self, result: RunResult) -> list[str]:
        return blocked_loss(result) + redis_notes(result, "the consumer")
