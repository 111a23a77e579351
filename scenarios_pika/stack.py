"""pika, used each way experiment 1 asks about. Only connection-per-thread and
process-per-producer are pika's documented use (pika FAQ); the other modes exist to
measure what the write-up claims happens when that advice is ignored."""

from __future__ import annotations

from typing import Any

from mqcompare.errors import BadInput
from mqcompare.result import RunResult
from mqcompare.stacks import CONFIRM_WINDOW, Mode, Stack, mode_table


class PikaStack(Stack):
    name = "pika"
    library = "pika"
    default_mode = "connection-per-thread"
    modes = mode_table(
        Mode(
            "connection-per-thread",
            "each producer thread opens its own connection (pika FAQ)",
            "own_connection",
        ),
        Mode(
            "shared-unsafe",
            "one connection and channel made once, shared by all threads, no lock",
            "shared_unsafe",
        ),
        Mode(
            "shared-locked",
            "one connection and channel shared by all threads behind a lock",
            "shared_locked",
        ),
        Mode(
            "channel-per-thread",
            "one connection, each thread opens its own channel on it",
            "channel_per_thread",
        ),
        Mode(
            "fork-shared",
            "connection made in the parent, producers are forked processes using it",
            "shared_unsafe",
            processes=True,
        ),
        Mode(
            "process-per-producer",
            "each producer is a process with its own connection",
            "own_connection",
            processes=True,
        ),
        Mode(
            "asyncio-adapter",
            "each producer is an asyncio task with its own AsyncioConnection; confirms "
            "arrive by callback, up to --confirm-window in flight",
            "asyncio_adapter",
            tasks=True,
        ),
    )
    options = (CONFIRM_WINDOW,)
    blocked_publish = (
        "pika waits on a blocked connection until blocked_connection_timeout (30 s as "
        "mqcompare connects; pika's default, None, waits forever), then raises "
        "ConnectionBlockedTimeout; without confirms a publish returns while the socket's "
        "buffers take its bytes (pika FAQ; pika docs, ConnectionParameters)"
    )

    def check(self, spec: Any) -> None:
        window = self.option(spec.stack_options, CONFIRM_WINDOW.key)
        if window > 1 and spec.mode != "asyncio-adapter":
            raise BadInput(
                "--confirm-window",
                f"{window}: pika pipelines confirms only in --mode asyncio-adapter "
                "(a BlockingChannel waits for each confirm)",
            )

    def explain(self, result: RunResult) -> list[str]:
        spec, c = result["spec"], result["counts"]
        window = self.option(spec.get("stack_options", {}), CONFIRM_WINDOW.key)
        if c.get("duplicated") and spec.get("confirms") and window > 1:
            return [
                f"up to {window} message(s) per producer were unconfirmed when the connection "
                "died; published again, those the broker had already stored arrive twice "
                "(RabbitMQ Reliability Guide: a publisher that retransmits what was not "
                "confirmed can cause duplicates, which consumers must tolerate)"
            ]
        return []
