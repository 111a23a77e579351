"""The advice mqcompare gives (the README's, word for word), each sentence with the cells it
speaks of and what in their results would contradict it. A matrix checks every sentence
against its own runs and says which a cell contradicts: advice that the tool's own results
refute is a finding, not a footnote.

Only runs in which every fault hit count, as for claims."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mqcompare.faults.plan import parse_fault
from mqcompare.matrix.preset import Cell
from mqcompare.matrix.summary import CellSummary
from mqcompare.outcome import outcome
from mqcompare.spans import faults_missed
from mqcompare.stacks import STACKS, load_stack

NODE_FAULTS = frozenset({"restart", "kill", "pause", "drop", "alarm"})


def _kinds(cell: Cell) -> set[str]:
    return {parse_fault(f).kind for f in cell.faults}


@dataclass(frozen=True)
class Advice:
    id: str
    says: str
    applies: Callable[[Cell], bool]  # the cells the sentence speaks of
    contradicted: Callable[[CellSummary], bool]  # given its runs whose faults hit
    why: str = ""  # the conditions, for a reader who wonders why a cell is left out


def _thread_safe(stack: str) -> bool:
    """Its library says a connection may be shared by threads (amqpstorm): sharing one is
    that library's documented use, which experiment 1 measures on its own claim."""
    return stack in STACKS and bool(load_stack(stack).thread_safe)


def _lost(s: CellSummary) -> bool:
    found = outcome(s.runs, intended=s.cell.intended)
    return found.kind == "silent-loss"


ADVICE = (
    Advice(
        "confirms",
        "Turn publisher confirms on: with them, no producer lost a message it was told was "
        "sent when a single broker node restarted, crashed, paused, dropped its connections "
        "or raised an alarm.",
        lambda c: c.confirms and c.cluster == 1 and bool(_kinds(c)) and _kinds(c) <= NODE_FAULTS,
        _lost,
        "cells with confirms on one node whose faults are all restart, kill, pause, drop or alarm",
    ),
    Advice(
        "quorum",
        "On a cluster, use a quorum queue: with confirms it kept every confirmed message "
        "when a node was killed, paused or cut off; a classic queue on the lost node did not.",
        lambda c: c.confirms and c.cluster > 1 and c.queue == "quorum",
        _lost,
        "cells with confirms on a cluster, quorum queue",
    ),
    Advice(
        "ack-after",
        "Ack after processing, never automatically: a killed consumer then loses nothing, its "
        "unacknowledged messages come back.",
        lambda c: c.ack == "after" and "consumer-kill" in _kinds(c),
        _lost,
        "cells whose counting consumer acks after processing and is killed",
    ),
    Advice(
        "no-sharing",
        "Never share a pika or kombu connection between threads without a lock: it lost "
        "messages, raised or hung.",
        lambda c: c.mode == "shared-unsafe" and not _thread_safe(c.stack),
        lambda s: outcome(s.runs).kind == "exactly-once",
        "the shared-unsafe cells of the stacks whose library does not say it is thread-safe",
    ),
    Advice(
        "mandatory-not-enough",
        "A deleted queue takes what it held with it, confirmed or not, and mandatory does not "
        "bring those back: declare queues durable and never delete one in use.",
        lambda c: "queue-delete" in _kinds(c) and c.confirms,
        lambda s: outcome(s.runs).kind in ("exactly-once", "duplicates"),
        "cells with confirms whose queue is deleted while producers publish",
    ),
)


@dataclass
class Checked:
    advice: Advice
    tested: list[CellSummary] = field(default_factory=list)  # cells with a counted run
    against: list[CellSummary] = field(default_factory=list)  # ... that contradict it

    @property
    def verdict(self) -> str:
        if not self.tested:
            return "not tested"
        return "contradicted" if self.against else "held"

    def cells_text(self, cells: list[CellSummary]) -> str:
        return ", ".join(f"{s.cell.id} {s.cell.stack} ({s.verdict()})" for s in cells)


def check_advice(summaries: list[CellSummary]) -> list[Checked]:
    """Every sentence of ADVICE with the cells that tested it and those that contradict it."""
    checked = []
    for advice in ADVICE:
        found = Checked(advice)
        for s in summaries:
            if not s.runs or not advice.applies(s.cell) or s.outcome.kind == "not-tested":
                continue
            found.tested.append(s)
            counted = CellSummary(s.cell, [r for r in s.runs if not faults_missed(r)])
            if advice.contradicted(counted):
                found.against.append(s)
        checked.append(found)
    return checked
