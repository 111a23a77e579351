from tests.contract.common import PublishContract, WindowContract


class TestPika(PublishContract, WindowContract):
    stack = "pika"
    exactly_once_modes = (
        "connection-per-thread",
        "shared-locked",
        "process-per-producer",
        "asyncio-adapter",
    )
    unsafe_modes = ("shared-unsafe", "channel-per-thread", "fork-shared")
    window_mode = "asyncio-adapter"
