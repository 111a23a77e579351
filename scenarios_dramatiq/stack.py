"""dramatiq: producer threads call `actor.send` on the run's actor; the consumer side is a
real `dramatiq` worker (processes of threads), which acks a message after its actor
returns, retries a task that raised, and dead-letters one whose retries are spent."""

from __future__ import annotations

from typing import Any

from mqcompare.result import RunResult
from mqcompare.stacks import Mode, Stack, StackOption, mode_table

MAX_RETRIES = StackOption(
    "max_retries",
    "--max-retries",
    "dramatiq retries of a task that raised (0: dead-lettered at once)",
    20,
    minimum=0,
)
TASK_FAILS = StackOption(
    "task_fails",
    "--task-fails",
    "the task raises on its first N tries of every message (to exercise retries)",
    0,
    minimum=0,
)


class DramatiqStack(Stack):
    name = "dramatiq"
    protocols = ("amqp", "redis")
    library = "dramatiq"
    libraries = ("dramatiq",)
    transport_libraries = {"amqp": ("pika",), "redis": ("redis",)}  # noqa: RUF012
    default_mode = "shared-broker"
    modes = mode_table(
        Mode(
            "shared-broker",
            "one RabbitmqBroker at module scope, as dramatiq's docs show; actor.send from "
            "every thread (dramatiq keeps a connection per thread)",
            "shared_broker",
        ),
        Mode(
            "broker-per-thread",
            "each producer thread builds its own RabbitmqBroker and actor",
            "broker_per_thread",
        ),
    )
    faults = ("worker-kill", "worker-crash")
    worker = True
    # dramatiq's main process forwards SIGTERM; a worker process that gets a second one
    # exits at once, dropping its connections
    stops_its_own_processes = True
    no_mandatory = "dramatiq's RabbitmqBroker.enqueue publishes without a mandatory flag"
    blocked_publish = (
        "actor.send publishes through pika with no blocked_connection_timeout (dramatiq "
        "RabbitmqBroker passes pika's parameters, whose default waits forever): with "
        "confirm_delivery it waits for the alarm to clear"
    )
    options = (
        StackOption("processes", "--processes", "dramatiq worker processes", 1),
        StackOption("threads", "--threads", "worker threads per dramatiq process", 2),
        MAX_RETRIES,
        TASK_FAILS,
    )

    def holds_until_journaled(self, spec: Any) -> bool:
        # dramatiq acks after the actor; a retry waits in the delay queue, held by the
        # worker unacknowledged where the drain does not look: only without retries
        return int(self.option(spec.stack_options, "task_fails")) == 0

    def ack_policy(self, spec: dict[str, Any]) -> str:
        opts = spec.get("stack_options", {})
        return f"ack after the actor, {self.option(opts, 'max_retries')} retries"

    def explain(self, result: RunResult) -> list[str]:
        """Why dramatiq lost or duplicated what it did, in the words of its documentation."""
        spec, c = result["spec"], result["counts"]
        opts = spec.get("stack_options", {})
        kinds = {f["kind"] for f in result.get("faults", [])}
        notes = []
        redis = spec.get("broker_protocol") == "redis"
        held = (result.get("drain") or {}).get("unacked")
        if redis and held:
            timeout = spec.get("visibility_timeout_s") or 60
            notes.append(
                f"{held} messages were still in the ack sets of dead workers when the run "
                f"stopped waiting: dramatiq's Redis broker puts them back only during "
                f"maintenance, which about 1 in 1,000 of its commands runs "
                f"(maintenance_chance), once the worker's last heartbeat is older than "
                f"heartbeat_timeout ({timeout:g} s here) (dramatiq/brokers/redis.py; dramatiq "
                f"issues 527, 692)"
            )
        if c.get("lost") and not spec.get("confirms") and kinds and not redis:
            notes.append(
                "dramatiq publishes without publisher confirms unless the broker is made with "
                "confirm_delivery=True (dramatiq RabbitmqBroker docs)"
            )
        if c.get("lost") and self.option(opts, "task_fails") > self.option(opts, "max_retries"):
            notes.append(
                "a message whose retries are exhausted is moved to the dead letter queue "
                f"({spec.get('queue', 'Q')}.XQ) and kept there for 7 days, not run again "
                "(dramatiq docs, Retries / dead letters): counted lost here"
            )
        if result.get("poison"):
            notes.append(
                "a task that kills its worker process takes the whole dramatiq worker down: its "
                "main process shuts every other process down when one dies unexpectedly "
                "(dramatiq/cli.py, 'exited unexpectedly ... Shutting down'); mqcompare starts it "
                "again, and what the worker had prefetched is delivered again"
            )
        if c.get("duplicated") or c.get("redelivered"):
            if kinds & {"worker-kill", "worker-crash"}:
                notes.append(
                    "dramatiq acks a message only after its actor returns, so the tasks of a "
                    "killed worker are redelivered: at-least-once delivery (dramatiq docs, "
                    "Guides; dramatiq issue 46)"
                )
            elif kinds & {"restart", "kill", "drop"}:
                notes.append(
                    "an ack that fails after the worker's connection was lost leaves the "
                    "message unacked; the broker redelivers it (dramatiq PR 415)"
                )
        return notes
