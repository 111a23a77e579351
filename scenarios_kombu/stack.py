"""kombu, used each way experiment 1 asks about. `pool` is kombu's documented thread-safe
use; every mode publishes with kombu's own retry (`retry=True`), so a retry is kombu's
behaviour, journaled as a new attempt through the errback kombu calls before it."""

from __future__ import annotations

from typing import Any

from mqcompare.stacks import Mode, Stack, StackOption, mode_table

PY_AMQP_TCP_USER_TIMEOUT_MS = 1000  # amqp/transport.py DEFAULT_SOCKET_SETTINGS

TCP_USER_TIMEOUT = StackOption(
    "tcp_user_timeout_ms",
    "--tcp-user-timeout-ms",
    "TCP_USER_TIMEOUT of every py-amqp connection, in ms: how long sent bytes may wait "
    "unacknowledged, a blocked broker's full buffers too (py-amqp's default 1000; 0: "
    "the kernel's own, none)",
    PY_AMQP_TCP_USER_TIMEOUT_MS,
    minimum=0,
    label="TCP_USER_TIMEOUT {} ms",
)
"""kombu's and celery's one setting (through py-amqp) that decides whether a blocked
connection is dropped by the kernel, and what its buffers held lost."""


class KombuStack(Stack):
    name = "kombu"
    library = "kombu"
    libraries = ("kombu", "amqp")
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

    def explain(self, result: dict[str, Any]) -> list[str]:
        return blocked_loss(result)


def blocked_loss(result: dict[str, Any]) -> list[str]:
    """Why kombu (and celery, through it) lost what it published during an alarm: the
    `why:` line, when that happened and the connections had a TCP_USER_TIMEOUT."""
    alarmed = any(f["kind"] == "alarm" and f.get("hit") for f in result.get("faults", []))
    spec = result["spec"]
    ms = TCP_USER_TIMEOUT.value(spec.get("stack_options") or {})
    if not (alarmed and ms and result["counts"].get("lost") and not spec.get("confirms")):
        return []
    setting = (
        "py-amqp sets TCP_USER_TIMEOUT to 1 s on every connection (amqp/transport.py "
        "DEFAULT_SOCKET_SETTINGS; py-amqp PR 114, for a faster failover when a server dies)"
        if ms == PY_AMQP_TCP_USER_TIMEOUT_MS
        else f"the run set TCP_USER_TIMEOUT to {ms / 1000:g} s (--tcp-user-timeout-ms)"
    )
    return [
        f"{setting}: a blocked broker stops reading, the kernel drops the connection once "
        "sent bytes wait that long, and the messages publish had returned for, still in the "
        "sockets' buffers, are gone (BrokenPipeError on the next publish); a timeout longer "
        "than the alarm, or 0 (none), keeps the connection"
    ]
