"""The run's Celery app, built the same way in the producer process and in the worker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from celery import Celery, signals
from kombu import Exchange, Queue

from mqcompare.consumer_state import BusyMarker
from mqcompare.journal import JournalWriter
from mqcompare.spec import RunSpec
from scenarios_celery.connect import publish_policy
from scenarios_celery.stack import CeleryStack
from shared_clients.kombu_client import transport_options

TASK = "mqcompare.record"


def app_settings(spec: Any) -> dict[str, Any]:
    """The celery options a spec implies, defaults resolved (also what the result records)."""
    opts = spec.stack_options
    conf = {o.key: CeleryStack().option(opts, o.key) for o in CeleryStack.options}
    concurrency = conf["concurrency"]
    return {
        **conf,
        # the same number of unacked messages in hand as every stack's consumer
        "prefetch_multiplier": max(1, spec.prefetch // concurrency) if spec.prefetch else 0,
        "work_ms": float(spec.work_ms),
        "publish_retry_policy": publish_policy(conf["publish_retry"], spec.retry_budget_s),
    }


def app_for_run(run_dir: Path, url: str, journal_deliveries: bool = True) -> Celery:
    """The app of the run in `run_dir`, as a worker process builds it."""
    return make_app(RunSpec.load(run_dir), url, run_dir / "journal", journal_deliveries)


def make_app(
    spec: Any, url: str, journal_dir: Path | None = None, journal_deliveries: bool = True
) -> Celery:
    """The run's app; `journal_deliveries=False` only for the benchmark's bare side."""
    conf = app_settings(spec)
    app = Celery("mqcompare", set_as_current=False)
    app.conf.update(
        broker_url=url,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(spec),
        # the same durable queue on the default exchange as every stack
        task_queues=[
            Queue(
                spec.queue,
                Exchange(""),
                routing_key=spec.queue,
                durable=True,
                auto_delete=False,
                queue_arguments=spec.queue_arguments or None,
            )
        ],
        task_default_queue=spec.queue,
        task_acks_late=conf["acks_late"],
        task_reject_on_worker_lost=conf["reject_on_worker_lost"],
        worker_prefetch_multiplier=conf["prefetch_multiplier"],
        task_publish_retry=True,
        task_publish_retry_policy=conf["publish_retry_policy"],
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
    )
    _register_task(app, spec, conf["work_ms"] / 1000.0, journal_dir, journal_deliveries)
    return app


def _register_task(
    app: Celery, spec: Any, work_s: float, journal_dir: Path | None, journal_deliveries: bool
) -> None:
    """The run's task: simulated work, then the `deliver` record (before the ack with
    acks_late), journaled by each pool process into a journal of its own."""
    journals: dict[int, JournalWriter] = {}
    busy = BusyMarker()  # which task each pool process runs (for worker-kill)
    poison = frozenset(spec.poison_ids)

    def journal() -> JournalWriter:
        # one journal per worker child process, opened in that process
        pid = os.getpid()
        if pid not in journals:
            assert journal_dir is not None, "tasks run only in the worker"
            journals[pid] = JournalWriter(
                journal_dir / f"worker-{pid}.jsonl", "consumer", spec.run_id
            )
        return journals[pid]

    @app.task(bind=True, name=TASK)
    def record(self: Any, p: int, s: int, sent: float) -> None:
        busy.working(p, s)
        if (p, s) in poison:  # it kills the pool process running it, every time
            redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
            journal().reject(p, s, redelivered, None)
            os.kill(os.getpid(), signal.SIGKILL)
        if work_s:
            time.sleep(work_s)
        if journal_deliveries:
            redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
            journal().deliver(p, s, sent, redelivered)
        busy.idle()

    if journal_dir is not None and journal_deliveries:
        signals.worker_process_init.connect(lambda **_: journal(), weak=False)
