"""The run's dramatiq broker and actor, the same in the producer process and the worker.

The broker is dramatiq's RabbitmqBroker, as its docs set one up at module scope; two
things are the run's own: the queue is declared with the run's queue arguments too (a
quorum queue), and retries back off for RETRY_BACKOFF_MS instead of dramatiq's 15 s, so
that a task that fails is retried (or dead-lettered) within a run."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, Middleware, Retries

from mqcompare.consumer_state import BusyMarker, mark_ready
from mqcompare.journal import JournalWriter
from scenarios_dramatiq.connect import broker_url
from scenarios_dramatiq.stack import MAX_RETRIES, TASK_FAILS

ACTOR = "mqcompare_task"
RETRY_BACKOFF_MS = 100


class RunBroker(RabbitmqBroker):
    """RabbitmqBroker declaring the run's queue with the run's arguments as well."""

    def __init__(self, url: str, confirms: bool, arguments: dict[str, Any]) -> None:
        super().__init__(url=broker_url(url), confirm_delivery=confirms)
        self.run_arguments = arguments

    def _build_queue_arguments(self, queue_name: str) -> dict[str, Any]:
        arguments: dict[str, Any] = super()._build_queue_arguments(queue_name)
        return {**arguments, **self.run_arguments}


class RunRedisBroker(RedisBroker):
    """dramatiq's RedisBroker; a run's visibility timeout is its heartbeat timeout: how
    long a worker may stay silent before its unacknowledged messages go back to the
    queue (on the maintenance that a fraction of commands runs: dramatiq/brokers/redis.py)."""

    def __init__(self, url: str, visibility_timeout_s: float) -> None:
        timeout = (
            {"heartbeat_timeout": int(visibility_timeout_s * 1000)} if visibility_timeout_s else {}
        )
        super().__init__(url=url, **timeout)


def run_broker(spec: Any, url: str) -> Any:
    """The run's dramatiq broker for the broker at `url`: RabbitMQ's or Redis's."""
    if url.startswith(("redis://", "rediss://")):
        return RunRedisBroker(url, spec.visibility_timeout_s)
    return RunBroker(url, spec.confirms, dict(spec.queue_arguments))


def settings(spec: Any) -> dict[str, Any]:
    return {
        "confirm_delivery": spec.confirms,
        "max_retries": MAX_RETRIES.value(spec.stack_options),
        "min_backoff_ms": RETRY_BACKOFF_MS,
        "task_fails": TASK_FAILS.value(spec.stack_options),
    }


class Journaling:
    """What the worker's actor does for one delivery: mark it busy, work, journal it.
    One journal per worker process (its threads share it), opened in that process."""

    def __init__(self, spec: Any, journal_dir: Path) -> None:
        self.spec, self.journal_dir = spec, journal_dir
        self.work_s = spec.work_ms / 1000.0
        self.fails = TASK_FAILS.value(spec.stack_options)
        self.busy = BusyMarker()
        self.poison = frozenset(spec.poison_ids)
        self.journals: dict[int, JournalWriter] = {}
        self.lock = threading.Lock()

    def journal(self) -> JournalWriter:
        pid = os.getpid()
        with self.lock:
            if pid not in self.journals:
                self.journals[pid] = JournalWriter(
                    self.journal_dir / f"worker-{pid}.jsonl", "consumer", self.spec.run_id
                )
            return self.journals[pid]

    def __call__(self, p: int, s: int, sent: float) -> None:
        message = CurrentMessage.get_current_message()
        retries = int(message.options.get("retries", 0)) if message is not None else 0
        self.busy.working(p, s)
        if (p, s) in self.poison:  # it kills the process running it, every time
            redelivered = bool(getattr(message, "redelivered", False))
            self.journal().reject(p, s, redelivered, None)
            os.kill(os.getpid(), signal.SIGKILL)
        if self.work_s:
            time.sleep(self.work_s)
        if retries < self.fails:  # the task's own failure, as an exception in user code
            self.busy.idle()
            raise RuntimeError(f"task {p}:{s} fails on try {retries + 1} (task_fails)")
        redelivered = bool(getattr(message, "redelivered", False))
        self.journal().deliver(p, s, sent, redelivered or retries > 0)
        self.busy.idle()


# how long an idle worker or consumer thread waits before it looks again (dramatiq's
# worker_timeout, 1000 ms by default): a stop waits for each thread to look, twice, so a
# worker took 3 s to stop (1.5 s now). Messages and acks do not wait for it (a message
# wakes its thread; an ack is a threadsafe callback); a retry that is due waits up to this
# long to be queued again.
WORKER_TIMEOUT_MS = 100


class Ready(Middleware):
    """Sets the worker's threads' timeout before they start; says the worker consumes once
    a worker process has booted."""

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        worker.worker_timeout = WORKER_TIMEOUT_MS

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        mark_ready()


def make(spec: Any, url: str, journal_dir: Path | None = None) -> tuple[Any, Any]:
    """The run's broker and its actor; with `journal_dir`, the worker's (it journals)."""
    broker = run_broker(spec, url)
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            middleware.min_backoff = RETRY_BACKOFF_MS
            middleware.max_backoff = RETRY_BACKOFF_MS * 10
    broker.add_middleware(CurrentMessage())
    if journal_dir is not None:
        broker.add_middleware(Ready())
    fn = Journaling(spec, journal_dir) if journal_dir is not None else _never_run
    actor = dramatiq.actor(
        actor_name=ACTOR,
        queue_name=spec.queue,
        max_retries=MAX_RETRIES.value(spec.stack_options),
        broker=broker,
    )(fn)
    return broker, actor


def _never_run(p: int, s: int, sent: float) -> None:
    raise AssertionError("producers only send")
