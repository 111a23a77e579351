"""kombu's consumer for the counting consumer (consumer/): a Consumer / drain_events loop."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from kombu import Connection, Consumer, Queue

from consumer.reconnect import reconnecting
from scenarios_kombu.connect import CONNECT_TIMEOUT_S
from shared_clients.kombu_client import redis_options


def consume(
    url: str,
    queue: str,
    arguments: dict[str, Any],
    prefetch: int,
    ack: str,
    handle: Callable[..., None],
    stop: threading.Event,
    visibility_timeout_s: float = 0.0,
) -> None:
    """Consume `queue` until `stop` is set, reconnecting after every connection loss; on
    Redis, a message held unacknowledged longer than `visibility_timeout_s` (0: kombu's
    1 h) is delivered again."""

    def on_message(message: Any) -> None:
        redelivered = bool(message.delivery_info.get("redelivered"))

        def settle(ok: bool = True) -> None:
            """Ack, or reject with requeue."""
            message.ack() if ok else message.requeue()

        handle(message.body, redelivered, settle, message.headers)

    def session(connected: Callable[[], None]) -> None:
        # leaving the block closes the connection: unacked prefetched messages go back
        options = redis_options(visibility_timeout_s)
        with Connection(url, connect_timeout=CONNECT_TIMEOUT_S, transport_options=options) as conn:
            conn.connect()
            channel = conn.channel()
            # the same declaration as every stack's: durable, not auto-deleted
            q = Queue(
                queue,
                durable=True,
                auto_delete=False,
                queue_arguments=arguments or None,
                channel=channel,
            )
            q.declare()
            Consumer(
                channel,
                queues=[q],
                on_message=on_message,
                no_ack=ack == "auto",
                prefetch_count=prefetch or None,
            ).consume()
            connected()
            while not stop.is_set():
                with contextlib.suppress(socket.timeout):
                    conn.drain_events(timeout=0.2)

    transport = Connection(url)  # not connected: only asked which errors it raises
    errors = (*transport.connection_errors, *transport.channel_errors, OSError)
    reconnecting(session, errors, stop)
