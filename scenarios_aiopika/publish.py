"""aio-pika's publishers, one Session factory (a coroutine) per mode of stack.py."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aio_pika
import aiormq.exceptions as ax
from aio_pika.abc import AbstractChannel, AbstractConnection
from pamqp.commands import Basic

from mqcompare.envelope import message_id
from mqcompare.stacks import CONFIRM_WINDOW, NotSent, producer_url
from scenarios_aiopika.connect import HEARTBEAT_S, RECONNECT_INTERVAL_S, connect, connect_robust

# Raised before the frame left (a closed channel), or the broker said no (a nack; with
# on_return_raises a return): definitely not sent. A connection lost while a confirm was
# awaited leaves the outcome open.
_NOT_SENT = (ax.ChannelInvalidStateError, ax.DeliveryError)


class Returned(Exception):
    """The broker returned a mandatory message no queue took (Basic.Return)."""


class _Sender:
    """Publishes one persistent message to the run's queue through the default exchange,
    mandatory unless the run says --no-mandatory (aio-pika's own default is mandatory)."""

    def __init__(self, spec: Any) -> None:
        self.queue, self.confirms = spec.queue, spec.confirms
        self.mandatory = spec.mandatory is not False

    async def send(self, channel: AbstractChannel, p: int, s: int, body: bytes) -> None:
        message = aio_pika.Message(
            body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=message_id(p, s)
        )
        try:
            result = await channel.default_exchange.publish(
                message, routing_key=self.queue, mandatory=self.mandatory
            )
        except _NOT_SENT as exc:
            raise NotSent(exc) from exc
        if self.confirms and not isinstance(result, Basic.Ack):
            # on_return_raises=False (aio-pika's default) hands the returned message back
            frame = getattr(result, "delivery", None)
            reply = f"{frame.reply_code} {frame.reply_text}" if frame is not None else ""
            raise NotSent(Returned(f"{message_id(p, s)} returned unroutable"), reply)


class _Connection:
    """A connection opened when first needed, and again once it is closed (not robust)."""

    def __init__(self, url: str, robust: bool = False) -> None:
        self.url, self.robust = url, robust
        self.conn: AbstractConnection | None = None
        self.lock = asyncio.Lock()

    async def get(self) -> AbstractConnection:
        async with self.lock:
            # a robust connection is never replaced: it reconnects by itself
            if self.conn is None or (not self.robust and _dead(self.conn)):
                self.conn = None
                try:
                    opened = connect_robust if self.robust else connect
                    self.conn = await opened(self.url)
                except Exception as exc:  # nothing was published on it
                    raise NotSent(exc) from exc
            return self.conn

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.conn.close(), timeout=5)
        self.conn = None


def _dead(conn: AbstractConnection) -> bool:
    """A plain connection the broker dropped is not `is_closed` (only a close() call makes
    it so); it is no longer `connected`."""
    return conn.is_closed or not conn.connected.is_set()


class ChannelPublisher:
    """Publishes on one channel of a connection, opening it (again) when it is closed."""

    def __init__(self, connection: _Connection, sender: _Sender, own: bool = False) -> None:
        self.connection, self.sender, self.own = connection, sender, own
        self.channel: AbstractChannel | None = None
        self.lock = asyncio.Lock()

    async def _channel(self) -> AbstractChannel:
        channel = self.channel
        if channel is not None and not (channel.is_closed and not self.connection.robust):
            return channel
        async with self.lock:  # the tasks of a window find it closed together: open once
            if self.channel is None or (self.channel.is_closed and not self.connection.robust):
                conn = await self.connection.get()
                try:
                    self.channel = await conn.channel(publisher_confirms=self.sender.confirms)
                except Exception as exc:
                    raise NotSent(exc) from exc
            return self.channel

    async def publish(self, p: int, s: int, body: bytes) -> None:
        await self.sender.send(await self._channel(), p, s, body)

    async def close(self) -> None:
        if self.own:
            await self.connection.close()


class Session:
    def __init__(self, spec: Any, url: str, robust: bool = False) -> None:
        self.spec, self.url = spec, url
        self.sender = _Sender(spec)
        self.window = CONFIRM_WINDOW.value(spec.stack_options)
        self.shared = _Connection(url, robust)
        self.channel: ChannelPublisher | None = None  # shared-channel's one channel

    async def open(self) -> Session:
        await self.shared.get()  # as module-scope code does: fail before producing
        return self

    async def publisher(self, p: int) -> ChannelPublisher:
        if self.spec.mode == "connection-per-producer":
            return ChannelPublisher(_Connection(producer_url(self.url, p)), self.sender, True)
        if self.spec.mode == "shared-channel":
            self.channel = self.channel or ChannelPublisher(self.shared, self.sender)
            return self.channel
        return ChannelPublisher(self.shared, self.sender)

    async def close(self) -> None:
        await self.shared.close()


async def channel_per_producer(spec: Any, url: str) -> Session:
    return await Session(spec, url).open()


async def shared_channel(spec: Any, url: str) -> Session:
    return await Session(spec, url).open()


async def connection_per_producer(spec: Any, url: str) -> Session:
    return Session(spec, url)  # nothing shared: each producer connects by itself


async def robust(spec: Any, url: str) -> Session:
    return await Session(spec, url, robust=True).open()


def settings(spec: Any) -> dict[str, Any]:
    return {
        "aio_pika_version": aio_pika.__version__,
        "delivery_mode": 2,
        "mandatory": spec.mandatory is not False,
        "on_return_raises": False,
        "heartbeat_s": HEARTBEAT_S,
        "confirm_window": CONFIRM_WINDOW.value(spec.stack_options),
        **({"reconnect_interval_s": RECONNECT_INTERVAL_S} if spec.mode == "robust" else {}),
        "retry": f"publish again, up to {spec.retry_budget_s:g} s per message",
    }
