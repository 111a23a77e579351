from tests.contract.common import PublishContract


class TestPika(PublishContract):
    stack = "pika"
    exactly_once_modes = ("connection-per-thread", "shared-locked", "process-per-producer")
    unsafe_modes = ("shared-unsafe", "channel-per-thread", "fork-shared")
