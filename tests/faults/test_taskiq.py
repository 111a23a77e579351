"""taskiq's consumer side: a real `taskiq worker` (processes running tasks as coroutines).
It acks when --ack-type says; taskiq-aio-pika hands a task no redelivered flag, so what
comes back after a kill is seen as delivered again (a duplicate) or not at all (lost)."""

from typing import Any

from tests.faults.common import (
    ClusterContract,
    FaultContract,
    the_fault,
)

TASKS = {"producers": 4, "messages": 300, "rate": 100.0}  # 3 s of publishing
EARLY = {"stack_options": {"ack_type": "when_received"}}


class TestTaskiqFaults(FaultContract):
    stack = "taskiq"
    late_ack = {"stack_options": {"ack_type": "when_executed"}}  # noqa: RUF012
    early_ack = EARLY
    consumer_kill = "consumer-kill@2s"  # a taskiq worker takes about a second to start
    flags_redelivered = False
    # a worker runs up to 100 tasks at once (--max-async-tasks): at 2 ms each it kept up
    # with the 800 messages/s offered and held one or none when killed (seen in 1 of 6
    # runs: nothing in hand, nothing lost); at 200 ms it runs 500 a second, and a backlog
    # builds in its hands
    work_ms = 200.0

    def test_worker_kill_with_early_ack_loses_the_tasks_in_flight(self, run: Any) -> None:
        r = run(self.stack, confirms=True, faults=["worker-kill@1s"], work_ms=20, **EARLY, **TASKS)
        f = the_fault(r, "worker-kill")
        assert f["held"], "the worker process was running a task"
        assert set(f["held"]) <= set(r["anomalies"]["lost"]), "what it ran is lost"
        assert any("when_received" in note for note in r["notes"])

    def test_worker_kill_with_ack_when_saved_loses_nothing(self, run: Any) -> None:
        r = run(self.stack, confirms=True, faults=["worker-kill@1s"], work_ms=20, **TASKS)
        f = the_fault(r, "worker-kill")
        assert f["held"] and f["up_s"] is not None, "taskiq started another worker process"
        assert r["counts"]["lost"] == 0 and r["counts"]["unique"] == 1200

    def test_a_retry_delivers_what_failed_once(self, run: Any) -> None:
        r = run(
            self.stack,
            producers=2,
            messages=20,
            confirms=True,
            stack_options={"task_fails": 1, "retry_count": 3},
        )
        assert r["counts"]["lost"] == 0 and r["counts"]["unique"] == 40

    def test_exhausted_retries_are_dropped_and_counted_lost(self, run: Any) -> None:
        r = run(
            self.stack,
            producers=2,
            messages=20,
            confirms=True,
            stack_options={"task_fails": 3, "retry_count": 3},
        )
        assert r["counts"]["acknowledged"] == 40 and r["counts"]["lost"] == 40
        assert any("SimpleRetryMiddleware" in note for note in r["notes"])


class TestTaskiqCluster(ClusterContract):
    stack = "taskiq"
