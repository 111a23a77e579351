"""Time to an answer: how much of a matrix's wall time its runs spent publishing and
delivering (each run's own windows, from its journals), and how much went around them
(a broker booting, a consumer starting, a queue draining, judging, writing)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def work_s(result: Mapping[str, Any]) -> float:
    """The seconds a run carried messages: from its first publish (or delivery) to its last
    publish outcome (or delivery), the union of its two windows."""
    spans = [w for w in (result.get("windows") or {}).values() if w]
    if not spans:
        return 0.0
    return max(0.0, max(w[1] for w in spans) - min(w[0] for w in spans))


@dataclass(frozen=True)
class Overhead:
    wall_s: float
    work_s: float
    runs: int

    @property
    def share(self) -> float:
        """The part of the wall time that was not publishing or delivering."""
        return 1.0 - self.work_s / self.wall_s if self.wall_s > 0 else 0.0

    def text(self) -> str:
        return (
            f"{self.runs} runs in {_clock(self.wall_s)}, of which they published and "
            f"delivered for {_clock(self.work_s)}: {self.share:.0%} overhead"
        )


def matrix_overhead(doc: Mapping[str, Any]) -> Overhead | None:
    """A matrix's overhead: its wall time (from start to finish, broker boots included)
    against the sum of its runs' windows; None before it finished."""
    if not doc.get("finished_at") or not doc.get("started_at"):
        return None
    results = doc.get("results") or []
    return Overhead(
        wall_s=float(doc["finished_at"]) - float(doc["started_at"]),
        work_s=sum(work_s(r) for r in results),
        runs=len(results),
    )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
