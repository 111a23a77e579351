"""dramatiq's consumer side: a real worker (processes of threads). It acks a message only
after its actor returns; when one of its processes dies, the whole worker shuts down."""

from typing import Any

from tests.faults.common import (
    PACED,
    ClusterContract,
    FaultContract,
    ProtectionsContract,
    assert_no_loss,
    the_fault,
)

TASKS = {"producers": 4, "messages": 300}  # 1,200 tasks of 20 ms on 2 threads: about 12 s


class TestDramatiqFaults(FaultContract, ProtectionsContract):
    stack = "dramatiq"
    late_ack = {}  # noqa: RUF012 - dramatiq's only policy: ack after the actor
    consumer_kill = "consumer-kill@2s"  # a dramatiq worker takes about a second to start

    no_early_ack = "dramatiq acks after the actor returns, and has no early-ack option"

    def test_consumer_kill_loses_nothing_a_killed_worker_held(self, run: Any) -> None:
        """With no early ack, what a killed worker held, even a prefetch of 200, comes
        back."""
        r = run(
            self.stack,
            confirms=True,
            prefetch=200,
            faults=[self.consumer_kill],
            work_ms=self.work_ms,
            **PACED,
        )
        the_fault(r, "consumer-kill")
        assert_no_loss(r)
        assert r["counts"]["redelivered"] >= 1

    def test_worker_kill_ends_the_worker_and_loses_nothing(self, run: Any) -> None:
        r = run(
            self.stack,
            confirms=True,
            faults=["worker-kill@1s"],
            work_ms=20,
            **TASKS,
        )
        f = the_fault(r, "worker-kill")
        assert len(f["held"]) == 1, "the worker process was running a task"
        assert r["counts"]["lost"] == 0
        assert r["counts"]["unique"] == 1200
        assert r["counts"]["redelivered"] >= 1
        assert r["consumer_starts"] == 2, "dramatiq ended the worker; the run started another"

    def test_exhausted_retries_are_dead_lettered_and_counted_lost(self, run: Any) -> None:
        r = run(
            self.stack,
            producers=2,
            messages=20,
            confirms=True,
            stack_options={"task_fails": 1, "max_retries": 0},
        )
        assert r["counts"]["acknowledged"] == 40
        assert r["counts"]["lost"] == 40
        assert any("dead letter" in note for note in r["notes"])

    def test_a_retry_delivers_what_failed_once(self, run: Any) -> None:
        r = run(
            self.stack,
            producers=2,
            messages=20,
            confirms=True,
            stack_options={"task_fails": 1, "max_retries": 1},
        )
        assert r["counts"]["lost"] == 0 and r["counts"]["unique"] == 40
        assert r["counts"]["redelivered"] == 40


class TestDramatiqCluster(ClusterContract):
    stack = "dramatiq"
