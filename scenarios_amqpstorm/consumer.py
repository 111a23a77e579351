"""amqpstorm's consumer for the counting consumer (consumer/): a basic.consume loop over
the channel's inbound messages."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from amqpstorm import AMQPChannelError, AMQPConnectionError, AMQPError

from consumer.reconnect import reconnecting
from scenarios_amqpstorm.connect import channel, connect

EMPTY_S = 0.2  # how long the inbound queue stays empty before the loop looks at `stop`


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
            ch = channel(conn, confirms=False)
            ch.queue.declare(queue, durable=True, arguments=arguments or None)
            if prefetch:
                ch.basic.qos(prefetch_count=prefetch)
            ch.basic.consume(queue=queue, no_ack=ack == "auto")
            connected()
            while not stop.is_set():
                for message in ch.build_inbound_messages(
                    break_on_empty=True, auto_decode=False, empty_timeout=EMPTY_S
                ):
                    headers = message.properties.get("headers") or {}
                    handle(message.body, bool(message.redelivered), _settle(message), headers)
                    if stop.is_set():
                        break
                if ch.is_closed or conn.is_closed:
                    # the loop above ends quietly on a channel that closed under it (a
                    # broker restart): raise what closed it, so that we reconnect
                    conn.check_for_errors()
                    ch.check_for_errors()
                    raise AMQPConnectionError("channel closed")
                if not ch.consumer_tags and not stop.is_set():
                    # the broker cancelled us (the queue was deleted): amqpstorm only logs
                    # it; consume again, declaring the queue again, as every stack does
                    raise AMQPChannelError("consumer cancelled by the broker")

    reconnecting(session, (AMQPError, OSError), stop)


def _settle(message: Any) -> Callable[..., None]:
    def settle(ok: bool = True) -> None:
        """Ack the delivery, or reject it with requeue."""
        message.ack() if ok else message.reject(requeue=True)

    return settle
