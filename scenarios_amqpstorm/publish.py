"""amqpstorm's publishers, one Session factory per mode (named by the modes in stack.py).

amqpstorm says it is thread-safe: `Basic.publish` writes a message's frames in one socket
write under the connection's lock, and with confirms holds the channel's RPC lock from the
write until the broker's Basic.Ack or Basic.Nack. The shared modes use that, and nothing
of their own, except shared-locked's one lock."""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Any

import amqpstorm
from amqpstorm import AMQPError, AMQPMessageError

from mqcompare.envelope import message_id
from mqcompare.stacks import NotSent, RetryHook, producer_url
from scenarios_amqpstorm.connect import HEARTBEAT_S, RPC_TIMEOUT_S, channel, connect


def _open(url: str, confirms: bool) -> tuple[Any, Any]:
    try:
        conn = connect(url)
        return conn, channel(conn, confirms)
    except Exception as exc:  # nothing was published on a connection that never opened
        raise NotSent(exc) from exc


class _Sender:
    """Publishes one persistent message to the run's queue on a given channel."""

    def __init__(self, spec: Any) -> None:
        self.queue = spec.queue
        self.confirms = spec.confirms
        self.mandatory = bool(spec.mandatory)

    def send(self, ch: Any, p: int, s: int, body: bytes) -> None:
        try:
            ch.check_for_errors()
        except AMQPMessageError:
            # without confirms a return arrives after its publish and names no publish a
            # producer could tie it to; it says nothing about this message
            pass
        except AMQPError as exc:  # the channel or connection is already gone: not written
            raise NotSent(exc) from exc
        props = {"delivery_mode": 2, "message_id": message_id(p, s)}
        try:
            acked = ch.basic.publish(body, self.queue, "", props, mandatory=self.mandatory)
        except AMQPMessageError as exc:  # with confirms: returned unroutable, then confirmed
            raise NotSent(exc, _reply(exc)) from exc
        if acked is False:  # Basic.Nack
            raise NotSent(RuntimeError("Basic.Nack"), "nack")


def _reply(exc: AMQPMessageError) -> str:
    """ "312 NO_ROUTE", as the broker's Basic.Return said it (amqpstorm words it as
    "Message not delivered: NO_ROUTE (312) to queue ...")."""
    said = re.match(r"Message not delivered: (\S+) \((\d+)\)", str(exc))
    return f"{said[2]} {said[1]}" if said else f"{exc.error_code or ''} {exc}".strip()


class OwnConnection:
    """connection-per-thread: opened lazily in the producer's own thread."""

    retries_itself = False

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
    """One connection (and channel) for every producer thread. The thread that sees it
    break replaces it; a generation number keeps the others from replacing the
    replacement."""

    def __init__(self, url: str, confirms: bool) -> None:
        self.url, self.confirms = url, confirms
        self.generation = 0
        self.replacing = threading.Lock()  # mqcompare's reconnect, not a publish lock
        self.conn, self.ch = _open(url, confirms)

    def replace(self, seen: int) -> None:
        with self.replacing:
            if self.generation != seen:
                return
            old = self.conn
            self.conn, self.ch = _open(self.url, self.confirms)
            self.generation = seen + 1
        with contextlib.suppress(Exception):
            old.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


class SharedChannel:
    """shared-unsafe / shared-locked: every thread publishes on the one channel."""

    retries_itself = False

    def __init__(self, shared: SharedConnection, sender: _Sender, lock: Any = None) -> None:
        self.shared, self.sender, self.lock = shared, sender, lock
        self.seen = shared.generation
        self.broken = False

    def _publish(self, p: int, s: int, body: bytes) -> None:
        if self.broken:
            self.shared.replace(self.seen)
            self.broken = False
        self.seen, ch = self.shared.generation, self.shared.ch
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


class ThreadChannel:
    """channel-per-thread: this thread's own channel on the shared connection."""

    retries_itself = False

    def __init__(self, shared: SharedConnection, sender: _Sender) -> None:
        self.shared, self.sender = shared, sender
        self.seen = -1
        self.ch: Any = None

    def publish(self, p: int, s: int, body: bytes) -> None:
        if self.ch is None:
            self.seen = self.shared.generation
            try:
                self.ch = channel(self.shared.conn, self.sender.confirms)
            except Exception as exc:
                self.shared.replace(self.seen)
                raise NotSent(exc) from exc
        self.sender.send(self.ch, p, s, body)

    def reset(self) -> None:
        if self.ch is not None and not self.shared.conn.is_open:
            self.shared.replace(self.seen)
        self.ch = None

    def close(self) -> None:
        if self.ch is not None:
            with contextlib.suppress(Exception):
                self.ch.close()


class OwnConnections:
    def __init__(self, spec: Any, url: str) -> None:
        self.url, self.sender = url, _Sender(spec)

    def publisher(self, p: int, on_retry: RetryHook) -> OwnConnection:
        # amqpstorm does not retry by itself: the core's loop reconnects and publishes again
        return OwnConnection(producer_url(self.url, p), self.sender)

    def close(self) -> None:
        pass


class Shared:
    """The modes that share one connection made before the producers start."""

    def __init__(self, spec: Any, url: str, lock: Any = None, per_thread: bool = False) -> None:
        self.sender = _Sender(spec)
        self.shared = SharedConnection(url, spec.confirms)
        self.lock, self.per_thread = lock, per_thread

    def publisher(self, p: int, on_retry: RetryHook) -> SharedChannel | ThreadChannel:
        if self.per_thread:
            return ThreadChannel(self.shared, self.sender)
        return SharedChannel(self.shared, self.sender, self.lock)

    def close(self) -> None:
        self.shared.close()


def connection_per_thread(spec: Any, url: str) -> OwnConnections:
    return OwnConnections(spec, url)


def shared_unsafe(spec: Any, url: str) -> Shared:
    return Shared(spec, url)


def shared_locked(spec: Any, url: str) -> Shared:
    return Shared(spec, url, lock=threading.Lock())


def channel_per_thread(spec: Any, url: str) -> Shared:
    return Shared(spec, url, per_thread=True)


def settings(spec: Any) -> dict[str, Any]:
    return {
        "amqpstorm_version": amqpstorm.__version__,
        "delivery_mode": 2,
        "mandatory": bool(spec.mandatory),
        "heartbeat_s": HEARTBEAT_S,
        "rpc_timeout_s": RPC_TIMEOUT_S,
        "retry": f"reconnect and publish again, up to {spec.retry_budget_s:g} s per message",
    }
