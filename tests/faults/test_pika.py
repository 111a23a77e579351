from typing import Any

from tests.faults.common import (
    CLUSTER_PACED,
    PACED,
    ClusterContract,
    FaultContract,
    ProtectionsContract,
    QueueDeleteContract,
    WindowFaultContract,
    the_fault,
)


class TestPikaFaults(FaultContract, WindowFaultContract, ProtectionsContract, QueueDeleteContract):
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

    def test_alarm_on_the_leader_blocks_the_publishers_of_every_node(
        self, cluster_run: Any
    ) -> None:
        """Producers are spread over the three nodes; one node's alarm blocks them all."""
        r = cluster_run(
            self.stack, queue_type="quorum", confirms=True, faults=["alarm@1.5s:2s"],
            **CLUSTER_PACED,
        )  # fmt: skip
        f = the_fault(r, "alarm")
        assert f["node"] == r["spec"]["queue_seen"]["leader"]
        assert f["blocked"]["publish"] == "hung", f["blocked"]
        assert r["counts"]["lost"] == 0

    def test_queue_delete_on_a_cluster(self, cluster_run: Any) -> None:
        r = cluster_run(
            self.stack, queue_type="quorum", confirms=True, mandatory=True,
            faults=["queue-delete@1.5s"], **CLUSTER_PACED,
        )  # fmt: skip
        f = the_fault(r, "queue-delete")
        assert f["up_s"] is not None, "the consumer declared it again"
        assert f.get("lost", {}).get("while_gone", 0) == 0
