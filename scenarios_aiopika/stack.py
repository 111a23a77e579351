"""aio-pika, the asyncio client: producers are asyncio tasks of one event loop, publishing
with publisher confirms pipelined up to a window (`--confirm-window`). Its documentation
opens a channel per task on one connection, and `connect_robust` for a connection that
reconnects by itself; the other modes are what users also write."""

from __future__ import annotations

from mqcompare.result import RunResult
from mqcompare.stacks import CONFIRM_WINDOW, Mode, Stack, mode_table


class AioPikaStack(Stack):
    name = "aio-pika"
    library = "aio-pika"
    libraries = ("aio-pika", "aiormq", "pamqp")
    default_mode = "channel-per-producer"
    blocked_publish = (
        "Exchange.publish waits without a deadline unless given a timeout (aio-pika docs, "
        "Exchange.publish: timeout=None); without confirms it returns once the bytes are "
        "handed to the connection"
    )
    modes = mode_table(
        Mode(
            "channel-per-producer",
            "one connection, each producer task opens its own channel on it",
            "channel_per_producer",
            tasks=True,
        ),
        Mode(
            "shared-channel",
            "one connection and one channel, every producer task publishes on it",
            "shared_channel",
            tasks=True,
        ),
        Mode(
            "connection-per-producer",
            "each producer task opens its own connection and channel",
            "connection_per_producer",
            tasks=True,
        ),
        Mode(
            "robust",
            "connect_robust: aio-pika reconnects and restores the channels itself",
            "robust",
            tasks=True,
        ),
    )
    options = (CONFIRM_WINDOW,)

    def explain(self, result: RunResult) -> list[str]:
        spec, c = result["spec"], result["counts"]
        window = self.option(spec.get("stack_options", {}), CONFIRM_WINDOW.key)
        notes = []
        if c.get("lost") and not spec.get("confirms") and result.get("faults"):
            notes.append(
                "without publisher_confirms, publish() returns once the frame is written to "
                "the socket; the broker does not confirm it (aio-pika Exchange.publish docs)"
            )
        if c.get("duplicated") and spec.get("confirms"):
            notes.append(
                f"up to {window} message(s) per producer were unconfirmed when the connection "
                "died: 'a lost confirmation does not mean the broker rejected the message, so "
                "retrying can produce duplicates' (aio-pika Exchange.publish docs)"
            )
        if spec.get("mode") == "robust" and c.get("errors"):
            notes.append(
                "robust connections restore state in the background; they do not "
                "automatically replay failed publications (aio-pika Exchange.publish docs)"
            )
        return notes
