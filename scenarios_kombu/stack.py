"""kombu, used each way experiment 1 asks about. `pool` is kombu's documented thread-safe
use; every mode publishes with kombu's own retry (`retry=True`), so a retry is kombu's
behaviour, journaled as a new attempt through the errback kombu calls before it."""

from __future__ import annotations

from typing import Any

from mqcompare.stacks import Mode, Stack, mode_table


class KombuStack(Stack):
    name = "kombu"
    library = "kombu"
    default_mode = "pool"
    blocked_publish = (
        "with confirm_publish a publish waits for its confirm up to confirm_timeout (10 s "
        "as mqcompare publishes; kombu's default waits forever) and raises; without confirms "
        "it returns while the socket's buffers take its bytes, until py-amqp's 1 s "
        "TCP_USER_TIMEOUT drops the connection (kombu docs, Producer.publish)"
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

    def explain(self, result: dict[str, Any]) -> list[str]:
        return blocked_loss(result)


def blocked_loss(result: dict[str, Any]) -> list[str]:
    """Why kombu (and celery, through it) lost what it published during an alarm: the
    `why:` line, when that happened."""
    alarmed = any(f["kind"] == "alarm" and f.get("hit") for f in result.get("faults", []))
    if not (alarmed and result["counts"].get("lost") and not result["spec"].get("confirms")):
        return []
    return [
        "py-amqp sets TCP_USER_TIMEOUT to 1 s on every connection (amqp/transport.py "
        "DEFAULT_SOCKET_SETTINGS; py-amqp PR 114): a blocked broker stops reading, the "
        "kernel drops the connection a second later, and the messages publish had returned "
        "for, still in the socket's buffers, are gone (BrokenPipeError on the next publish)"
    ]
