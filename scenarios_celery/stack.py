"""celery: producer threads call apply_async on the run's task; the consumer side is a real
`celery worker -P prefork` process, whose ack policy decides what a crash costs."""

from __future__ import annotations

from typing import Any

from mqcompare.result import STALLED_S, RunResult
from mqcompare.stacks import Mode, Stack, StackOption, mode_table
from shared_clients.kombu_redis_notes import redis_notes
from shared_clients.pyamqp import TCP_USER_TIMEOUT, blocked_loss


class CeleryStack(Stack):
    name = "celery"
    protocols = ("amqp", "redis")
    library = "celery"
    libraries = ("celery", "kombu")
    transport_libraries = {"amqp": ("amqp",), "redis": ("redis",)}  # noqa: RUF012
    default_mode = "shared-app"
    blocked_publish = (
        "apply_async has no deadline of its own on a blocked connection (celery issue 2689; "
        "users ask for a blocked-connection timeout, celery issue 10386): with "
        "confirm_publish it waits up to kombu's confirm_timeout (10 s as mqcompare "
        "publishes); without it apply_async "
        "returns while the socket's buffers take the bytes, until the connection's "
        "TCP_USER_TIMEOUT drops it (py-amqp's 1 s; --tcp-user-timeout-ms 0: never)"
    )
    modes = mode_table(
        Mode("shared-app", "apply_async through the app's own producer pool", "shared_app"),
        Mode(
            "producer-per-thread",
            "each thread holds its own producer from the app's pool",
            "producer_per_thread",
        ),
    )
    faults = ("worker-kill", "worker-crash")
    worker = True
    options = (
        StackOption(
            "acks_late",
            "--acks-late/--no-acks-late",
            "ack after the task returns (celery's own default is early: on receipt)",
            True,
        ),
        StackOption(
            "reject_on_worker_lost",
            "--reject-on-worker-lost/--no-reject-on-worker-lost",
            "requeue the task of a killed pool process (task_reject_on_worker_lost)",
            False,
        ),
        StackOption("concurrency", "--concurrency", "worker pool processes", 2),
        StackOption(
            "publish_retry",
            "--publish-retry",
            "same (the retry budget every stack gets) or celery-default (about 0.6 s)",
            "same",
            choices=("same", "celery-default"),
        ),
        TCP_USER_TIMEOUT,
    )

    def explain(self, result: RunResult) -> list[str]:
        """Why celery lost or duplicated what it did, in the words of its documentation."""
        opts = result["spec"].get("stack_options", {})
        acks_late = self.option(opts, "acks_late")
        reject = self.option(opts, "reject_on_worker_lost")
        kinds = {f["kind"] for f in result.get("faults", [])}
        c, notes = result["counts"], blocked_loss(result)
        poison = result.get("poison")
        poisoned = poison["lost"] if poison is not None else 0
        if c["lost"] and (kinds & {"worker-kill", "worker-crash"} or poisoned):
            if not acks_late:
                notes.append(
                    "early ack (celery's default): a task is acked when it is received, "
                    "before it runs, so the tasks the killed process held were gone"
                )
            elif not reject:
                notes.append(
                    "acks_late without task_reject_on_worker_lost: celery acks the task of a "
                    "pool process that died, so it is not redelivered (celery docs, "
                    "task_reject_on_worker_lost)"
                )
        drain = result.get("drain") or {}
        broker_faults = kinds & {"restart", "kill", "pause", "drop"}
        stuck = drain.get("complete") is False and drain.get("left_in_queue")
        if broker_faults and stuck and drain.get("idle_s", STALLED_S) >= STALLED_S:
            notes.append(stuck_after(result["spec"].get("broker_protocol")))
        if c["redelivered"] and reject:
            notes.append(
                "task_reject_on_worker_lost requeued the killed process's task: it came back "
                "flagged redelivered (and would loop if the task itself killed its process)"
            )
        return notes + redis_notes(result, "a worker")

    def holds_until_journaled(self, spec: Any) -> bool:
        # acks_late: the task journals, returns, and only then is its message acked; an
        # early ack lets the worker's prefetched tasks go before they run
        return bool(self.option(spec.stack_options, "acks_late"))

    def ack_policy(self, spec: dict[str, Any]) -> str:
        opts = spec.get("stack_options") or {}
        policy = "acks_late" if self.option(opts, "acks_late") else "early ack"
        if self.option(opts, "reject_on_worker_lost"):
            policy += " + reject_on_worker_lost"
        return policy


def stuck_after(protocol: str | None) -> str:
    """A worker that reconnected and took nothing more, in its users' reports."""
    if protocol == "redis":
        why = (
            "after Redis came back (celery issues 8030, 9054 and 10205), or one whose kombu "
            "failed to restore its unacked tasks on the closed connection, logged an "
            "'Unrecoverable error' and began a warm shutdown (kombu issue 970): its log "
            "says which"
        )
    else:
        why = (
            "after a RabbitMQ restart: its acks failed ('connection already closed') "
            "(celery issue 4671, kombu issue 901)"
        )
    return (
        f"the worker stopped consuming when the broker went away and did not resume before "
        f"the drain gave up: a worker stuck {why}"
    )
