from tests.faults.common import (
    ClusterContract,
    FaultContract,
    ProtectionsContract,
    PyAmqpSocketContract,
    QueueDeleteContract,
)


class TestKombuFaults(
    FaultContract, ProtectionsContract, QueueDeleteContract, PyAmqpSocketContract
):
    stack = "kombu"


class TestKombuCluster(ClusterContract):
    stack = "kombu"
