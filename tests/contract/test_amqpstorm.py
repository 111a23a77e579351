"""amqpstorm says it is thread-safe: its shared modes are held to exactly once, as a
library's documented use is; a race would fail these tests, and that would be the finding."""

from typing import Any

from tests.contract.common import PublishContract


class TestAmqpstorm(PublishContract):
    stack = "amqpstorm"
    exactly_once_modes = (
        "connection-per-thread",
        "shared-unsafe",
        "shared-locked",
        "channel-per-thread",
    )
    no_unsafe_mode = "amqpstorm is thread-safe by its own description: every mode is held to once"

    def test_ten_threads_share_one_channel_with_confirms(self, run: Any) -> None:
        """Experiment 1's question for a client that says it is thread-safe: one
        connection and one channel, ten threads, no lock of ours."""
        r = run(self.stack, mode="shared-unsafe", producers=10, messages=100, confirms=True)
        c = r["counts"]
        assert c["attempted"] == c["acknowledged"] == c["unique"] == 1000, r["errors"]
        assert r["verdict"] == {"valid": True, "exactly_once": True}
