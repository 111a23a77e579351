"""pika's publishers, one Session factory per mode (named by the modes in stack.py)."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

import pika
import pika.exceptions as px

from mqcompare.envelope import message_id
from mqcompare.stacks import CONFIRM_WINDOW, NotSent, RetryHook, producer_url
from scenarios_pika.asyncio_publish import asyncio_adapter as asyncio_adapter
from scenarios_pika.connect import HEARTBEAT_S, connect

# Raised before a frame left this process, or the broker said no: definitely not sent.
_NOT_SENT = (
    px.ChannelWrongStateError,
    px.ConnectionWrongStateError,
    px.UnroutableError,
    px.NackError,
)


def _open(url: str, confirms: bool) -> tuple[Any, Any]:
    try:
        conn = connect(url)
        ch = conn.channel()
        if confirms:
            ch.confirm_delivery()
    except Exception as exc:  # nothing was published on a connection that never opened
        raise NotSent(exc) from exc
    return conn, ch


class _Publisher:
    retries_itself = False


class _Sender:
    """Publishes one persistent message to the run's queue on a given channel."""

    def __init__(self, spec: Any) -> None:
        self.queue = spec.queue
        self.confirms = spec.confirms
        self.mandatory = bool(spec.mandatory)  # pika's default: off

    def send(self, ch: Any, p: int, s: int, body: bytes) -> None:
        props = pika.BasicProperties(delivery_mode=2, message_id=message_id(p, s))
        try:
            # mandatory and confirms: an unroutable message raises UnroutableError; without
            # mandatory the broker drops it and confirms it all the same
            ch.basic_publish("", self.queue, body, props, mandatory=self.mandatory)
        except px.UnroutableError as exc:
            returned = exc.messages[0].method if exc.messages else None
            reply = f"{returned.reply_code} {returned.reply_text}" if returned else ""
            raise NotSent(exc, reply) from exc
        except _NOT_SENT as exc:
            raise NotSent(exc) from exc


class OwnConnection(_Publisher):
    """connection-per-thread / process-per-producer: opened lazily in the producer itself."""

    def __init__(self, url: str, sender: _Sender) -> None:
        self.url, self.sender = url, sender
        self.conn: Any = None
        self.ch: Any = None

    def publish(self, p: int, s: int, body: bytes) -> None:
        if self.ch is None:
            self.conn, self.ch = _open(self.url, self.sender.confirms)
        self.sender.send(self.ch, p, s, body)

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = self.ch = None


class SharedConnection:
    """One connection (and channel) for every producer of a process, as module-scope code
    makes it. The producer that sees it break replaces it; a generation number keeps the
    others from replacing the replacement. The broken one is abandoned, not closed: closing
    it would write on a socket other threads (or forked processes) still use."""

    def __init__(self, url: str, confirms: bool) -> None:
        self.url, self.confirms = url, confirms
        self.generation = 0
        self.conn, self.ch = _open(url, confirms)
        self.owner = os.getpid()  # a forked child must not close its parent's connection

    def current(self) -> tuple[int, Any, Any]:
        return self.generation, self.conn, self.ch

    def replace(self, seen: int) -> None:
        if self.generation == seen:
            self.conn = self.ch = None
            self.conn, self.ch = _open(self.url, self.confirms)
            self.owner = os.getpid()
            self.generation = seen + 1


class SharedChannel(_Publisher):
    """shared-unsafe / shared-locked / fork-shared: publish on the shared channel."""

    def __init__(self, shared: SharedConnection, sender: _Sender, lock: Any = None) -> None:
        self.shared, self.sender, self.lock = shared, sender, lock
        self.seen = shared.generation
        self.broken = False

    def _publish(self, p: int, s: int, body: bytes) -> None:
        if self.broken or self.shared.ch is None:
            self.shared.replace(self.seen)
            self.broken = False
        self.seen, _, ch = self.shared.current()
        self.sender.send(ch, p, s, body)

    def publish(self, p: int, s: int, body: bytes) -> None:
        if self.lock is None:
            self._publish(p, s, body)
        else:
            with self.lock:
                self._publish(p, s, body)

    def reset(self) -> None:
        self.broken = True

    def close(self) -> None:
        pass  # the session owns the shared connection


class ThreadChannel(_Publisher):
    """channel-per-thread: this thread's own channel on the shared connection."""

    def __init__(self, shared: SharedConnection, sender: _Sender) -> None:
        self.shared, self.sender = shared, sender
        self.seen = -1
        self.ch: Any = None

    def publish(self, p: int, s: int, body: bytes) -> None:
        if self.ch is None:
            generation, conn, _ = self.shared.current()
            if conn is None or not conn.is_open:
                self.shared.replace(generation)
                generation, conn, _ = self.shared.current()
            try:
                self.ch = conn.channel()
                if self.sender.confirms:
                    self.ch.confirm_delivery()
            except Exception as exc:
                self.ch = None
                raise NotSent(exc) from exc
            self.seen = generation
        self.sender.send(self.ch, p, s, body)

    def reset(self) -> None:
        if self.ch is not None and not self.ch.connection.is_open:
            self.shared.replace(self.seen)
        self.ch = None

    def close(self) -> None:
        pass


class OwnConnections:
    """connection-per-thread / process-per-producer: nothing shared; each producer opens
    its own connection lazily, in its own thread or process."""

    def __init__(self, spec: Any, url: str) -> None:
        self.url, self.sender = url, _Sender(spec)

    def publisher(self, p: int, on_retry: RetryHook) -> OwnConnection:
        # pika does not retry by itself: the core's loop reconnects and publishes again
        return OwnConnection(producer_url(self.url, p), self.sender)

    def close(self) -> None:
        pass


class Shared:
    """The modes that share one connection made before the producers start."""

    def __init__(self, spec: Any, url: str, lock: Any = None, per_thread: bool = False) -> None:
        self.sender = _Sender(spec)
        self.shared = SharedConnection(url, spec.confirms)
        self.lock, self.per_thread = lock, per_thread

    def publisher(self, p: int, on_retry: RetryHook) -> _Publisher:
        if self.per_thread:
            return ThreadChannel(self.shared, self.sender)
        return SharedChannel(self.shared, self.sender, self.lock)

    def close(self) -> None:
        shared = self.shared
        if shared.conn is not None and shared.owner == os.getpid():
            with contextlib.suppress(Exception):
                shared.conn.close()


def own_connection(spec: Any, url: str) -> OwnConnections:
    return OwnConnections(spec, url)


def shared_unsafe(spec: Any, url: str) -> Shared:
    """shared-unsafe, and fork-shared (the same objects, used from forked processes)."""
    return Shared(spec, url)


def shared_locked(spec: Any, url: str) -> Shared:
    return Shared(spec, url, lock=threading.Lock())


def channel_per_thread(spec: Any, url: str) -> Shared:
    return Shared(spec, url, per_thread=True)


def settings(spec: Any) -> dict[str, Any]:
    return {
        "pika_version": pika.__version__,
        "delivery_mode": 2,
        "mandatory": bool(spec.mandatory),
        "heartbeat_s": HEARTBEAT_S,
        **(
            {"confirm_window": CONFIRM_WINDOW.value(spec.stack_options)}
            if spec.mode == "asyncio-adapter"
            else {}
        ),
        "retry": f"reconnect and publish again, up to {spec.retry_budget_s:g} s per message",
    }
