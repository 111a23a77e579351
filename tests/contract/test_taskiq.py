from tests.contract.common import PublishContract


class TestTaskiq(PublishContract):
    stack = "taskiq"
    exactly_once_modes = ("shared-broker",)
    no_unsafe_mode = "taskiq's producers are tasks of one event loop on one broker: none is unsafe"
