"""celery's consumer side: a real prefork worker, its pool processes SIGKILLed mid-task.
A worker-kill strikes a pool process that is running a task (its busy file says which),
so the task a test expects lost is the one the fault names."""

from typing import Any

from tests.faults.common import (
    ClusterContract,
    FaultContract,
    ProtectionsContract,
    PyAmqpSocketContract,
    the_fault,
)

TASKS = {"producers": 4, "messages": 300}  # 1,200 tasks of 20 ms on 2 processes: 12 s
# worker-kill strikes a process its busy file shows running a task; a task that ends
# between that look and the kill makes the fault miss (seen in CI with 20 ms tasks, on a
# loaded machine): tasks of 100 ms leave a fifth of that chance
KILLED = {"producers": 4, "messages": 60}  # 240 tasks of 100 ms on 2 processes: 12 s


def kill_twice(run: Any, **celery: Any) -> dict[str, Any]:
    r = run(
        "celery",
        faults=["worker-kill@1s", "worker-kill@2s"],
        work_ms=100,
        stack_options={**celery},
        **KILLED,
    )
    assert [f["kind"] for f in r["faults"]] == ["worker-kill", "worker-kill"]
    for f in r["faults"]:
        assert f["hit"], f.get("why")
        assert len(f["held"]) == 1, "the pool process was running a task"
    # the first victim may still be listed, a zombie, when the second kill comes
    first, second = (f["pid"] for f in r["faults"])
    assert first != second, "the second kill struck the dead first victim again"
    return r


def struck_tasks(r: dict[str, Any]) -> set[str]:
    return {f["held"][0] for f in r["faults"]}


class TestCeleryFaults(FaultContract, ProtectionsContract, PyAmqpSocketContract):
    stack = "celery"
    late_ack = {"stack_options": {"acks_late": True}}  # noqa: RUF012
    consumer_kill = "consumer-kill@2s"  # a celery worker takes about a second to start

    def test_consumer_kill_with_early_acks_loses_what_was_in_hand(self, run: Any) -> None:
        # celery acks early when a pool process takes the task, not at prefetch: only the
        # running tasks are in hand, so tasks must be long enough to be caught running (with
        # 50 ms tasks, CI once killed the worker while both processes were between tasks)
        r = run(
            "celery",
            faults=["consumer-kill@2s"],
            work_ms=200,
            stack_options={"acks_late": False},
            producers=4,
            messages=25,  # 100 tasks of 200 ms on 2 processes: 10 s of work
        )
        f = the_fault(r, "consumer-kill")
        assert f.get("held"), f"the worker was killed between tasks: {f['struck']}"
        assert set(f["held"]) <= set(r["anomalies"]["lost"]), "what was running is lost"
        assert r["counts"]["redelivered"] >= 1, "the prefetched, unstarted tasks came back"

    def test_early_ack_loses_the_task_in_flight(self, run: Any) -> None:
        r = kill_twice(run, acks_late=False)
        assert struck_tasks(r) <= set(r["anomalies"]["lost"])
        assert any("early ack" in note for note in r["notes"])

    def test_acks_late_alone_still_acks_a_killed_task(self, run: Any) -> None:
        """What celery's documentation warns about, as it happens: the very tasks the
        killed processes were running are acked, and never delivered."""
        r = kill_twice(run, acks_late=True)
        assert struck_tasks(r) <= set(r["anomalies"]["lost"])
        assert any("task_reject_on_worker_lost" in note for note in r["notes"])

    def test_acks_late_and_reject_on_worker_lost_lose_nothing(self, run: Any) -> None:
        r = kill_twice(run, acks_late=True, reject_on_worker_lost=True)
        assert r["counts"]["lost"] == 0
        assert r["counts"]["unique"] == 240
        assert r["counts"]["redelivered"] >= 1

    def test_worker_crash_with_acks_late_loses_nothing(self, run: Any) -> None:
        r = run(
            "celery",
            confirms=True,
            faults=["worker-crash@1s"],
            work_ms=5,
            stack_options={"acks_late": True},
            **TASKS,
        )
        the_fault(r, "worker-crash")
        assert r["counts"]["lost"] == 0
        assert r["consumer_starts"] == 2


class TestCeleryCluster(ClusterContract):
    stack = "celery"
