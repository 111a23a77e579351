"""The counting consumer's kombu client: a reconnecting Consumer / drain_events loop."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from kombu import Connection, Consumer, Queue

from scenarios_kombu.connect import CONNECT_TIMEOUT_S


def consume(
    url: str,
    queue: str,
    prefetch: int,
    ack: str,
    handle: Callable[[bytes, bool, Callable[[], None]], None],
    stop: threading.Event,
) -> None:
    """Consume `queue` until `stop` is set, reconnecting after every connection loss."""
    backoff = 0.1

    def on_message(message: Any) -> None:
        redelivered = bool(message.delivery_info.get("redelivered"))
        handle(message.body, redelivered, message.ack)

    while not stop.is_set():
        conn = Connection(url, connect_timeout=CONNECT_TIMEOUT_S)
        try:
            conn.connect()
            channel = conn.channel()
            # the same declaration as every stack's: durable, not auto-deleted
            q = Queue(queue, durable=True, auto_delete=False, channel=channel)
            q.declare()
            consumer = Consumer(
                channel,
                queues=[q],
                on_message=on_message,
                no_ack=ack == "auto",
                prefetch_count=prefetch or None,
            )
            consumer.consume()
            backoff = 0.1
            while not stop.is_set():
                with contextlib.suppress(socket.timeout):
                    conn.drain_events(timeout=0.2)
            # leaving: unacked prefetched messages go back to the queue when we close
            conn.release()
            return
        except (*conn.connection_errors, *conn.channel_errors, OSError) as exc:
            print(f"consumer: {type(exc).__name__}; reconnecting", file=sys.stderr, flush=True)
            with contextlib.suppress(Exception):
                conn.release()
            stop.wait(backoff)
            backoff = min(backoff * 2, 1.0)
