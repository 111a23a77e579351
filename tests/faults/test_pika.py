from typing import Any

from tests.faults.common import (
    PACED,
    ClusterContract,
    FaultContract,
    WindowFaultContract,
    the_fault,
)


class TestPikaFaults(FaultContract, WindowFaultContract):
    stack = "pika"
    window_mode = "asyncio-adapter"

    def test_kill_without_confirms_loses_acknowledged_messages(self, run: Any) -> None:
        """The write-up's claim, on a crash: without confirms 'sent' means nothing."""
        r = run(self.stack, confirms=False, faults=["kill@1s:0.5s"], **PACED)
        the_fault(r, "kill")
        assert r["counts"]["lost"] > 0
        assert not r["verdict"]["valid"]


class TestPikaCluster(ClusterContract):
    stack = "pika"
