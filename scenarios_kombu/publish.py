"""kombu's publishers, one Session factory per mode (named by the modes in stack.py)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import kombu
import kombu.pools
from kombu import Producer

from mqcompare.envelope import message_id
from mqcompare.stacks import RetryHook, producer_url
from scenarios_kombu.connect import (
    CONFIRM_TIMEOUT_S,
    HEARTBEAT_S,
    connection,
    release_all,
    retry_policy,
    tcp_user_timeout_ms,
)
from shared_clients.kombu_attempts import Attempts


class KombuPublisher:
    """Publishes one message through whatever producer the mode hands out."""

    retries_itself = True  # kombu's ensure() retries; the core loop must not retry again

    def __init__(
        self,
        spec: Any,
        producer: Callable[[], Any],
        on_retry: RetryHook,
    ) -> None:
        self.queue = spec.queue
        self.confirms = spec.confirms
        self.mandatory = bool(spec.mandatory)  # kombu's default: off
        self.policy = retry_policy(spec.retry_budget_s)
        self.producer = producer
        self.on_retry = on_retry

    def publish(self, p: int, s: int, body: bytes) -> None:
        attempts = Attempts(p, s, self.on_retry)
        try:
            with self.producer() as producer:
                producer.publish(
                    body,
                    exchange="",
                    routing_key=self.queue,
                    delivery_mode=2,
                    message_id=message_id(p, s),
                    content_type="application/json",
                    content_encoding="utf-8",
                    mandatory=self.mandatory,
                    retry=True,
                    retry_policy=attempts.policy(self.policy),
                    confirm_timeout=CONFIRM_TIMEOUT_S if self.confirms else None,
                )
        except Exception as exc:
            attempts.reraise(exc)

    def reset(self) -> None:
        pass  # kombu reconnects by itself

    def close(self) -> None:
        pass  # the session owns the connections


class _Session:
    """What every mode holds: the session's connection, and the pool's connections to
    close with the AMQP handshake at the end."""

    def __init__(self, spec: Any, url: str) -> None:
        self.spec, self.url = spec, url
        self.conn = connection(url, spec)
        self.pooled: set[Any] = set()  # connections the pool handed out
        self.owned: list[Any] = []  # connections opened per producer

    def close(self) -> None:
        release_all(self.pooled)  # before kombu.pools.reset() drops them without a handshake
        with contextlib.suppress(Exception):
            kombu.pools.reset()
        for conn in [*self.owned, self.conn]:
            with contextlib.suppress(Exception):
                conn.release()


class Pooled(_Session):
    def publisher(self, p: int, on_retry: RetryHook) -> KombuPublisher:
        pool = kombu.pools.producers[self.conn]

        @contextlib.contextmanager
        def pooled() -> Iterator[Any]:
            with pool.acquire(block=True) as producer:
                self.pooled.add(producer.connection)
                yield producer

        return KombuPublisher(self.spec, pooled, on_retry)


class SharedProducer(_Session):
    def __init__(self, spec: Any, url: str, lock: Any = None) -> None:
        super().__init__(spec, url)
        self.shared = Producer(self.conn)
        self.lock = lock

    def publisher(self, p: int, on_retry: RetryHook) -> KombuPublisher:
        shared, lock = self.shared, self.lock
        if lock is None:
            return KombuPublisher(self.spec, lambda: contextlib.nullcontext(shared), on_retry)

        @contextlib.contextmanager
        def locked() -> Iterator[Any]:
            with lock:
                yield shared

        return KombuPublisher(self.spec, locked, on_retry)


class OwnProducers(_Session):
    def publisher(self, p: int, on_retry: RetryHook) -> KombuPublisher:
        own = connection(producer_url(self.url, p), self.spec)
        self.owned.append(own)
        producer = Producer(own)
        return KombuPublisher(self.spec, lambda: contextlib.nullcontext(producer), on_retry)


def pooled(spec: Any, url: str) -> Pooled:
    return Pooled(spec, url)


def shared_unsafe(spec: Any, url: str) -> SharedProducer:
    return SharedProducer(spec, url)


def shared_locked(spec: Any, url: str) -> SharedProducer:
    return SharedProducer(spec, url, lock=threading.Lock())


def connection_per_thread(spec: Any, url: str) -> OwnProducers:
    return OwnProducers(spec, url)


def settings(spec: Any) -> dict[str, Any]:
    return {
        "kombu_version": kombu.__version__,
        "transport": "py-amqp",
        "delivery_mode": 2,
        "confirm_publish": spec.confirms,
        "confirm_timeout_s": CONFIRM_TIMEOUT_S if spec.confirms else None,
        "mandatory": bool(spec.mandatory),
        "heartbeat_s": HEARTBEAT_S,
        "tcp_user_timeout_ms": tcp_user_timeout_ms(spec),
        "pool_limit": kombu.pools.get_limit() if spec.mode == "pool" else None,
        "retry": "kombu Producer.publish(retry=True)",
        "retry_policy": retry_policy(spec.retry_budget_s),
    }
