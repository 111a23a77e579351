"""Stack-neutral fault contract: with publisher confirms and late acks, no fault may make
an acknowledged message disappear; each fault is journaled with when it really ran."""

from __future__ import annotations

from typing import Any

import pytest

SIZE = {"producers": 4, "messages": 1500}


def assert_no_loss(r: dict[str, Any], kind: str) -> None:
    c = r["counts"]
    assert c["lost"] == 0, r["anomalies"]["lost"]
    assert c["unexpected"] == 0
    assert c["acknowledged"] == c["attempted"] == 6000, r["errors"]
    assert [f["kind"] for f in r["faults"]] == [kind]
    assert r["faults"][0]["end_s"] >= r["faults"][0]["begin_s"] >= 0
    assert r["fault_errors"] == []


@pytest.mark.broker
@pytest.mark.faults
def with_work(ack: dict[str, Any], work_ms: float) -> dict[str, Any]:
    """Spec fields: an ack policy plus simulated consumer work."""
    opts = {**ack.get("stack_options", {}), "consumer_work_ms": work_ms}
    return {**ack, "stack_options": opts}


class FaultContract:
    stack: str
    # how this stack's consumer acks after processing, and before it (spec fields)
    late_ack: dict[str, Any] = {"ack": "after"}  # noqa: RUF012 - read-only class data
    early_ack: dict[str, Any] = {"ack": "auto"}  # noqa: RUF012
    consumer_kill = "consumer-kill@0.5s"  # late enough that the consumer is consuming

    def test_restart_with_confirms_loses_nothing(self, run: Any) -> None:
        r = run(self.stack, confirms=True, faults=["restart@0.5s:1s"], **SIZE)
        assert_no_loss(r, "restart")
        assert r["errors"], "the producers saw the restart"
        assert r["faults"][0]["end_s"] - r["faults"][0]["begin_s"] >= 1.0

    def test_kill_with_confirms_loses_nothing(self, run: Any) -> None:
        r = run(self.stack, confirms=True, faults=["kill@0.5s:0.5s"], **SIZE)
        assert_no_loss(r, "kill")
        assert r["errors"]

    def test_drop_with_confirms_loses_nothing(self, run: Any) -> None:
        r = run(self.stack, confirms=True, faults=["drop@0.5s"], **SIZE)
        assert_no_loss(r, "drop")

    def test_consumer_kill_with_late_acks_loses_nothing(self, run: Any) -> None:
        r = run(
            self.stack,
            confirms=True,
            faults=[self.consumer_kill],
            **with_work(self.late_ack, 0.5),
            **SIZE,
        )
        assert_no_loss(r, "consumer-kill")
        assert r["consumer_starts"] == 2
        # the killed consumer's unacked messages came back, flagged as redelivered
        assert r["counts"]["redelivered"] >= 1

    def test_consumer_kill_with_early_acks_loses_what_was_in_hand(self, run: Any) -> None:
        # auto ack: the broker forgets a message when it sends it; the consumer dies with
        # a prefetch's worth in hand. Loss here is the point, and it is counted as such.
        r = run(
            self.stack,
            confirms=True,
            prefetch=200,
            faults=[self.consumer_kill],
            **with_work(self.early_ack, 2),
            **SIZE,
        )
        assert r["counts"]["lost"] >= 1
        assert not r["verdict"]["valid"]

    def test_faults_run_in_order_even_after_the_producers_finished(self, run: Any) -> None:
        r = run(
            self.stack,
            producers=1,
            messages=20,
            confirms=True,
            faults=["drop@0.2s", "drop@1.5s", "restart@1.6s:0.5s"],
        )
        kinds = [f["kind"] for f in r["faults"]]
        assert kinds == ["drop", "drop", "restart"]
        begins = [f["begin_s"] for f in r["faults"]]
        assert begins == sorted(begins) and begins[1] >= 1.5
        assert begins[2] >= r["faults"][1]["end_s"]  # the third waited for the second
        assert r["counts"]["lost"] == 0
