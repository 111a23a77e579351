from tests.faults.common import (
    ClusterContract,
    FaultContract,
    ProtectionsContract,
    QueueDeleteContract,
)


class TestAmqpstormFaults(FaultContract, ProtectionsContract, QueueDeleteContract):
    stack = "amqpstorm"


class TestAmqpstormCluster(ClusterContract):
    stack = "amqpstorm"
