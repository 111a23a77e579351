"""pika's asynchronous side: the `asyncio-adapter` mode. Each producer task has its own
AsyncioConnection and channel (pika's callback API on the event loop), publishes without
waiting, and learns each message's fate from the broker's Basic.Ack / Basic.Nack by
delivery tag, as pika's asynchronous publisher example does; the core keeps up to the
confirm window of them in flight."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pika
import pika.exceptions as px
from pika.adapters.asyncio_connection import AsyncioConnection

from mqcompare.envelope import message_id
from mqcompare.stacks import CONFIRM_WINDOW, NotSent, producer_url
from scenarios_pika.connect import SOCKET_TIMEOUT_S, parameters

OPEN_TIMEOUT_S = SOCKET_TIMEOUT_S * 2


class Returned(Exception):
    """The broker returned a mandatory message no queue took (Basic.Return)."""


class ConnectionLost(ConnectionError):
    """The channel or connection closed with this message unconfirmed: outcome open."""


def _settle(fut: asyncio.Future[Any], value: Any) -> None:
    """A callback's answer, once (pika may call an open callback after a timeout)."""
    if not fut.done():
        fut.set_result(value)


class Link:
    """One producer's connection and channel, and its messages awaiting a confirm."""

    def __init__(self, url: str, queue: str, confirms: bool, mandatory: bool) -> None:
        self.url, self.queue, self.confirms, self.mandatory = url, queue, confirms, mandatory
        self.conn: Any = None
        self.ch: Any = None
        self.tag = 0  # the channel's last delivery tag (they restart at 1 on a new channel)
        self.pending: dict[int, tuple[asyncio.Future[None], str]] = {}
        self.returned: dict[str, str] = {}  # message id: the broker's reply
        self.lock = asyncio.Lock()

    # -- opening ----------------------------------------------------------------------
    async def _connect(self, url: str) -> Any:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()

        def on_error(_conn: Any, exc: BaseException) -> None:
            if not opened.done():
                opened.set_exception(exc if isinstance(exc, Exception) else ConnectionLost())

        conn = AsyncioConnection(
            parameters(url),
            on_open_callback=lambda c: _settle(opened, c),
            on_open_error_callback=on_error,
            on_close_callback=self._on_connection_closed,
            custom_ioloop=loop,
        )
        try:
            return await asyncio.wait_for(opened, OPEN_TIMEOUT_S)
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()
            raise

    async def _open(self) -> None:
        failure: BaseException | None = None
        for url in self.url.split(";"):  # a cluster's nodes, in the order to try them
            try:
                self.conn = await self._connect(url)
                break
            except (TimeoutError, OSError, px.AMQPError) as exc:
                failure = exc
        else:
            raise NotSent(failure or ConnectionLost("no node"))
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Any] = loop.create_future()
        self.conn.channel(on_open_callback=lambda ch: _settle(ready, ch))
        try:
            ch = await asyncio.wait_for(ready, OPEN_TIMEOUT_S)
            ch.add_on_close_callback(self._on_channel_closed)
            ch.add_on_return_callback(self._on_return)
            if self.confirms:
                selected: asyncio.Future[Any] = loop.create_future()
                ch.confirm_delivery(self._on_confirm, callback=lambda f: _settle(selected, f))
                await asyncio.wait_for(selected, OPEN_TIMEOUT_S)
        except Exception as exc:  # nothing was published on it
            self.close_now()
            raise NotSent(exc) from exc
        self.ch, self.tag = ch, 0

    # -- the broker's answers ---------------------------------------------------------
    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tags = (
            [t for t in self.pending if t <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        nacked = isinstance(method, pika.spec.Basic.Nack)
        for tag in tags:
            fut, mid = self.pending.pop(tag, (None, ""))
            if fut is None or fut.done():
                continue
            if nacked:
                fut.set_exception(NotSent(px.NackError([])))
            elif mid in self.returned:
                reply = self.returned.pop(mid)
                fut.set_exception(NotSent(Returned(f"{mid} returned unroutable"), reply))
            else:
                fut.set_result(None)

    def _on_return(self, _ch: Any, method: Any, props: Any, _body: bytes) -> None:
        # its Basic.Ack follows
        self.returned[props.message_id] = f"{method.reply_code} {method.reply_text}"

    def _fail_pending(self, reason: BaseException) -> None:
        pending, self.pending = self.pending, {}
        for fut, _mid in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLost(f"{type(reason).__name__}: {reason}"))

    def _on_channel_closed(self, ch: Any, reason: BaseException) -> None:
        if ch is self.ch:
            self.ch = None
        self._fail_pending(reason)

    def _on_connection_closed(self, conn: Any, reason: BaseException) -> None:
        if conn is self.conn:
            self.conn = self.ch = None
        self._fail_pending(reason)

    # -- publishing -------------------------------------------------------------------
    async def publish(self, p: int, s: int, body: bytes) -> None:
        if self.ch is None or not self.ch.is_open:
            async with self.lock:  # the tasks of a window find it closed together
                if self.ch is None or not self.ch.is_open:
                    self.close_now()
                    await self._open()
        mid = message_id(p, s)
        props = pika.BasicProperties(delivery_mode=2, message_id=mid)
        try:
            self.ch.basic_publish("", self.queue, body, props, mandatory=self.mandatory)
        except (px.ChannelWrongStateError, px.ConnectionWrongStateError) as exc:
            raise NotSent(exc) from exc
        if not self.confirms:
            return  # in pika's output buffer: what "sent" means without confirms
        self.tag += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending[self.tag] = (fut, mid)
        await fut

    def close_now(self) -> None:
        conn, self.conn, self.ch = self.conn, None, None
        if conn is not None and conn.is_open:
            with contextlib.suppress(Exception):
                conn.close()

    async def close(self) -> None:
        conn = self.conn
        self.close_now()
        if conn is not None:  # let the close handshake go out before the loop ends
            for _ in range(50):
                if conn.is_closed:
                    break
                await asyncio.sleep(0.02)


class Session:
    def __init__(self, spec: Any, url: str) -> None:
        self.spec, self.url = spec, url
        self.window = CONFIRM_WINDOW.value(spec.stack_options)

    async def publisher(self, p: int) -> Link:
        spec = self.spec
        return Link(producer_url(self.url, p), spec.queue, spec.confirms, bool(spec.mandatory))

    async def close(self) -> None:
        pass  # each producer closes its own connection


async def asyncio_adapter(spec: Any, url: str) -> Session:
    return Session(spec, url)
