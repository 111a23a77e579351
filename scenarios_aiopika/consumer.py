"""aio-pika's consumer for the counting consumer (consumer/): a queue consumer in an
event loop, handling one delivery at a time in the loop, as a plain `async for` does (its
work time holds the loop, as pika's blocking consumer holds its connection). With `ack
before` the delivery is handled in a thread instead, which waits until the loop has
written the ack: only then may it journal the delivery."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import aio_pika.abc
import aiormq.exceptions as ax

from consumer.reconnect import reconnecting
from scenarios_aiopika.connect import connect

POLL_S = 0.2
ACK_TIMEOUT_S = 10


class ConnectionLost(ConnectionError):
    pass


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

    async def session(connected: Callable[[], None]) -> None:
        conn = await connect(url)
        try:
            channel = await conn.channel()
            if prefetch:
                await channel.set_qos(prefetch_count=prefetch)
            q = await channel.declare_queue(queue, durable=True, arguments=arguments or None)
            arrived: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
            tag = await q.consume(arrived.put, no_ack=ack == "auto")
            underlay: Any = await channel.get_underlay_channel()  # aiormq's, with its consumers
            consumers = underlay.consumers
            loop = asyncio.get_running_loop()
            connected()
            while not stop.is_set():
                if conn.is_closed or channel.is_closed:
                    raise ConnectionLost("the connection or channel closed")
                if tag not in consumers and arrived.empty():
                    return  # the broker cancelled it (its queue was deleted), as pika ends
                try:
                    message = await asyncio.wait_for(arrived.get(), POLL_S)
                except TimeoutError:
                    continue

                redelivered, headers = bool(message.redelivered), dict(message.headers)
                if ack == "before":

                    def ack_now(
                        ok: bool = True, m: aio_pika.abc.AbstractIncomingMessage = message
                    ) -> None:
                        settling = m.ack() if ok else m.reject(requeue=True)
                        asyncio.run_coroutine_threadsafe(settling, loop).result(ACK_TIMEOUT_S)

                    await loop.run_in_executor(
                        None, handle, message.body, redelivered, ack_now, headers
                    )
                    continue
                settled: list[bool] = []
                handle(message.body, redelivered, partial(_record, settled), headers)
                if settled:  # after: journaled, now acked (or a poison message rejected)
                    await (message.ack() if settled[0] else message.reject(requeue=True))
        finally:
            # closing the connection hands unacked prefetched messages back to the queue
            with contextlib.suppress(Exception):  # already gone
                await asyncio.wait_for(conn.close(), timeout=5)

    reconnecting(
        lambda connected: asyncio.run(session(connected)),
        (ax.AMQPError, OSError, asyncio.TimeoutError, ax.ChannelInvalidStateError),
        stop,
    )


def _record(settled: list[bool], ok: bool = True) -> None:
    """How the handler settled a delivery: ack (True) or reject with requeue (False)."""
    settled.append(ok)
