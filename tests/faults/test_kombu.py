from tests.faults.common import ClusterContract, FaultContract


class TestKombuFaults(FaultContract):
    stack = "kombu"


class TestKombuCluster(ClusterContract):
    stack = "kombu"
