"""dramatiq's publishers: actor.send on the run's actor, one Session factory per mode."""

from __future__ import annotations

import contextlib
from typing import Any

import dramatiq

from mqcompare.envelope import decode
from mqcompare.stacks import RetryHook, producer_url
from scenarios_dramatiq.app import make
from scenarios_dramatiq.app import settings as app_settings
from scenarios_dramatiq.connect import HEARTBEAT_S


class Sender:
    # dramatiq's enqueue retries a failed publish itself (reconnecting, up to 6 attempts at
    # once); when those fail it raises, and the core backs off and sends again
    retries_itself = False

    def __init__(self, broker: Any, actor: Any) -> None:
        self.broker, self.actor = broker, actor

    def publish(self, p: int, s: int, body: bytes) -> None:
        _, _, sent = decode(body)
        # dramatiq raises one error for all of these, sent or not: the outcome is open
        self.actor.send(p, s, sent)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        # the connection dramatiq keeps for this thread, closed in this thread (pika's
        # BlockingConnection is not to be closed from another)
        with contextlib.suppress(Exception):
            del self.broker.connection


class SharedBroker:
    """shared-broker: one broker and actor at module scope; dramatiq gives each thread
    its own connection and channel."""

    def __init__(self, spec: Any, url: str) -> None:
        self.broker, self.actor = make(spec, url)

    def publisher(self, p: int, on_retry: RetryHook) -> Sender:
        return Sender(self.broker, self.actor)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.broker.close()


class BrokerPerThread:
    """broker-per-thread: each producer thread makes its own broker and actor."""

    def __init__(self, spec: Any, url: str) -> None:
        self.spec, self.url = spec, url

    def publisher(self, p: int, on_retry: RetryHook) -> Sender:
        return Sender(*make(self.spec, producer_url(self.url, p)))

    def close(self) -> None:
        pass  # each thread closed its own broker's connection


def shared_broker(spec: Any, url: str) -> SharedBroker:
    return SharedBroker(spec, url)


def broker_per_thread(spec: Any, url: str) -> BrokerPerThread:
    return BrokerPerThread(spec, url)


def settings(spec: Any) -> dict[str, Any]:
    return {
        "dramatiq_version": dramatiq.__version__,
        "delivery_mode": 2,
        "heartbeat_s": HEARTBEAT_S,
        **app_settings(spec),
        "retry": "dramatiq's enqueue (6 attempts at once), then publish again, up to "
        f"{spec.retry_budget_s:g} s per message",
    }
