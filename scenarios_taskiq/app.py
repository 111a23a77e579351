"""The run's taskiq broker and task, the same in the producer process and the worker.

The broker is taskiq-aio-pika's AioPikaBroker with one task queue: the run's, declared as
taskiq declares it (bound to taskiq's exchange, its dead-letter arguments pointing at
Q.dead_letter) with the run's queue type and arguments. Two things are the run's own:
without --confirms the write channel is opened without publisher confirms (taskiq-aio-pika
always asks for them), and retries go through SimpleRetryMiddleware with the run's count."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from taskiq import Context, SimpleRetryMiddleware, TaskiqDepends, TaskiqEvents
from taskiq_aio_pika import AioPikaBroker, Queue, QueueType

from mqcompare.consumer_state import BusyMarker, mark_ready
from mqcompare.journal import JournalWriter
from scenarios_taskiq.connect import broker_url
from scenarios_taskiq.stack import RETRY_COUNT, TASK_FAILS

TASK = "mqcompare_task"
PREFETCH = 10  # taskiq-aio-pika's own qos, when the run does not set --prefetch
CONTEXT: Any = TaskiqDepends()  # taskiq passes the task its Context (the message's labels)


def dead_letter_name(queue: str) -> str:
    return f"{queue}.dead_letter"


def queues(queue: str, arguments: dict[str, Any]) -> tuple[Queue, Queue]:
    """The run's queue and its dead-letter queue, as taskiq-aio-pika declares them."""
    kind = QueueType.QUORUM if arguments.get("x-queue-type") == "quorum" else QueueType.CLASSIC
    return (
        Queue(name=queue, type=kind, arguments=dict(arguments)),
        Queue(name=dead_letter_name(queue), type=kind),
    )


class RunBroker(AioPikaBroker):
    def __init__(self, url: str, queue: str, arguments: dict[str, Any], **kwargs: Any) -> None:
        self.confirms = bool(kwargs.pop("confirms", True))
        task_queue, dead_letters = queues(queue, arguments)
        super().__init__(
            url=broker_url(url),
            task_queues=[task_queue],
            dead_letter_queue=dead_letters,
            **kwargs,
        )

    async def startup(self) -> None:
        await super().startup()
        if not self.confirms and self.write_conn is not None:
            self.write_channel = await self.write_conn.channel(publisher_confirms=False)


class Journaling:
    """What the worker's task does for one delivery: mark it busy, work, journal it. One
    journal per worker process, opened in that process."""

    def __init__(self, spec: Any, journal_dir: Path) -> None:
        self.spec, self.journal_dir = spec, journal_dir
        self.work_s = spec.work_ms / 1000.0
        self.fails = TASK_FAILS.value(spec.stack_options)
        self.busy = BusyMarker()
        self.journals: dict[int, JournalWriter] = {}

    def journal(self) -> JournalWriter:
        pid = os.getpid()
        if pid not in self.journals:
            self.journals[pid] = JournalWriter(
                self.journal_dir / f"worker-{pid}.jsonl", "consumer", self.spec.run_id
            )
        return self.journals[pid]

    async def __call__(self, p: int, s: int, sent: float, retries: int) -> None:
        self.busy.working(p, s)
        if self.work_s:
            await asyncio.sleep(self.work_s)
        if retries < self.fails:  # the task's own failure, as an exception in user code
            self.busy.idle()
            raise RuntimeError(f"task {p}:{s} fails on try {retries + 1} (task_fails)")
        # taskiq-aio-pika hands the task no redelivered flag: a retry is the one it knows
        self.journal().deliver(p, s, sent, retries > 0)
        self.busy.idle()


def make(spec: Any, url: str, journal_dir: Path | None = None) -> tuple[RunBroker, Any]:
    """The run's broker and its task; with `journal_dir`, the worker's (it journals)."""
    broker = RunBroker(
        url,
        spec.queue,
        dict(spec.queue_arguments),
        confirms=spec.confirms,
        qos=spec.prefetch or PREFETCH,
    ).with_middlewares(
        SimpleRetryMiddleware(default_retry_count=RETRY_COUNT.value(spec.stack_options))
    )
    run = Journaling(spec, journal_dir) if journal_dir is not None else None

    async def mqcompare_task(p: int, s: int, sent: float, context: Context = CONTEXT) -> None:
        if run is None:
            raise AssertionError("producers only send")
        await run(p, s, sent, int(context.message.labels.get("_retries", 0)))

    task = broker.task(task_name=TASK, retry_on_error=True)(mqcompare_task)
    if journal_dir is not None:
        broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, _ready)
        broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, _stop_ticking)
    return broker, task


# taskiq's worker process sets its shutdown event from a plain signal handler, which does
# not wake its event loop: an idle worker noticed the stop only at its next timer or
# packet, 1-4 s later (measured: a stop took 4 s). A loop that wakes every TICK_S notices
# within that; it changes nothing a message meets.
TICK_S = 0.1
_ticker: list[asyncio.Task[None]] = []


async def _tick() -> None:
    while True:
        await asyncio.sleep(TICK_S)


async def _ready(_state: Any) -> None:
    _ticker.append(asyncio.get_running_loop().create_task(_tick()))
    mark_ready()


async def _stop_ticking(_state: Any) -> None:
    for task in _ticker:
        task.cancel()


def settings(spec: Any) -> dict[str, Any]:
    return {
        "publisher_confirms": spec.confirms,
        "retry_count": RETRY_COUNT.value(spec.stack_options),
        "task_fails": TASK_FAILS.value(spec.stack_options),
        "qos": spec.prefetch or PREFETCH,
    }
