"""What a fault kind is (docs/architecture.md, "Faults"): an entry of the registry that
holds its grammar and target rules, what it needs of the broker, how it is performed
and observed, and what the checker adds to its span. A family module (node, partition,
protections, consumers) defines its kinds with `FaultKind` and nothing else of the core
needs to know them."""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from mqcompare.brokers.base import BrokerControl
from mqcompare.observe import PhaseLog
from mqcompare.result import FaultSpan, RunResult
from mqcompare.units import fmt_seconds

# What a fault must strike while it carries messages to count as a hit: the broker while
# messages are published, the consuming side while they are delivered.
Side = Literal["broker", "consumer"]
# no down time (drop@2s), an optional one (restart@1s[:2s]), a required duration
# (partition@2s:8s)
Down = Literal["none", "optional", "required"]
NODE_TARGETS = ("leader", "follower", "random", "all")


@dataclass(frozen=True)
class Fault:
    """One fault of the plan: KIND@AT[:DOWN][:TARGET], AT in seconds after the first
    publish (parsed by `mqcompare.faults.plan.parse_fault`)."""

    kind: str
    at: float
    down: float = 0.0
    target: str = ""  # a node (leader, follower, random, all, nodeK) or the kind's own word
    params: tuple[str, ...] = ()  # the kind's own parameters, as its Params wrote them

    def __str__(self) -> str:
        base = f"{self.kind}@{fmt_seconds(self.at)}"
        base += f":{fmt_seconds(self.down)}" if self.down else ""
        base += "".join(f":{p}" for p in self.params)
        return base + (f":{self.target}" if self.target else "")


@dataclass(frozen=True)
class Param:
    """A parameter of a fault kind, between its DOWN and its TARGET (`delay@1s:5s:200ms`):
    `parse` returns its canonical text, or raises ValueError saying what it takes."""

    name: str  # as the grammar names it: "MS", "PCT"
    parse: Callable[[str], str]


class Process(Protocol):
    """A consumer-side process the run started."""

    name: str

    @property
    def pid(self) -> int: ...

    def alive(self) -> bool: ...

    def ready(self) -> bool: ...

    def kill(self) -> None: ...


class Consumers(Protocol):
    """The run's consuming side, as its faults see it: the process consuming now (None
    between a kill and its replacement), under `lock`, and where its processes say which
    message each holds."""

    lock: threading.Lock
    busy_dir: Path

    def current(self) -> Process | None: ...

    def forget(self) -> None:
        """The consumer is gone on purpose: nothing restarts it meanwhile."""

    def replace(self) -> Process:
        """Start a new consumer (under `lock`)."""


@dataclass(frozen=True)
class Context:
    """What a fault acts on: the run's broker and queue, and its consuming side."""

    broker: BrokerControl
    queue: str
    consumers: Consumers | None = None


@dataclass(frozen=True)
class Evidence:
    """What the checker knows beyond a fault's own span, for a kind's analysis: publish
    returns and errors (Unix times), the lost ids, the journals, the run's time base, and
    each producer's errors."""

    oks: array[float]
    raised: array[float]
    lost: set[tuple[int, int]]
    files: list[Path]
    base: float
    raised_by: dict[int, list[float]] = field(default_factory=dict)


Perform = Callable[[Fault, Context, PhaseLog], None]
Analyse = Callable[[FaultSpan, Evidence], None]
# `why:` lines for a result in which a fault of this kind hit (its span), given the
# stack's own word on a blocked publish
Explain = Callable[[FaultSpan, RunResult, str], list[str]]


@dataclass(frozen=True)
class FaultKind:
    """One fault kind of the registry."""

    name: str
    example: str  # its grammar by example, for --help and errors: "restart@1s:2s"
    help: str  # what it does, in a few words
    side: Side
    perform: Perform
    down: Down = "none"
    # the words its TARGET may be: NODE_TARGETS (and node1..nodeN), its own words (an
    # alarm's resource, a partition's shape), or none
    targets: tuple[str, ...] = ()
    nodes: bool = False  # TARGET names nodes of the broker (leader, follower, nodeK)
    target_word: str = "target"  # what a target of its own words is: "resource", "shape"
    # the broker capability (a protocol of mqcompare.brokers.capabilities) it needs, and
    # how a broker without it is said to fail: "restarted", "partitioned"
    needs: type | None = None
    verb: str = ""
    min_nodes: int = 1  # a partition needs three
    params: tuple[Param, ...] = ()  # its own parameters, after DOWN
    # what this machine lacks to perform it, and what to install ('' when nothing): a
    # run is refused (exit 3) and a preset cell skipped, saying so
    unmet: Callable[[], str] | None = None
    stack_offers: bool = False  # only stacks that list it in Stack.faults take it
    analyse: Analyse | None = None
    explain: Explain | None = None
