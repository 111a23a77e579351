from tests.contract.common import PublishContract, WindowContract


class TestAioPika(PublishContract, WindowContract):
    stack = "aio-pika"
    exactly_once_modes = (
        "channel-per-producer",
        "shared-channel",
        "connection-per-producer",
        "robust",
    )
    no_unsafe_mode = (
        "aio-pika's producers are tasks of one event loop: a shared channel is not raced"
    )
    window_mode = "channel-per-producer"
