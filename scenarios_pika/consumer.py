"""pika's consumer for the counting consumer (consumer/): a BlockingConnection consume loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pika.exceptions as px

from consumer.reconnect import reconnecting
from scenarios_pika.connect import connect


def consume(
    url: str,
    queue: str,
    arguments: dict[str, Any],
    prefetch: int,
    ack: str,
    handle: Callable[..., None],
    stop: threading.Event,
) -> None:
    """Consume `queue` until `stop` is set, reconnecting after every connection loss."""

    def session(connected: Callable[[], None]) -> None:
        # leaving the block closes the connection: unacked prefetched messages go back
        with connect(url) as conn:
            ch = conn.channel()
            ch.queue_declare(queue=queue, durable=True, arguments=arguments or None)
            if prefetch:
                ch.basic_qos(prefetch_count=prefetch)
            connected()
            for method, props, body in ch.consume(
                queue, auto_ack=ack == "auto", inactivity_timeout=0.2
            ):
                if stop.is_set():
                    break
                if method is None:
                    continue
                settle = partial(_settle, ch, method.delivery_tag)
                handle(body, bool(method.redelivered), settle, props.headers)

    reconnecting(session, (px.AMQPError, OSError), stop)


def _settle(ch: Any, tag: int, ok: bool = True) -> None:
    """Ack the delivery, or reject it with requeue."""
    if ok:
        ch.basic_ack(tag)
    else:
        ch.basic_reject(tag, requeue=True)
