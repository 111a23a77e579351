"""What the drain asks the broker: the messages consumers hold unacknowledged, on the
session's private node, over a real connection."""

from __future__ import annotations

import uuid

import pika
import pytest

from mqcompare.brokers.external import ExternalBroker
from mqcompare.brokers.node import LocalNode

pytestmark = pytest.mark.broker


def test_unacked_counts_the_queue_and_the_queues_named_after_it(node: LocalNode) -> None:
    name = f"mqc-unacked-{uuid.uuid4().hex[:8]}"
    # the run's queue, a delay queue as dramatiq names it, and a queue that only begins
    # with the same letters (another run's): held 1, 1 and 2
    queues = {name: 1, f"{name}.DQ": 1, f"{name}x": 2}
    conn = pika.BlockingConnection(pika.URLParameters(node.url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()  # each message is in its queue before it is fetched
        for queue, held in queues.items():
            ch.queue_declare(queue)
            for _ in range(held + 1):
                ch.basic_publish("", queue, b"m")
            for _ in range(held):
                method, _props, _body = ch.basic_get(queue, auto_ack=False)
                assert method is not None, f"{queue} had no message to fetch"
        assert node.unacked(name) == 2
        assert node.unacked(f"{name}x") == 2
        ch.basic_recover(requeue=True)  # what they held goes back: nothing held
        assert node.unacked(name) == 0
        for queue in queues:
            ch.queue_delete(queue)
        assert node.unacked(name) == 0, "a queue that does not exist holds nothing"
    finally:
        conn.close()


def test_an_external_broker_cannot_say() -> None:
    assert ExternalBroker("amqp://guest:guest@127.0.0.1:5672/").unacked("q") is None
