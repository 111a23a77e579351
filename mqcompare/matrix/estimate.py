"""How long a preset takes, before it runs: a cell's time from its sizes, pacing and fault
plan, plus what its broker costs to start. Fitted to `make demo` on the 2-core machines
this project is built on; a guide for planning, not a promise. A preset measured whole
here is quoted as measured (`MEASURED`).

A run starts its consumer (a worker stack's takes longer), publishes, waits for its last
fault to end, then drains (0.1 s or 1 s of quiet, runner._drain)."""

from __future__ import annotations

from dataclasses import dataclass

from mqcompare.faults.plan import parse_fault
from mqcompare.matrix.preset import Cell, Preset
from mqcompare.poison import LOOPING_S
from mqcompare.stacks import load_stack

WORKER_START_S = 4.5  # a stack whose consumer side is a worker it boots (Stack.worker)
CONSUMER_START_S = 2.0  # the counting consumer
UNPACED_PER_PRODUCER = 1200.0  # messages/s one producer publishes unpaced, about
CONFIRMED_PER_PRODUCER = 400.0  # ... awaiting each confirm
QUIET_S = 1.5  # the drain's quiet, and the check
BROKER_S = {"local": 6.0, "docker": 60.0}  # a node; a container (with its image built)
CLUSTER_S = 25.0  # three nodes booted and joined


def cell_seconds(cell: Cell) -> float:
    """One run of `cell`, in seconds."""
    if cell.rate:
        publish = cell.messages / cell.rate
    else:
        per = CONFIRMED_PER_PRODUCER if cell.confirms else UNPACED_PER_PRODUCER
        publish = cell.messages / per
    publish += cell.messages * cell.work_ms / 1000.0 / max(cell.producers, 1) / 4
    for limit in ("publish_for_s", "publish_timeout_s"):  # producers stop by then
        publish = min(publish, cell.timeouts.get(limit) or publish)
    faults_end = 0.0
    for text in cell.faults:
        fault = parse_fault(text)
        faults_end = max(faults_end, fault.at + fault.down + 1.0)  # back up, and seen so
    stall = cell.timeouts.get("stall_timeout_s", 0.0) if "shared-unsafe" in cell.mode else 0.0
    start = WORKER_START_S if load_stack(cell.stack).worker else CONSUMER_START_S
    # poison: the drain waits until they stop coming back (mqcompare.poison)
    poison = 2 * LOOPING_S if cell.poison else 0.0
    return start + max(publish, faults_end) + stall + QUIET_S + poison


@dataclass(frozen=True)
class Measured:
    """A whole preset as `mqcompare matrix` ran it here (2 CPUs, one run per cell)."""

    seconds: float
    cells: int  # the preset's cells then: a preset that changed since is estimated again
    on: str  # the date


# what `mqcompare presets`, the README, the Makefile and `matrix --help` quote
MEASURED: dict[str, Measured] = {
    # `make demo` in a fresh clone, a Docker engine running (docs/demo.md; 575 s and 653 s
    # the same day, 670 s with the code of 2026-12-03 on the same machine)
    "quick": Measured(seconds=645.0, cells=88, on="2026-12-07"),
}


def measured(preset: Preset) -> Measured | None:
    """The preset's measured time here, if it has one and has not changed since."""
    found = MEASURED.get(preset.name)
    return found if found is not None and found.cells == len(preset.cells) else None


def preset_seconds(preset: Preset, repeat: int = 1) -> float:
    """Every cell `repeat` times, and each broker the cells need, started once."""
    brokers = {(c.broker or "local", c.cluster, c.partition_handling) for c in preset.cells}
    boot = sum(CLUSTER_S if n > 1 else BROKER_S.get(kind, 0.0) for kind, n, _ in brokers)
    return boot + repeat * sum(cell_seconds(c) for c in preset.cells)


def time_text(preset: Preset, repeat: int = 1) -> str:
    """'14 min here' (measured, one run per cell, times `repeat`), or 'about 61 min'."""
    found = measured(preset)
    if found is None:
        return duration_text(preset_seconds(preset, repeat))
    return f"{round(found.seconds * repeat / 60)} min here"


def duration_text(seconds: float) -> str:
    """'about 40 s', 'about 7 min', 'about 1 h 50 min'."""
    if seconds < 90:
        return f"about {max(seconds, 1):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"
