from tests.faults.common import (
    ClusterContract,
    FaultContract,
    ProtectionsContract,
    QueueDeleteContract,
)


class TestKombuFaults(FaultContract, ProtectionsContract, QueueDeleteContract):
    stack = "kombu"


class TestKombuCluster(ClusterContract):
    stack = "kombu"
