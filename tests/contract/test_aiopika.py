from pathlib import Path
from typing import Any

from tests.contract.common import PublishContract, raw_journal


class TestAioPika(PublishContract):
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

    def test_a_confirm_window_delivers_every_message_once(self, run: Any) -> None:
        r = run(
            self.stack,
            producers=3,
            messages=400,
            confirms=True,
            stack_options={"confirm_window": 50},
        )
        c = r["counts"]
        assert c["attempted"] == c["acknowledged"] == c["unique"] == 1200
        assert r["verdict"] == {"valid": True, "exactly_once": True}
        assert r["spec"]["stack_options"]["confirm_window"] == 50
        raw = raw_journal(Path(r["_dir"]))
        assert raw["ok"] == raw["invoke"] == raw["deliver"]
