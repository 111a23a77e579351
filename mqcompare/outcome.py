"""What a cell's runs mean for the user's messages, in words and one kind: lost silently,
failed loudly, duplicated, exactly once, hung, intended, or not tested. The answer grid,
the tables and the terminal all say a cell's outcome this way.

The kinds are ordered by what a user should fear most; a cell takes the first that its
runs show. Only runs in which every fault hit count: a fault that missed tests nothing."""

from __future__ import annotations

from dataclasses import dataclass

from mqcompare.result import RunResult, count
from mqcompare.spans import faults_missed

Result = RunResult

# kind: what it means, for the legend (the order is the order of precedence)
KINDS = {
    "silent-loss": "lost silently: the application was told the message was sent",
    "hang": "producers hung: the application waited, with no error",
    "loud-failure": "failed loudly: the library said so; nothing was lost silently",
    "looping": "poison messages redelivered for ever: the queue never empties",
    "duplicates": "nothing lost; some messages delivered more than once",
    "exactly-once": "every attempted message delivered once",
    "intended": "the outcome the cell sets out to show (e.g. dead-lettered)",
    "not-tested": "not tested: a fault missed, or the cell could not run",
}
SAFE = ("duplicates", "exactly-once")  # nothing the application was told was sent is gone


@dataclass(frozen=True)
class Outcome:
    kind: str
    text: str

    @property
    def safe(self) -> bool:
        return self.kind in SAFE


def _span(values: list[int], noun: str) -> str:
    """'742 lost', '517-921 lost', or over runs where some were 0: '12-40 lost in 2 of 3
    runs'."""
    hit = [v for v in values if v]
    lo, hi = min(hit), max(hit)
    text = f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"
    runs = f" in {len(hit)} of {len(values)} runs" if len(hit) < len(values) else ""
    return f"{text} {noun}{runs}"


def _count(runs: list[Result], key: str) -> list[int]:
    return [count(r, key) for r in runs]


def planned(r: Result) -> int:
    """The messages a run's spec asked for: producers x messages; what they attempted, for
    a run that publishes for a time (`--publish-for`)."""
    spec = r.get("spec") or {}
    if spec.get("publish_for_s"):
        return int(r["counts"]["attempted"])
    return int(spec.get("producers", 0)) * int(spec.get("messages", 0))


def outcome(runs: list[Result], failed: int = 0, intended: str = "") -> Outcome:
    """The outcome of a cell's finished runs (`failed`: runs the broker could not serve;
    `intended`: what the cell sets out to show when messages do not arrive, e.g.
    'dead-lettered')."""
    if not runs:
        return Outcome("not-tested", "could not run" if failed else "not run")
    counted = [r for r in runs if not faults_missed(r)]
    if not counted:
        return Outcome("not-tested", "not tested: fault missed")
    missed = len(runs) - len(counted)
    suffix = f" (fault missed in {missed} of {len(runs)})" if missed else ""
    found = _first(counted, intended)
    return Outcome(found.kind, found.text + suffix)


def _first(runs: list[Result], intended: str) -> Outcome:
    lost, unexpected = _count(runs, "lost"), _count(runs, "unexpected")
    hung = [r for r in runs if r.get("producers_stalled")]
    after = ""
    if hung:
        attempted = [r["counts"]["attempted"] for r in hung]
        lo, hi = min(attempted), max(attempted)
        asked = planned(hung[0])
        got = f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"
        after = f"hung after {got} of {asked:,}" if asked else "hung"
        if len(hung) < len(runs):
            after += f" in {len(hung)} of {len(runs)} runs"
    dead = _count(runs, "dead_lettered")
    if any(dead) and not any(lost):
        return Outcome("intended", f"{_span(dead, 'dead-lettered')}, 0 lost")
    if any(lost) and intended:
        return Outcome("intended", f"{_span(lost, intended)}, as intended")
    if any(lost) or any(unexpected):
        words = [_span(lost, "lost silently")] if any(lost) else []
        words += [_span(unexpected, "unexpected")] if any(unexpected) else []
        return Outcome("silent-loss", ", ".join(words + ([after] if after else [])))
    if hung:
        return Outcome("hang", after)
    looping = _count(runs, "left_in_queue")
    if any(looping):
        return Outcome("looping", f"{_span(looping, 'redelivered for ever')}, 0 lost")
    undelivered = _count(runs, "not_delivered_unacknowledged")
    short = [planned(r) - r["counts"]["attempted"] for r in runs]
    if any(undelivered):
        return Outcome("loud-failure", f"{_span(undelivered, 'failed loudly')}, 0 lost")
    if any(s > 0 for s in short):
        return Outcome("loud-failure", f"producers stopped {_span(short, 'short')}, 0 lost")
    dups = _count(runs, "duplicated")
    if any(dups):
        return Outcome("duplicates", f"{_span(dups, 'duplicated')}, 0 lost")
    return Outcome("exactly-once", "exactly once")
