"""RunSpec: what one run does, frozen, validated on load, with the defaults every stack
shares; its faults are parsed by the fault registry (mqcompare.faults.plan)."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mqcompare.brokers.handling import PARTITION_HANDLING
from mqcompare.errors import BadInput
from mqcompare.settings import setting, settings
from mqcompare.stacks import STACKS, load_stack
from mqcompare.units import redact_url

if TYPE_CHECKING:  # the fault registry (every fault kind, the brokers they need) is
    # imported when a spec has faults: a consumer or worker process that reads a spec
    # without any boots a tenth of a second sooner, and every run waits for it to boot
    from mqcompare.faults.kind import Fault

CLIENT_PLACEMENTS = ("spread", "leader", "followers")
CONSUME_MODES = ("during", "after")
# classic (RabbitMQ's default), quorum (x-queue-type: quorum, Raft), mirrored (classic plus
# an ha-mode policy, as Jepsen ran it; RabbitMQ 4 removed mirroring)
QUEUE_TYPES = ("classic", "quorum", "mirrored")
ACK_MODES = ("after", "before", "auto")
# how a private Redis keeps what it holds (--broker redis); default: redis-server's own,
# with no configuration file: RDB snapshots (save 3600 1 300 100 60 10000), no AOF
REDIS_PERSISTENCE = ("default", "none", "rdb", "aof-everysec", "aof-always")
FAULT_HELP = (
    "A fault at AT seconds after the first publish, for DOWN seconds, on TARGET; "
    "repeatable, run in order. Kinds: below. On a cluster TARGET is a node (leader, the "
    "default; follower, random, all, node2); an alarm's is its resource, a partition's its "
    "shape. Each is timed as observed (down, up) and said to have missed if it struck "
    "nothing in flight."
)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class RunSpec:
    """What one run does. Every stack reads the same spec; stack-specific knobs are
    recorded in `stack_options` so that the result says what was used. A field that
    users set says how (mqcompare.settings): the CLI and the presets are made from it."""

    stack: str = setting("", "--stack", "Client stack.", "choice", choices=tuple(STACKS))
    mode: str = setting("", "--mode", "Concurrency mode; each stack has a default.", "text")
    producers: int = setting(
        10, "--producers", "Producer threads or processes.", "int", key="producers",
        minimum=1, maximum=1000,
    )  # fmt: skip
    messages: int = setting(
        1000, "--messages", "Messages per producer.", "int", key="messages", minimum=1
    )
    confirms: bool = setting(
        False, "--confirms/--no-confirms", "Publisher confirms (off: the libraries' default).",
        "switch", key="confirms",
    )  # fmt: skip
    # messages per second per producer, 0 = as fast as it goes; pacing stretches a small
    # run over its fault plan, as the write-up's slower producers were
    rate: float = setting(
        0.0, "--rate", "Messages per second per producer (0: as fast as it goes).", "float",
        key="rate", minimum=0, zero="0: unpaced",
    )  # fmt: skip
    faults: tuple[Fault, ...] = setting((), "--fault", FAULT_HELP, "faults")
    broker: str = setting(
        "auto", "--broker",
        "auto, local (private node), docker (a container), amqp://user:pass@host:port/vhost, "
        "redis (a private Redis: celery, dramatiq, kombu) or redis://host:port/db.",
        "text",
    )  # fmt: skip
    redis_persistence: str = setting(
        "default", "--redis-persistence",
        "How a private Redis keeps its data: none, rdb (snapshots), aof-everysec, "
        "aof-always, or default: redis-server's own (RDB snapshots after 3600 s and 1 "
        "change, 300 s and 100, 60 s and 10000; no AOF).",
        "choice", key="redis_persistence", choices=REDIS_PERSISTENCE,
    )  # fmt: skip
    # Redis keeps a delivered, unacknowledged message aside; after this long it is
    # delivered again (kombu: visibility_timeout; dramatiq: its heartbeat timeout)
    visibility_timeout_s: float = setting(
        0.0, "--visibility-timeout",
        "On Redis: how long a delivered, unacknowledged message waits before it is "
        "delivered again (kombu and celery: visibility_timeout, 1 h by default; dramatiq: "
        "the heartbeat timeout after which a silent worker's messages are requeued, 60 s).",
        "duration", key="visibility_timeout", minimum=0, zero="0: the library's own",
    )  # fmt: skip
    consumer: str = setting(
        "", "--consumer",
        "Another stack's counting consumer (e.g. kombu)  [default: the stack's own].", "text",
    )  # fmt: skip
    ack: str = setting(
        "after", "--ack",
        "Consumer acks: after (journal, then ack), before (ack, then journal), auto.",
        "choice", key="ack", choices=ACK_MODES,
    )  # fmt: skip
    # after: the consumer starts once the last producer has finished, so messages sit in
    # the queue through the faults (as when the write-up read its console afterwards)
    consume: str = setting(
        "during", "--consume",
        "during: the consumer runs while producers publish; after: it starts when the last "
        "producer has finished (messages sit in the queue through the faults).",
        "choice", key="consume", choices=CONSUME_MODES,
    )  # fmt: skip
    queue_type: str = setting(
        "classic", "--queue",
        "Queue type: classic, quorum (x-queue-type), or mirrored (classic with an ha-mode "
        "policy; needs a broker mqcompare runs, and RabbitMQ before 4).",
        "choice", key="queue", choices=QUEUE_TYPES,
    )  # fmt: skip
    cluster: int = setting(
        1, "--cluster",
        "Nodes of the private broker: 1, or a cluster of 3 or 5 (2 to 7) on loopback.",
        "int", key="cluster", minimum=1, maximum=7,
    )  # fmt: skip
    partition_handling: str = setting(
        "pause_minority", "--partition-handling", "A cluster's cluster_partition_handling.",
        "choice", key="partition_handling", choices=PARTITION_HANDLING,
    )  # fmt: skip
    # where clients connect on a cluster: producer p to node p mod N and the consumer to
    # another (spread), or all to the queue's leader, or all to its followers
    clients: str = setting(
        "spread", "--clients",
        "Where clients connect on a cluster: spread (producer p on node p mod N, the "
        "consumer on the last node), leader (all on the queue's leader), followers.",
        "choice", key="clients", choices=CLIENT_PLACEMENTS,
    )  # fmt: skip
    prefetch: int = setting(
        100, "--prefetch", "Consumer prefetch (0: unlimited).", "int", key="prefetch",
        minimum=0, zero="0: unlimited",
    )  # fmt: skip
    work_ms: float = setting(
        0.0, "--work-ms", "Simulated work per message in the consumer, in ms.", "float",
        key="work_ms", minimum=0,
    )  # fmt: skip
    # how long a producer keeps retrying one message; 0: give up at its first error
    retry_budget_s: float = setting(
        15.0, "--retry-budget",
        "How long a producer keeps retrying one message (0: give up at its first error).",
        "duration", key="retry_budget", minimum=0, zero="0: give up at the first error",
    )  # fmt: skip
    drain_timeout_s: float = setting(
        60.0, "--drain-timeout",
        "How long to wait, after publishing and faults, for the queue to be empty and "
        "what consumers hold to be acknowledged.",
        "duration", key="drain_timeout", minimum=0.001,
    )  # fmt: skip
    # a run measured over time, not a count (as PerfTest's --time): what producers publish
    # in this long is the run, and the rest of --messages is not missing
    publish_for_s: float = setting(
        0.0, "--publish-for",
        "Producers publish for this long, then stop, e.g. 8s; --messages is then the most "
        "each may publish, not a count they fall short of.",
        "duration", key="publish_for", minimum=0, zero="0: until --messages are published",
    )  # fmt: skip
    publish_timeout_s: float = setting(
        600.0, "--publish-timeout", "Producers give up on what is not published by then.",
        "duration", key="publish_timeout", minimum=0.001,
    )  # fmt: skip
    # publish `mandatory`, so that a message no queue takes comes back; None: as the
    # library does by default (off, where the broker drops it, and confirms it when
    # confirms are on; aio-pika's Exchange.publish is mandatory by default)
    mandatory: bool | None = setting(
        None, "--mandatory/--no-mandatory",
        "Publish mandatory: a message no queue takes comes back and is journaled failed. "
        "[default: the library's own: off (the broker drops it, and confirms it), aio-pika on]",
        "maybe", key="mandatory",
    )  # fmt: skip
    # the broker's delivery acknowledgement timeout for this run, in seconds (0: the
    # broker's own, 30 minutes): a consumer holding a message longer loses its channel
    consumer_timeout_s: float = setting(
        0.0, "--consumer-timeout",
        "The broker's delivery acknowledgement timeout for this run, e.g. 2s (0: the "
        "broker's own, 30 min); a consumer holding a message longer loses its channel.",
        "duration", key="consumer_timeout", minimum=0, zero="0: the broker's own",
    )  # fmt: skip
    # the heartbeat clients propose: how soon a dead link is noticed (docs/architecture.md,
    # "Faults"); kombu and celery's publishers send none whatever it is
    heartbeat_s: float = setting(
        10.0, "--heartbeat",
        "The AMQP heartbeat pika, aio-pika and dramatiq clients propose, e.g. 10s (0: the "
        "library's own: pika takes the broker's 60 s, aio-pika 60 s); kombu and celery send "
        "none.",
        "duration", key="heartbeat", minimum=0, zero="0: the library's own",
    )  # fmt: skip
    # producers that journal nothing for this long are stuck (a hang is a finding)
    stall_timeout_s: float = setting(
        30.0, "--stall-timeout",
        "Producers that journal nothing for this long hang: they are stopped and reported.",
        "duration", key="stall_timeout", minimum=0.001,
    )  # fmt: skip
    # message ids every consumer fails (rejected with requeue; a task kills its worker):
    # what a broker does with a message that can never be processed
    poison: int = setting(
        0, "--poison",
        "Mark N message ids of the run that every consumer fails: a counting consumer "
        "rejects them with requeue, a task kills the worker process running it.",
        "int", key="poison", minimum=0, zero="0: none",
    )  # fmt: skip
    dead_letter: bool = setting(
        False, "--dead-letter/--no-dead-letter",
        "Give the queue a dead-letter target (the queue Q.dead): what the broker drops "
        "there (a quorum queue's delivery limit) is counted dead-lettered, not lost.",
        "switch", key="dead_letter",
    )  # fmt: skip
    run_id: str = field(default_factory=new_run_id)
    stack_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stack in STACKS and load_stack(self.stack).always_confirms:
            # its protocol settles every publish: its runs are judged as with confirms
            object.__setattr__(self, "confirms", True)
        for name, s in SETTINGS.items():
            if name not in ("stack", "faults"):  # the stack is checked when it is loaded
                s.check(getattr(self, name))
        if self.faults:
            from mqcompare.faults.plan import check_nodes

            for fault in self.faults:
                check_nodes(fault, self.cluster)
        if self.poison > self.total_messages:
            raise BadInput(
                "--poison", f"{self.poison} is more than the run's {self.total_messages} messages"
            )

    @property
    def queue(self) -> str:
        return f"mqcompare.{self.run_id}"

    @property
    def queue_arguments(self) -> dict[str, Any]:
        """What every client declares the run's queue with (the same everywhere: RabbitMQ
        refuses a declaration whose arguments differ)."""
        arguments: dict[str, Any] = {}
        if self.queue_type == "quorum":
            arguments["x-queue-type"] = "quorum"
        if self.dead_letter:
            # the default exchange routes by queue name: straight into the dead queue
            arguments.update(
                {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.dead_queue}
            )
        return arguments

    @property
    def dead_queue(self) -> str:
        """Where the run's queue dead-letters (with --dead-letter)."""
        return f"{self.queue}.dead"

    @property
    def poison_ids(self) -> list[tuple[int, int]]:
        """The `poison` message ids, spread evenly over the run's time (their seqs) and
        its producers, none at the very start or end."""
        n = self.poison
        per = -(-n // self.producers)  # a producer's share, rounded up
        spread = [(i % self.producers, i // self.producers) for i in range(n)]
        return [(p, (2 * k + 1) * self.messages // (2 * per)) for p, k in spread]

    @property
    def total_messages(self) -> int:
        return self.producers * self.messages

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["faults"] = [str(f) for f in self.faults]
        data["broker"] = redact_url(self.broker)
        data["queue"] = self.queue
        if self.poison:
            data["poison_ids"] = [f"{p}:{s}" for p, s in self.poison_ids]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "work_ms" not in data:  # a spec.json from before work_ms was a field of its own
            kwargs["work_ms"] = float((data.get("stack_options") or {}).get("consumer_work_ms", 0))
        if data.get("faults"):
            from mqcompare.faults.plan import parse_fault

            kwargs["faults"] = tuple(parse_fault(f) for f in data["faults"])
        return cls(**kwargs)

    @classmethod
    def load(cls, run_dir: Path) -> RunSpec:
        """The spec a run directory was started with (its spec.json)."""
        return cls.from_json(json.loads((run_dir / "spec.json").read_text()))


SETTINGS = settings(RunSpec)
"""Every run setting users give, by RunSpec field (mqcompare.settings)."""
