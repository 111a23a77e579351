"""Fault spans (docs/architecture.md, "Words": hit, missed): each fault's phases paired
from its journal records into one span, timed after the first publish, judged hit or
missed against the window in which what it struck carried messages, then given its
kind's own analysis (its registry entry's `analyse`)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from mqcompare.faults.kind import Evidence
from mqcompare.faults.registry import KINDS
from mqcompare.result import FaultSpan, Windows


def window(start: float, end: float, base: float) -> list[float] | None:
    """[start, end] in seconds after `base`, or None when nothing happened."""
    if start == float("inf") or end == float("-inf") or end < start:
        return None
    return [round(start - base, 3), round(end - base, 3)]


def fault_spans(records: list[dict[str, Any]], base: float, windows: Windows) -> list[FaultSpan]:
    """Each fault with its observed window, seconds after the first publish, and whether it
    hit: its down window overlapped the window in which what it struck carried messages
    (publishing for broker faults, delivering for consumer and worker faults), or what it
    struck was seen processing messages when it went down (`held`)."""
    spans = _paired(records, base)
    previous_end = 0.0
    for span in spans:
        carried = windows["delivering" if span["target"] == "consumer" else "publishing"]
        span["hit"], why = _hit(span, carried)
        if why:
            span["why"] = why
        if span["down_s"] is not None and span["at_s"] is not None:
            # from when it was due (the plan's second, or the previous fault's end) to down
            span["lag_s"] = round(span["down_s"] - max(float(span["at_s"]), previous_end), 3)
        previous_end = span["end_s"] if span["end_s"] is not None else previous_end
    return spans


def _paired(records: list[dict[str, Any]], base: float) -> list[FaultSpan]:
    """The spans of the `fault` records: phases of one fault are paired by `n` (its place
    in the plan); journals written before `n` existed pair in time order by kind. Unknown
    phases are ignored."""
    spans: list[FaultSpan] = []
    by_n: dict[tuple[str, Any], FaultSpan] = {}
    for rec in sorted(records, key=lambda r: float(r["t"])):
        kind, phase, n = str(rec["kind"]), str(rec["phase"]), rec.get("n")
        t = round(float(rec["t"]) - base, 3)
        if phase == "begin":
            span = _begun(kind, rec, t)
            spans.append(span)
            by_n[(kind, n)] = span
            continue
        found = by_n.get((kind, n)) if n is not None else None
        if found is None:
            pending = [s for s in spans if s["kind"] == kind and s["end_s"] is None]
            if not pending:
                continue
            found = pending[0]
        _phase(found, phase, rec, t)
    return spans


def _begun(kind: str, rec: dict[str, Any], t: float) -> FaultSpan:
    span = FaultSpan(
        kind=kind, target=_side(kind), at_s=rec.get("at"), begin_s=t, down_s=None, up_s=None,
        end_s=None, hit=False,
    )  # fmt: skip
    if rec.get("aim"):
        span["aim"] = str(rec["aim"])  # the node or partition shape asked for
    return span


def _phase(span: FaultSpan, phase: str, rec: dict[str, Any], t: float) -> None:
    """One later phase of a fault: down (with what it struck), up, end, or a note."""
    if phase == "down" and span["down_s"] is None:
        span["down_s"] = t
        for key in ("struck", "idle", "held", "node", "pid", "ready", "connections"):
            if key in rec:
                span[key] = rec[key]
    elif phase == "up" and span["up_s"] is None:
        span["up_s"] = t
    elif phase == "end":
        span["end_s"] = t
        if rec.get("error"):
            span["error"] = str(rec["error"])
    elif phase == "note":
        span.setdefault("notes", []).append(str(rec.get("text", "")))


def _side(kind: str) -> str:
    """What a fault of this kind strikes: the broker, or the consuming side."""
    entry = KINDS.get(kind)
    return entry.side if entry is not None else "broker"


def _hit(span: FaultSpan, window: list[float] | None) -> tuple[bool, str]:
    """Whether a fault's down window overlapped `window`, and why not if it did not."""
    carrying = "publishing" if span["target"] == "broker" else "delivering"
    if span["down_s"] is None:
        why = span.get("error") or "; ".join(span.get("notes", [])) or "nothing went down"
        return False, f"missed: {why}"
    if span.get("idle"):
        return False, "missed: it struck a process that held no message"
    if span.get("held"):
        return True, ""  # seen: what went down was processing these messages
    if window is None:
        return False, f"missed: nothing was {carrying}"
    down = span["down_s"]
    up = span["up_s"] if span["up_s"] is not None else span["end_s"]
    start, end = window
    if down > end:
        return False, f"missed {carrying}: down at {down:.2f} s, {carrying} ended at {end:.2f} s"
    if up is not None and up < start:
        return False, f"missed {carrying}: back at {up:.2f} s, {carrying} began at {start:.2f} s"
    return True, ""


def faults_missed(result: Mapping[str, Any]) -> str:
    """'' when every planned fault hit; else what missed, e.g. 'restart@4s missed'."""
    planned = list((result.get("spec") or {}).get("faults") or [])
    seen = result.get("faults") or []
    missed = [
        f"{f['kind']}" + (f"@{f['at_s']:g}s" if f.get("at_s") is not None else "")
        for f in seen
        if not f.get("hit", True)  # results from before `hit` existed: not known to miss
    ]
    missed += [f"{p} (never launched)" for p in planned[len(seen) :]]
    return ", ".join(missed) + (" missed" if missed else "")


def analyse(spans: list[FaultSpan], evidence: Evidence) -> None:
    """When a client first noticed each fault (`noticed_s`: the first publish error
    journaled after it began; `noticed_by`: each producer's first, by producer), then
    each fault kind's own analysis of its spans (its registry entry's `analyse`): what
    the producers did while an alarm blocked them, when a deleted queue's lost messages
    were published, ..."""
    if not spans:
        return
    raised = sorted(t - evidence.base for t in evidence.raised)
    for span in spans:
        first = bisect_left(raised, span["begin_s"])
        span["noticed_s"] = round(raised[first], 3) if first < len(raised) else None
        by = _noticed_by(evidence, span["begin_s"])
        if by:
            span["noticed_by"] = by
        kind = KINDS.get(span["kind"])
        if kind is not None and kind.analyse is not None:
            kind.analyse(span, evidence)


def _noticed_by(evidence: Evidence, begin_s: float) -> dict[str, float]:
    """Each producer's first publish error journaled after `begin_s` (its number, as a
    JSON key, to seconds after the first publish); producers that raised none are left out."""
    found: dict[str, float] = {}
    for p, times in sorted(evidence.raised_by.items()):
        after = [t - evidence.base for t in times if t - evidence.base >= begin_s]
        if after:
            found[str(p)] = round(min(after), 3)
    return found
