"""kombu, used each way experiment 1 asks about. `pool` is kombu's documented thread-safe
use; every mode publishes with kombu's own retry (`retry=True`), so a retry is kombu's
behaviour, journaled as a new attempt through the errback kombu calls before it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import kombu
import kombu.pools
from kombu import Producer

from mqcompare.stacks import Mode, RetryHook
from scenarios_kombu.attempts import Attempts
from scenarios_kombu.connect import (
    CONFIRM_TIMEOUT_S,
    HEARTBEAT_S,
    connection,
    release_all,
    retry_policy,
)

MODES = {
    m.name: m
    for m in (
        Mode("pool", "each publish takes a producer from kombu.pools.producers (kombu's way)"),
        Mode("shared-unsafe", "one Connection and Producer made once, shared by all threads"),
        Mode("shared-locked", "one Connection and Producer shared by all threads behind a lock"),
        Mode("connection-per-thread", "each producer thread has its own Connection and Producer"),
    )
}


class KombuPublisher:
    """Publishes one message through whatever producer the mode hands out."""

    retries_itself = True  # kombu's ensure() retries; the core loop must not retry again

    def __init__(
        self,
        spec: Any,
        producer: Callable[[], Any],
        on_retry: RetryHook,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self.queue = spec.queue
        self.confirms = spec.confirms
        self.policy = retry_policy(spec.retry_budget_s)
        self.producer = producer
        self.on_retry = on_retry
        self.on_close = on_close

    def publish(self, p: int, s: int, body: bytes) -> None:
        attempts = Attempts(p, s, self.on_retry)
        try:
            with self.producer() as producer:
                producer.publish(
                    body,
                    exchange="",
                    routing_key=self.queue,
                    delivery_mode=2,
                    message_id=f"{p}:{s}",
                    content_type="application/json",
                    content_encoding="utf-8",
                    mandatory=self.confirms,
                    retry=True,
                    retry_policy=attempts.policy(self.policy),
                    confirm_timeout=CONFIRM_TIMEOUT_S if self.confirms else None,
                )
        except Exception as exc:
            attempts.reraise(exc)

    def reset(self) -> None:
        pass  # kombu reconnects by itself

    def close(self) -> None:
        self.on_close()


class KombuSession:
    def __init__(self, spec: Any, url: str) -> None:
        self.spec, self.url = spec, url
        self.mode = spec.mode
        self.conn = connection(url, spec.confirms)
        self.shared: Producer | None = None
        self.lock = threading.Lock()
        self.pooled: set[Any] = set()  # connections the pool handed out
        if self.mode in ("shared-unsafe", "shared-locked"):
            self.shared = Producer(self.conn)

    def publisher(self, p: int, on_retry: RetryHook) -> KombuPublisher:
        if self.mode == "pool":
            pool = kombu.pools.producers[self.conn]

            @contextlib.contextmanager
            def pooled() -> Iterator[Any]:
                with pool.acquire(block=True) as producer:
                    self.pooled.add(producer.connection)
                    yield producer

            return KombuPublisher(self.spec, pooled, on_retry)
        if self.mode == "connection-per-thread":
            own = connection(self.url, self.spec.confirms)
            producer = Producer(own)
            return KombuPublisher(
                self.spec, lambda: contextlib.nullcontext(producer), on_retry, on_close=own.release
            )
        shared = self.shared
        if self.mode == "shared-locked":

            @contextlib.contextmanager
            def locked() -> Iterator[Any]:
                with self.lock:
                    yield shared

            return KombuPublisher(self.spec, locked, on_retry)
        return KombuPublisher(self.spec, lambda: contextlib.nullcontext(shared), on_retry)

    def close(self) -> None:
        release_all(self.pooled)  # before kombu.pools.reset() drops them without a handshake
        with contextlib.suppress(Exception):
            kombu.pools.reset()
        with contextlib.suppress(Exception):
            self.conn.release()


class KombuStack:
    name = "kombu"
    library = "kombu"
    modes = MODES
    default_mode = "pool"

    def session(self, spec: Any, url: str) -> KombuSession:
        return KombuSession(spec, url)

    def options(self, spec: Any) -> dict[str, Any]:
        return {
            "kombu_version": kombu.__version__,
            "transport": "py-amqp",
            "delivery_mode": 2,
            "confirm_publish": spec.confirms,
            "confirm_timeout_s": CONFIRM_TIMEOUT_S if spec.confirms else None,
            "mandatory": spec.confirms,
            "heartbeat_s": HEARTBEAT_S,
            "pool_limit": kombu.pools.get_limit() if spec.mode == "pool" else None,
            "retry": "kombu Producer.publish(retry=True)",
            "retry_policy": retry_policy(spec.retry_budget_s),
        }
