"""celery's consumer side: a real prefork worker, its pool processes SIGKILLed mid-task."""

from typing import Any

from tests.faults.common import FaultContract

TASKS = {"producers": 4, "messages": 150}


def kill_twice(run: Any, **celery: Any) -> dict[str, Any]:
    return run(
        "celery",
        faults=["worker-kill@1s", "worker-kill@2s"],
        stack_options={"consumer_work_ms": 20, **celery},
        **TASKS,
    )


class TestCeleryFaults(FaultContract):
    stack = "celery"
    late_ack = {"stack_options": {"acks_late": True}}  # noqa: RUF012
    consumer_kill = "consumer-kill@2s"  # a celery worker takes about a second to start

    def test_consumer_kill_with_early_acks_loses_what_was_in_hand(self, run: Any) -> None:
        # celery acks early when a pool process takes the task, not at prefetch: only the
        # running tasks are in hand, so tasks must be long enough to be caught running
        r = run(
            "celery",
            faults=["consumer-kill@2s"],
            stack_options={"consumer_work_ms": 50, "acks_late": False},
            **TASKS,
        )
        assert r["counts"]["lost"] >= 1
        assert r["counts"]["redelivered"] >= 1, "the prefetched, unstarted tasks came back"

    def test_early_ack_loses_the_task_in_flight(self, run: Any) -> None:
        r = kill_twice(run, acks_late=False)
        assert r["counts"]["lost"] >= 1
        assert any("early ack" in note for note in r["notes"])

    def test_acks_late_alone_still_acks_a_killed_task(self, run: Any) -> None:
        """What celery's documentation warns about, as it happens."""
        r = kill_twice(run, acks_late=True)
        assert r["counts"]["lost"] >= 1
        assert any("task_reject_on_worker_lost" in note for note in r["notes"])

    def test_acks_late_and_reject_on_worker_lost_lose_nothing(self, run: Any) -> None:
        r = kill_twice(run, acks_late=True, reject_on_worker_lost=True)
        assert r["counts"]["lost"] == 0
        assert r["counts"]["unique"] == 600
        assert r["counts"]["redelivered"] >= 1

    def test_worker_crash_with_acks_late_loses_nothing(self, run: Any) -> None:
        r = run(
            "celery",
            confirms=True,
            faults=["worker-crash@1s"],
            stack_options={"consumer_work_ms": 5, "acks_late": True},
            **TASKS,
        )
        assert r["counts"]["lost"] == 0
        assert r["consumer_starts"] == 2
