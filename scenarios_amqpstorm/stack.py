"""amqpstorm, used each way experiment 1 asks about. amqpstorm describes itself as "a
thread-safe Python RabbitMQ client library": its shared modes measure that claim, where
pika's and kombu's measure what happens when a library's advice is ignored."""

from __future__ import annotations

from mqcompare.result import RunResult
from mqcompare.stacks import Mode, Stack, mode_table


class AmqpstormStack(Stack):
    name = "amqpstorm"
    library = "amqpstorm"
    libraries = ("amqpstorm", "pamqp")
    default_mode = "connection-per-thread"
    thread_safe = 'amqpstorm\'s README: "Thread-safe Python RabbitMQ Client & Management library"'
    modes = mode_table(
        Mode(
            "connection-per-thread",
            "each producer thread opens its own connection",
            "connection_per_thread",
        ),
        Mode(
            "shared-unsafe",
            "one connection and channel made once, shared by all threads, no lock of ours "
            "(amqpstorm says it is thread-safe)",
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
    )
    blocked_publish = (
        "with confirms a publish waits for its Basic.Ack up to the channel's rpc_timeout "
        "(30 s as mqcompare opens channels; amqpstorm's default 60 s) and raises "
        "AMQPChannelError; without confirms it returns once the socket takes its bytes "
        "(amqpstorm docs, Channel and Basic.publish)"
    )

    def explain(self, result: RunResult) -> list[str]:
        spec = result["spec"]
        if not spec.get("confirms") or not result["counts"].get("acknowledged"):
            return []
        shared = spec.get("mode") in ("shared-unsafe", "shared-locked")
        return [
            "amqpstorm awaits each publisher confirm by polling every 10 ms (IDLE_WAIT in "
            "amqpstorm/base.py) while it holds the channel's RPC lock: about 100 confirmed "
            "publishes per second per channel" + (", shared here by every thread" if shared else "")
        ]
