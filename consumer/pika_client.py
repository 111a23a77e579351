"""The counting consumer's pika client: a reconnecting BlockingConnection consume loop."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from functools import partial

import pika.exceptions as px

from scenarios_pika.connect import connect


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
    while not stop.is_set():
        conn = None
        try:
            conn = connect(url)
            ch = conn.channel()
            ch.queue_declare(queue=queue, durable=True)
            if prefetch:
                ch.basic_qos(prefetch_count=prefetch)
            backoff = 0.1
            auto = ack == "auto"
            for method, _props, body in ch.consume(queue, auto_ack=auto, inactivity_timeout=0.2):
                if stop.is_set():
                    break
                if method is None:
                    continue
                handle(body, bool(method.redelivered), partial(ch.basic_ack, method.delivery_tag))
            # leaving: unacked prefetched messages go back to the queue when we close
            conn.close()
            return
        except (px.AMQPError, OSError) as exc:
            print(f"consumer: {type(exc).__name__}; reconnecting", file=sys.stderr, flush=True)
            if conn is not None and conn.is_open:
                with contextlib.suppress(Exception):
                    conn.close()
            stop.wait(backoff)
            backoff = min(backoff * 2, 1.0)
