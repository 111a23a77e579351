from typing import Any

from tests.faults.common import (
    PACED,
    ClusterContract,
    FaultContract,
    ProtectionsContract,
    QueueDeleteContract,
    WindowFaultContract,
    assert_no_loss,
    the_fault,
)


class TestAioPikaFaults(
    FaultContract, WindowFaultContract, ProtectionsContract, QueueDeleteContract
):
    stack = "aio-pika"
    window_mode = "channel-per-producer"

    def test_robust_connection_reconnects_by_itself(self, run: Any) -> None:
        r = run(self.stack, mode="robust", confirms=True, faults=["restart@1s:1s"], **PACED)
        the_fault(r, "restart")
        assert_no_loss(r)


class TestAioPikaCluster(ClusterContract):
    stack = "aio-pika"
