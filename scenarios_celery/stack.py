"""celery: producer threads call apply_async on the run's task; the consumer is a real
`celery worker -P prefork` process, whose ack policy decides what a crash costs."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import celery
import kombu

from mqcompare.envelope import decode
from mqcompare.stacks import Mode, RetryHook
from scenarios_celery.app import TASK, make_app, publish_policy, settings
from scenarios_kombu.attempts import Attempts
from scenarios_kombu.connect import CONFIRM_TIMEOUT_S, release_all

MODES = {
    m.name: m
    for m in (
        Mode("shared-app", "apply_async through the app's own producer pool"),
        Mode("producer-per-thread", "each thread holds its own producer from the app's pool"),
    )
}


class CeleryPublisher:
    retries_itself = True  # apply_async retries through kombu; the core must not retry

    def __init__(
        self, spec: Any, app: Any, on_retry: RetryHook, own_producer: bool, pooled: set[Any]
    ) -> None:
        self.spec = spec
        self.app = app
        self.pooled = pooled  # connections the app's pool handed out, closed by the session
        self.task = app.tasks[TASK]
        self.policy = publish_policy(spec)
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
                    task_id=f"{p}:{s}",
                    message_id=f"{p}:{s}",
                    producer=producer,
                    retry=True,
                    retry_policy=attempts.policy(self.policy),
                    confirm_timeout=CONFIRM_TIMEOUT_S if self.spec.confirms else None,
                )
        except Exception as exc:
            attempts.reraise(exc)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        if self.producer is not None:
            self.producer.release()


class CelerySession:
    def __init__(self, spec: Any, url: str) -> None:
        self.spec = spec
        self.app = make_app(spec, url)
        self.pooled: set[Any] = set()

    def publisher(self, p: int, on_retry: RetryHook) -> CeleryPublisher:
        own = self.spec.mode == "producer-per-thread"
        return CeleryPublisher(self.spec, self.app, on_retry, own, self.pooled)

    def close(self) -> None:
        release_all(self.pooled)
        with contextlib.suppress(Exception):
            self.app.close()


class CeleryStack:
    name = "celery"
    library = "kombu"  # queue administration and any counting consumer
    modes = MODES
    default_mode = "shared-app"
    faults = ("worker-kill", "worker-crash")

    def session(self, spec: Any, url: str) -> CelerySession:
        return CelerySession(spec, url)

    def consumer_argv(self, spec: Any, n: int) -> list[str]:
        """The worker replaces the counting consumer; its children journal deliveries."""
        conf = settings(spec)
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "scenarios_celery.worker",
            "worker",
            "-P",
            "prefork",
            "-c",
            str(conf["concurrency"]),
            "-Q",
            spec.queue,
            "-n",
            f"mqc{n}-{spec.run_id}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ]

    def explain(self, result: dict[str, Any]) -> list[str]:
        """Why celery lost or duplicated what it did, in the words of its documentation."""
        opts = result["spec"].get("stack_options", {})
        kinds = {f["kind"] for f in result.get("faults", [])}
        c, notes = result["counts"], []
        if c["lost"] and kinds & {"worker-kill", "worker-crash"}:
            if not opts.get("acks_late"):
                notes.append(
                    "early ack (celery's default): a task is acked when it is received, "
                    "before it runs, so the tasks the killed process held were gone"
                )
            elif not opts.get("reject_on_worker_lost"):
                notes.append(
                    "acks_late without task_reject_on_worker_lost: celery acks the task of a "
                    "pool process that died, so it is not redelivered (celery docs, "
                    "task_reject_on_worker_lost)"
                )
        if c["redelivered"] and opts.get("reject_on_worker_lost"):
            notes.append(
                "task_reject_on_worker_lost requeued the killed process's task: it came back "
                "flagged redelivered (and would loop if the task itself killed its process)"
            )
        return notes

    def options(self, spec: Any) -> dict[str, Any]:
        conf = settings(spec)
        return {
            "celery_version": celery.__version__,
            "kombu_version": kombu.__version__,
            **conf,
            "pool": "prefork",
            "delivery_mode": 2,
            "confirm_publish": spec.confirms,
            "publish_retry_policy": publish_policy(spec),
        }
