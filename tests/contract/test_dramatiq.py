from tests.contract.common import PublishContract


class TestDramatiq(PublishContract):
    stack = "dramatiq"
    exactly_once_modes = ("shared-broker", "broker-per-thread")
    no_unsafe_mode = "dramatiq keeps a connection per thread in both modes: none is unsafe"
