from typing import Any

from tests.faults.common import PACED, ClusterContract, FaultContract, the_fault


class TestAioPikaFaults(FaultContract):
    stack = "aio-pika"

    def test_kill_with_a_confirm_window_loses_nothing(self, run: Any) -> None:
        """Up to 20 messages per producer await their confirms when the broker dies: each
        is journaled by its own outcome and published again, so none is lost."""
        r = run(
            self.stack,
            confirms=True,
            faults=["kill@1s:1s"],
            stack_options={"confirm_window": 20},
            **PACED,
        )
        the_fault(r, "kill")
        assert r["counts"]["lost"] == 0
        assert r["counts"]["unique"] == r["counts"]["acknowledged"]
        assert r["errors"], "the kill reached producers with confirms in flight"

    def test_robust_connection_reconnects_by_itself(self, run: Any) -> None:
        r = run(self.stack, mode="robust", confirms=True, faults=["restart@1s:1s"], **PACED)
        the_fault(r, "restart")
        assert r["counts"]["lost"] == 0
        assert r["counts"]["unique"] == r["counts"]["acknowledged"] == r["counts"]["attempted"]


class TestAioPikaCluster(ClusterContract):
    stack = "aio-pika"
