"""RunSpec: what one run does, frozen, validated on load, with the defaults every stack
shares; its faults are parsed by the fault registry (mqcompare.faults.plan)."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mqcompare.brokers.cluster import PARTITION_HANDLING
from mqcompare.errors import BadInput
from mqcompare.faults.kind import Fault
from mqcompare.faults.plan import check_nodes, parse_fault
from mqcompare.units import redact_url

CLIENT_PLACEMENTS = ("spread", "leader", "followers")
CONSUME_MODES = ("during", "after")
# classic (RabbitMQ's default), quorum (x-queue-type: quorum, Raft), mirrored (classic plus
# an ha-mode policy, as Jepsen ran it; RabbitMQ 4 removed mirroring)
QUEUE_TYPES = ("classic", "quorum", "mirrored")
ACK_MODES = ("after", "before", "auto")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class RunSpec:
    """What one run does. Every stack reads the same spec; stack-specific knobs are
    recorded in `stack_options` so that the result says what was used."""

    stack: str
    mode: str
    producers: int = 10
    messages: int = 1000
    confirms: bool = False  # the libraries' default, and the write-up's
    # messages per second per producer, 0 = as fast as it goes; pacing stretches a small
    # run over its fault plan, as the write-up's slower producers were
    rate: float = 0.0
    faults: tuple[Fault, ...] = ()
    broker: str = "auto"
    consumer: str = ""  # library the counting consumer uses; "" = the stack's own
    ack: str = "after"
    # after: the consumer starts once the last producer has finished, so messages sit in
    # the queue through the faults (as when the write-up read its console afterwards)
    consume: str = "during"
    queue_type: str = "classic"
    cluster: int = 1  # nodes of the private cluster the run starts (1: one node)
    partition_handling: str = "pause_minority"
    # where clients connect on a cluster: producer p to node p mod N and the consumer to
    # another (spread), or all to the queue's leader, or all to its followers
    clients: str = "spread"
    prefetch: int = 100
    # how long a producer keeps retrying one message; 0: give up at its first error
    retry_budget_s: float = 15.0
    drain_timeout_s: float = 60.0
    publish_timeout_s: float = 600.0
    # publish `mandatory`, so that a message no queue takes comes back; None: as the
    # library does by default (off, where the broker drops it, and confirms it when
    # confirms are on; aio-pika's Exchange.publish is mandatory by default)
    mandatory: bool | None = None
    # the broker's delivery acknowledgement timeout for this run, in seconds (0: the
    # broker's own, 30 minutes): a consumer holding a message longer loses its channel
    consumer_timeout_s: float = 0.0
    # producers that journal nothing for this long are stuck (a hang is a finding)
    stall_timeout_s: float = 30.0
    run_id: str = field(default_factory=new_run_id)
    stack_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, flag in (("producers", "--producers"), ("messages", "--messages")):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise BadInput(flag, f"must be a whole number of at least 1, got {value!r}")
        if self.producers > 1000:
            raise BadInput("--producers", f"at most 1000, got {self.producers}")
        if self.ack not in ACK_MODES:
            raise BadInput("--ack", f"{self.ack!r} is not one of {', '.join(ACK_MODES)}")
        if self.consume not in CONSUME_MODES:
            raise BadInput(
                "--consume", f"{self.consume!r} is not one of {', '.join(CONSUME_MODES)}"
            )
        if self.queue_type not in QUEUE_TYPES:
            raise BadInput("--queue", f"{self.queue_type!r} is not one of {', '.join(QUEUE_TYPES)}")
        if not isinstance(self.cluster, int) or not 1 <= self.cluster <= 7:
            raise BadInput("--cluster", f"must be 1 to 7 nodes, got {self.cluster!r}")
        if self.partition_handling not in PARTITION_HANDLING:
            raise BadInput(
                "--partition-handling",
                f"{self.partition_handling!r} is not one of {', '.join(PARTITION_HANDLING)}",
            )
        if self.clients not in CLIENT_PLACEMENTS:
            raise BadInput(
                "--clients", f"{self.clients!r} is not one of {', '.join(CLIENT_PLACEMENTS)}"
            )
        for fault in self.faults:
            check_nodes(fault, self.cluster)
        if self.retry_budget_s < 0:
            raise BadInput(
                "--retry-budget",
                f"must be 0 (give up at the first error) or more seconds, got "
                f"{self.retry_budget_s:g}",
            )
        if not isinstance(self.rate, (int, float)) or self.rate < 0:
            raise BadInput("--rate", f"must be 0 (unpaced) or more messages/s, got {self.rate!r}")
        if self.prefetch < 0:
            raise BadInput("--prefetch", f"must be 0 (unlimited) or more, got {self.prefetch}")
        if self.consumer_timeout_s < 0:
            raise BadInput(
                "--consumer-timeout",
                f"must be 0 (the broker's own) or more seconds, got {self.consumer_timeout_s:g}",
            )
        for name, flag in (
            ("drain_timeout_s", "--drain-timeout"),
            ("publish_timeout_s", "--publish-timeout"),
            ("stall_timeout_s", "--stall-timeout"),
        ):
            if getattr(self, name) <= 0:
                raise BadInput(flag, f"must be more than 0 seconds, got {getattr(self, name)}")

    @property
    def queue(self) -> str:
        return f"mqcompare.{self.run_id}"

    @property
    def queue_arguments(self) -> dict[str, Any]:
        """What every client declares the run's queue with (the same everywhere: RabbitMQ
        refuses a declaration whose arguments differ)."""
        return {"x-queue-type": "quorum"} if self.queue_type == "quorum" else {}

    @property
    def total_messages(self) -> int:
        return self.producers * self.messages

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["faults"] = [str(f) for f in self.faults]
        data["broker"] = redact_url(self.broker)
        data["queue"] = self.queue
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["faults"] = tuple(parse_fault(f) for f in data.get("faults", ()))
        return cls(**kwargs)

    @classmethod
    def load(cls, run_dir: Path) -> RunSpec:
        """The spec a run directory was started with (its spec.json)."""
        return cls.from_json(json.loads((run_dir / "spec.json").read_text()))
