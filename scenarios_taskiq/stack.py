"""taskiq (with taskiq-aio-pika): producer tasks `await task.kiq(...)` on an AioPikaBroker
started once, as taskiq's docs do; the consumer side is a real `taskiq worker` process
(worker processes running the tasks as coroutines), which acknowledges a message when
its `--ack-type` says: when received, when executed, or when its result is saved
(taskiq's default)."""

from __future__ import annotations

from typing import Any

from mqcompare.result import RunResult
from mqcompare.stacks import Mode, Stack, StackOption, mode_table

ACK_TYPE = StackOption(
    "ack_type",
    "--ack-type",
    "when taskiq's worker acks a message (taskiq worker --ack-type)",
    "when_saved",
    choices=("when_received", "when_executed", "when_saved"),
)
WORKERS = StackOption("workers", "--workers", "taskiq worker processes", 1)
RETRY_COUNT = StackOption(
    "retry_count",
    "--retry-count",
    "taskiq's SimpleRetryMiddleware: tries of a task that raised (taskiq's default 3)",
    3,
)
TASK_FAILS = StackOption(
    "task_fails",
    "--task-fails",
    "the task raises on its first N tries of every message (to exercise retries)",
    0,
    minimum=0,
)


class TaskiqStack(Stack):
    name = "taskiq"
    library = "taskiq"
    libraries = ("taskiq", "taskiq-aio-pika", "aio-pika", "aiormq")
    default_mode = "shared-broker"
    modes = mode_table(
        Mode(
            "shared-broker",
            "one AioPikaBroker started before the producers, every producer task awaits "
            "task.kiq() on it (taskiq's docs)",
            "shared_broker",
            tasks=True,
        ),
    )
    faults = ("worker-kill", "worker-crash")
    worker = True
    # taskiq's main process stops its worker processes on SIGTERM (shutdown_timeout 5 s)
    stops_its_own_processes = True
    no_mandatory = "taskiq-aio-pika's kick publishes without a mandatory flag"
    blocked_publish = (
        "kiq awaits aio-pika's Exchange.publish, which waits without a deadline (aio-pika "
        "docs: timeout=None); taskiq-aio-pika's write channel always has publisher confirms"
    )
    options = (ACK_TYPE, WORKERS, RETRY_COUNT, TASK_FAILS)

    def holds_until_journaled(self, spec: Any) -> bool:
        # when_received acks before the task runs; a retry is a new message sent by the
        # worker: only an ack after the task, without retries
        opts = spec.stack_options
        return self.option(opts, "ack_type") != "when_received" and not int(
            self.option(opts, "task_fails")
        )

    def ack_policy(self, spec: dict[str, Any]) -> str:
        opts = spec.get("stack_options", {})
        return f"ack {self.option(opts, 'ack_type').replace('_', ' ')}"

    def explain(self, result: RunResult) -> list[str]:
        spec, c = result["spec"], result["counts"]
        opts = spec.get("stack_options", {})
        kinds = {f["kind"] for f in result.get("faults", [])}
        notes = []
        killed = kinds & {"worker-kill", "worker-crash", "consumer-kill"}
        if c.get("lost") and killed and self.option(opts, "ack_type") == "when_received":
            notes.append(
                "with --ack-type when_received taskiq acks a message before it runs the "
                "task: the tasks a killed worker was running are gone (taskiq docs, "
                "worker --ack-type)"
            )
        if c.get("lost") and self.option(opts, "task_fails") >= self.option(opts, "retry_count"):
            notes.append(
                "a task that still raises after SimpleRetryMiddleware's last try is acked and "
                "dropped (taskiq-aio-pika's messages have no reject): counted lost here"
            )
        if (c.get("duplicated") or c.get("redelivered")) and kinds:
            notes.append(
                "taskiq acks after the task (when_executed, when_saved): the tasks of a "
                "killed worker or a lost connection are delivered again, at least once"
            )
        return notes
