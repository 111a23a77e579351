from tests.contract.common import PublishContract


class TestKombu(PublishContract):
    stack = "kombu"
    exactly_once_modes = ("pool", "shared-locked", "connection-per-thread")
    unsafe_modes = ("shared-unsafe",)
