from tests.faults.common import FaultContract


class TestKombuFaults(FaultContract):
    stack = "kombu"
