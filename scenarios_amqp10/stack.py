"""RabbitMQ's AMQP 1.0 client, `rabbitmq-amqp-python-client` on qpid-proton: what RabbitMQ
4 recommends. Every publish is settled by the broker (accepted, rejected or released), so
"confirms" are not an option but the protocol; it needs a broker that speaks AMQP 1.0
natively, RabbitMQ 4.0 or newer."""

from __future__ import annotations

from mqcompare.stacks import Mode, Stack, mode_table


class Amqp10Stack(Stack):
    name = "amqp10"
    library = "rabbitmq-amqp-python-client"
    libraries = ("rabbitmq-amqp-python-client", "python-qpid-proton")
    default_mode = "connection-per-thread"
    min_rabbitmq = 4
    always_confirms = True
    modes = mode_table(
        Mode(
            "connection-per-thread",
            "each producer thread opens its own connection and publisher (a proton "
            "BlockingConnection is not shared between threads)",
            "connection_per_thread",
        ),
    )
    no_mandatory = (
        "an AMQP 1.0 publish to a queue address is settled by the broker: a message no queue "
        "takes is released (journaled failed) without a mandatory flag"
    )
    blocked_publish = (
        "a publish waits for the broker's settlement of its transfer, up to the connection's "
        "timeout (60 s, proton's BlockingConnection default), then raises Timeout"
    )
