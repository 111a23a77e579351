"""The result of a run, typed (docs/architecture.md, "The result"): what the checker
computes from journals alone (`CheckResult`), and what the runner adds that only the run
knew (`RunResult`). These are the keys of result.json; reports, summaries, claims and
stack explanations read them through these types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, cast


class Counts(TypedDict):
    attempted: int
    acknowledged: int
    failed: int
    unknown: int
    delivered: int
    unique: int
    lost: int
    recovered: int
    unexpected: int
    duplicated: int
    extra_deliveries: int
    redelivered: int
    not_delivered_unacknowledged: int
    reordered: int
    torn_lines: int
    rejected: int  # `reject` records: poison messages failed by a consumer
    dead_lettered: int  # never delivered, found in the dead-letter queue at the end
    left_in_queue: int  # never delivered, still in the run's queue at the end (`left`)


class Verdict(TypedDict):
    valid: bool  # nothing lost, nothing unexpected
    exactly_once: bool  # valid, and nothing duplicated


class Throughput(TypedDict):
    publish_per_s: float
    deliver_per_s: float


class Windows(TypedDict):
    """When messages were published and delivered, seconds after the first publish."""

    publishing: list[float] | None
    delivering: list[float] | None


class Timeline(TypedDict):
    bin_s: float
    published: list[int]
    delivered: list[int]
    errors: list[int]


class Anomalies(TypedDict):
    """Up to 20 ids of each, "p:s"."""

    lost: list[str]
    duplicated: list[str]
    recovered: list[str]
    unexpected: list[str]
    dead_lettered: NotRequired[list[str]]


class Poison(TypedDict):
    """What came of the run's poison messages (--poison)."""

    ids: int  # poison ids a consumer failed at least once
    rejections: int  # how often, in all
    most_rejections: int  # of the one failed most often
    delivery_count_max: int | None  # the highest x-delivery-count the broker gave one
    lost: int  # poison ids acknowledged, never delivered, dead-lettered nor left
    dead_reasons: dict[str, int]  # what the dead-letter queue held, by x-death reason


class CameBack(TypedDict):
    held: int  # the messages the struck process held
    delivered_again: int  # of them, delivered after it went down
    after_s: list[float] | None  # [first, last] seconds after it went down; None: none


class FaultSpan(TypedDict):
    """One fault as observed, seconds after the first publish; `hit` when its target was
    down while it carried messages. The last keys are what a kind's analysis adds."""

    kind: str
    target: str  # "broker" or "consumer": what it strikes
    at_s: float | None
    begin_s: float
    down_s: float | None
    up_s: float | None
    end_s: float | None
    hit: bool
    aim: NotRequired[str]
    struck: NotRequired[str]
    idle: NotRequired[bool]
    held: NotRequired[list[str]]
    node: NotRequired[str]  # the cluster's nodes it struck: "node1, node2"
    pid: NotRequired[int]  # the process it killed (consumer and worker faults)
    ready: NotRequired[int]  # queue-delete: the ready messages the queue held
    connections: NotRequired[int]  # drop: the client connections it closed
    error: NotRequired[str]
    notes: NotRequired[list[str]]
    why: NotRequired[str]
    lag_s: NotRequired[float]
    noticed_s: NotRequired[float | None]  # the first publish error after it began
    noticed_by: NotRequired[dict[str, float]]  # each producer's first, by its number
    publish_per_s: NotRequired[float]  # a link fault: publishes acknowledged while impaired, per s
    blocked: NotRequired[dict[str, Any]]  # alarm: what producers did while blocked
    lost: NotRequired[dict[str, int]]  # queue-delete: the lost, by when they were sent
    came_back: NotRequired[CameBack]  # consumer faults: when what it held came back


class CheckResult(TypedDict):
    format: str
    run_id: str
    counts: Counts
    verdict: Verdict
    errors: dict[str, int]
    throughput: Throughput
    latency_ms: dict[str, float]
    faults: list[FaultSpan]
    windows: Windows
    timeline: Timeline
    duration_s: float
    anomalies: Anomalies
    poison: NotRequired[Poison]


class Drain(TypedDict):
    complete: bool
    poison_looping: NotRequired[bool]  # gave up on poison messages that kept coming back
    left_in_queue: NotRequired[int | None]
    unacked: NotRequired[int | None]
    # when it gave up: how long nothing had been journaled (a consumer that stopped taking
    # messages, not one too slow for the timeout)
    idle_s: NotRequired[float]


# what a consumer that took nothing for this long, while messages were queued, is called
STALLED_S = 3.0


def idle_text(idle_s: float) -> str:
    """How the drain's consumer looked when the drain gave up: still taking messages (too
    slow for the timeout), or stalled."""
    if idle_s < STALLED_S:
        return "the consumer was still taking messages"
    return f"the consumer had taken nothing for {idle_s:.1f} s"


class RunResult(CheckResult):
    """result.json: the checker's result and what the run knew."""

    spec: dict[str, Any]  # spec.json as written: RunSpec.to_json and what the broker said
    broker: str
    environment: dict[str, Any]
    drain: Drain
    consumer_starts: int
    producer_exit: int | None
    producers_stalled: bool
    fault_errors: list[str]
    interrupted: bool
    aborted: str | None
    notes: list[str]


def count(result: CheckResult, name: str) -> int:
    """One of a result's counts by name (0 for a count an older result lacks)."""
    return int(cast(Mapping[str, int], result["counts"]).get(name, 0))


def down_up(span: FaultSpan) -> tuple[float, float]:
    """When a fault that went down was seen down, and back: up, or its end (or at once)."""
    assert span["down_s"] is not None, "a span that never went down has no down window"
    down = span["down_s"]
    return down, next((t for t in (span.get("up_s"), span.get("end_s")) if t is not None), down)
