"""celery's publishers: apply_async on the run's task, one Session factory per mode."""

from __future__ import annotations

import contextlib
from typing import Any

import celery
import kombu

from mqcompare.envelope import decode, message_id
from mqcompare.stacks import RetryHook
from scenarios_celery.app import TASK, app_settings, make_app
from scenarios_celery.connect import CONFIRM_TIMEOUT_S, release_all
from shared_clients.kombu_attempts import Attempts


class CeleryPublisher:
    retries_itself = True  # apply_async retries through kombu; the core must not retry

    def __init__(
        self, spec: Any, app: Any, on_retry: RetryHook, own_producer: bool, pooled: set[Any]
    ) -> None:
        self.spec = spec
        self.app = app
        self.pooled = pooled  # connections the app's pool handed out, closed by the session
        self.task = app.tasks[TASK]
        self.policy = app_settings(spec)["publish_retry_policy"]
        self.on_retry = on_retry
        self.producer = app.producer_pool.acquire(block=True) if own_producer else None

    def publish(self, p: int, s: int, body: bytes) -> None:
        _, _, sent = decode(body)
        attempts = Attempts(p, s, self.on_retry)
        try:
            # what apply_async does without a producer, done here to see the connection
            with self.app.producer_or_acquire(self.producer) as producer:
                self.pooled.add(producer.connection)
                self.task.apply_async(
                    args=(p, s, sent),
                    task_id=message_id(p, s),
                    message_id=message_id(p, s),
                    producer=producer,
                    retry=True,
                    retry_policy=attempts.policy(self.policy),
                    confirm_timeout=CONFIRM_TIMEOUT_S if self.spec.confirms else None,
                    mandatory=bool(self.spec.mandatory),  # celery's default: off
                )
        except Exception as exc:
            attempts.reraise(exc)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        if self.producer is not None:
            self.producer.release()


class CelerySession:
    def __init__(self, spec: Any, url: str, own_producer: bool = False) -> None:
        self.spec = spec
        self.app = make_app(spec, url)
        self.pooled: set[Any] = set()
        self.own_producer = own_producer

    def publisher(self, p: int, on_retry: RetryHook) -> CeleryPublisher:
        return CeleryPublisher(self.spec, self.app, on_retry, self.own_producer, self.pooled)

    def close(self) -> None:
        release_all(self.pooled)
        with contextlib.suppress(Exception):
            self.app.close()


def shared_app(spec: Any, url: str) -> CelerySession:
    return CelerySession(spec, url)


def producer_per_thread(spec: Any, url: str) -> CelerySession:
    return CelerySession(spec, url, own_producer=True)


def settings(spec: Any) -> dict[str, Any]:
    return {
        "celery_version": celery.__version__,
        "kombu_version": kombu.__version__,
        **app_settings(spec),
        "pool": "prefork",
        "delivery_mode": 2,
        "confirm_publish": spec.confirms,
    }
