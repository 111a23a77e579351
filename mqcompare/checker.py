"""Journals in, verdict out. The model is Jepsen's total-queue checker: what an
application was told was sent *must* come out; anything else is reported by name.

Every count is defined in docs/architecture.md ("Words"); this module is its executable
form. Fault spans are judged in spans.py, each with its kind's own analysis."""

from __future__ import annotations

import gc
import itertools
import os
from array import array
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mqcompare.faults.kind import Evidence
from mqcompare.journal import JournalError, check_header, journal_files, read_records
from mqcompare.result import (
    Anomalies,
    CheckResult,
    Counts,
    Poison,
    Throughput,
    Timeline,
    Verdict,
    Windows,
)
from mqcompare.spans import analyse, fault_spans, window

RESULT_FORMAT = "mqcompare.result/1"
SAMPLE = 20  # ids listed per anomaly, so a reader can go and look at them

# Latest state of an attempt, per id, while reading.
_PENDING, _FAILED, _INFO = 0, 1, 2


class NoJournal(ValueError):
    """A directory with no journal in it."""


class _History:
    """What the checker keeps per message id while it reads: ints and sets only."""

    def __init__(self) -> None:
        self.attempted: set[tuple[int, int]] = set()
        self.acked: set[tuple[int, int]] = set()
        self.last: dict[tuple[int, int], int] = {}
        self.deliveries: dict[tuple[int, int], int] = {}
        self.first_delivery: dict[tuple[int, int], float] = {}
        self.latencies = array("d")
        # when each publish returned and each raised: what producers did while blocked
        self.ok_times = array("d")
        self.raised_times = array("d")
        self.raised_by: dict[int, list[float]] = {}  # each producer's errors, in time
        self.redelivered = 0
        self.delivered = 0
        self.errors: dict[str, int] = {}
        self.faults: list[dict[str, Any]] = []
        self.torn = 0
        self.first_invoke = float("inf")
        self.last_ok = float("-inf")
        self.last_outcome = float("-inf")  # the last ok, fail or info: publishing ends
        self.last_deliver = float("-inf")
        self.first_t = float("inf")
        self.last_t = float("-inf")
        self.run_ids: set[str] = set()
        # poison messages: rejects per id and the highest delivery count the broker gave
        # one; what the run found in its dead-letter queue, with the broker's reason
        self.rejects: dict[tuple[int, int], int] = {}
        self.delivery_count_max: int | None = None
        self.dead: dict[tuple[int, int], str] = {}
        self.left: set[tuple[int, int]] = set()
        self.lost: set[tuple[int, int]] = set()  # once judged
        self.base = 0.0  # the time spans are measured from, once judged

    def read(self, path: Path) -> None:
        """Fold one journal into the history; the hot loop of `mqcompare check`."""
        records = read_records(path)
        header = next(records, None)
        if header is None and path.stat().st_size == 0:
            return  # the writer died before its header: nothing was journaled
        check_header(path, header)
        self.run_ids.add(str(header.get("run_id", "")))  # type: ignore[union-attr]
        attempted_add = self.attempted.add
        acked_add = self.acked.add
        last = self.last
        deliveries = self.deliveries
        deliveries_get = deliveries.get
        first_delivery = self.first_delivery
        latencies_append = self.latencies.append
        ok_times_append = self.ok_times.append
        raised_times_append = self.raised_times.append
        errors = self.errors
        first_invoke, last_ok, last_deliver = self.first_invoke, self.last_ok, self.last_deliver
        last_outcome = self.last_outcome
        redelivered = 0
        t = None
        lineno = 1
        rec: dict[str, Any] = {}
        try:
            for rec in records:  # type: ignore[assignment]
                lineno += 1
                if rec is None:
                    self.torn += 1
                    continue
                ev = rec["ev"]
                t = rec["t"]
                if ev == "invoke":
                    key = (rec["p"], rec["s"])
                    attempted_add(key)
                    last[key] = _PENDING
                    if t < first_invoke:
                        first_invoke = t
                elif ev == "ok":
                    acked_add((rec["p"], rec["s"]))
                    ok_times_append(t)
                    if t > last_ok:
                        last_ok = t
                        if t > last_outcome:
                            last_outcome = t
                elif ev == "deliver":
                    key = (rec["p"], rec["s"])
                    n = deliveries_get(key)
                    if n is None:
                        deliveries[key] = 1
                        first_delivery[key] = t
                    else:
                        deliveries[key] = n + 1
                        if t < first_delivery[key]:
                            first_delivery[key] = t
                    latencies_append(t - rec["sent"])
                    if rec["redelivered"]:
                        redelivered += 1
                    if t > last_deliver:
                        last_deliver = t
                elif ev == "fail" or ev == "info":
                    key = (rec["p"], rec["s"])
                    last[key] = _FAILED if ev == "fail" else _INFO
                    err = str(rec["err"])
                    errors[err] = errors.get(err, 0) + 1
                    raised_times_append(t)
                    self.raised_by.setdefault(rec["p"], []).append(t)
                    if t > last_outcome:
                        last_outcome = t
                elif ev == "fault":
                    self.faults.append(rec | {"kind": str(rec["kind"]), "phase": str(rec["phase"])})
                elif ev == "reject" or ev == "dead" or ev == "left":
                    self._poison(ev, rec)
                else:
                    raise JournalError(f"{path}: line {lineno}: unknown event {ev!r}")
                if lineno == 2 and t < self.first_t:
                    self.first_t = t
        except (KeyError, TypeError) as exc:
            raise JournalError(
                f"{path}: line {lineno}: bad {rec.get('ev', 'record')!r} record "
                f"(missing or wrong field {exc})"
            ) from None
        if t is not None and t > self.last_t:
            self.last_t = t
        self.redelivered += redelivered
        self.delivered = sum(deliveries.values())
        self.first_invoke, self.last_ok, self.last_deliver = first_invoke, last_ok, last_deliver
        self.last_outcome = last_outcome

    def _poison(self, ev: str, rec: dict[str, Any]) -> None:
        key = (rec["p"], rec["s"])
        count = rec.get("count")
        if isinstance(count, int) and count > (self.delivery_count_max or -1):
            self.delivery_count_max = count
        if ev == "reject":
            self.rejects[key] = self.rejects.get(key, 0) + 1
        elif ev == "dead":
            self.dead[key] = str(rec["reason"])
        else:
            self.left.add(key)


def _percentiles(values: array, points: Iterable[float]) -> dict[str, float]:
    if not values:
        return {f"p{p:g}": 0.0 for p in points} | {"max": 0.0}
    ordered = sorted(values)
    n = len(ordered)
    out = {}
    for p in points:
        # nearest rank: the smallest value with at least p % of the values at or below it
        rank = max(1, -(-int(p * n) // 100))
        out[f"p{p:g}"] = round(ordered[min(rank, n) - 1] * 1000.0, 3)
    out["max"] = round(ordered[-1] * 1000.0, 3)
    return out


def _reordered(first_delivery: dict[tuple[int, int], float]) -> int:
    highest: dict[int, int] = {}
    count = 0
    items = first_delivery.items()
    times = list(first_delivery.values())
    # One consumer journal is already in time order; sort only what several interleave.
    if any(a > b for a, b in itertools.pairwise(times)):
        items = sorted(items, key=lambda item: item[1])  # type: ignore[assignment]
    for (p, s), _t in items:
        top = highest.get(p)
        if top is not None and s < top:
            count += 1
        else:
            highest[p] = s
    return count


def _sample(ids: set[tuple[int, int]]) -> list[str]:
    return [f"{p}:{s}" for p, s in sorted(ids)[:SAMPLE]]


def _rate(count: int, start: float, end: float) -> float:
    span = end - start
    return round(count / span, 1) if count and span > 0 else 0.0


def check_files(files: list[Path]) -> CheckResult:
    """The result (counts, verdict, errors, throughput, latency) of a set of journals."""
    h = _History()
    # Millions of small tuples and no cycles: the cyclic collector would only rescan them.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for path in files:
            h.read(path)
        result = _result(h)
        analyse(
            result["faults"],
            Evidence(h.ok_times, h.raised_times, h.lost, files, h.base, h.raised_by),
        )
        return result
    finally:
        if gc_was_enabled:
            gc.enable()


def _result(h: _History) -> CheckResult:
    """The verdict of a history: its counts, spans, throughput, latency and timeline."""
    counts, anomalies = _counts(h)
    valid = counts["lost"] == 0 and counts["unexpected"] == 0
    t0 = h.first_invoke if h.attempted else h.first_t
    h.base = t0 if t0 != float("inf") else 0.0
    windows = Windows(
        publishing=window(h.first_invoke, h.last_outcome, h.base),
        delivering=window(min(h.first_delivery.values(), default=0.0), h.last_deliver, h.base),
    )
    result = CheckResult(
        format=RESULT_FORMAT,
        run_id=",".join(sorted(r for r in h.run_ids if r)),
        counts=counts,
        verdict=Verdict(valid=valid, exactly_once=valid and counts["duplicated"] == 0),
        errors=dict(sorted(h.errors.items(), key=lambda kv: -kv[1])),
        throughput=Throughput(
            publish_per_s=_rate(len(h.acked), h.first_invoke, h.last_ok),
            deliver_per_s=_rate(h.delivered, h.first_invoke, h.last_deliver),
        ),
        latency_ms=_percentiles(h.latencies, (50, 95, 99)),
        faults=fault_spans(h.faults, h.base, windows),
        windows=windows,
        timeline=timeline(h.ok_times, h.first_delivery.values(), h.raised_times, h.base),
        duration_s=round(h.last_t - h.first_t, 3) if h.last_t >= h.first_t else 0.0,
        anomalies=anomalies,
    )
    if h.rejects or h.dead or h.left:
        result["poison"] = Poison(
            ids=len(h.rejects),
            rejections=sum(h.rejects.values()),
            most_rejections=max(h.rejects.values(), default=0),
            delivery_count_max=h.delivery_count_max,
            lost=len(h.lost & h.rejects.keys()),
            dead_reasons=dict(Counter(h.dead.values())),
        )
    return result


def _counts(h: _History) -> tuple[Counts, Anomalies]:
    """Per message id (docs/architecture.md, "Words"): what was lost, recovered,
    unexpected, duplicated; and a sample of the ids of each."""
    delivered_ids = h.deliveries.keys()
    unacked = h.attempted - h.acked
    dead = h.dead.keys() - delivered_ids
    left = h.left - delivered_ids - dead
    h.lost = lost = h.acked - delivered_ids - dead - left
    recovered = unacked & delivered_ids
    unexpected = delivered_ids - h.attempted
    duplicated = {k for k, n in h.deliveries.items() if n > 1 and k in h.attempted}
    failed = sum(1 for k in unacked if h.last.get(k) == _FAILED)
    counts = Counts(
        attempted=len(h.attempted),
        acknowledged=len(h.acked),
        failed=failed,
        unknown=len(unacked) - failed,
        delivered=h.delivered,
        unique=len(h.deliveries),
        lost=len(lost),
        recovered=len(recovered),
        unexpected=len(unexpected),
        duplicated=len(duplicated),
        extra_deliveries=h.delivered - len(h.deliveries),
        redelivered=h.redelivered,
        not_delivered_unacknowledged=len(unacked - delivered_ids),
        reordered=_reordered(h.first_delivery),
        torn_lines=h.torn,
        rejected=sum(h.rejects.values()),
        dead_lettered=len(dead),
        left_in_queue=len(left),
    )
    anomalies = Anomalies(
        lost=_sample(lost),
        dead_lettered=_sample(set(dead)),
        duplicated=_sample(duplicated),
        recovered=_sample(recovered),
        unexpected=_sample(unexpected),
    )
    return counts, anomalies


TIMELINE_BINS = 120  # at most: a chart's width in points, about
NICE_BINS_S = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def timeline(
    oks: Iterable[float], delivered: Iterable[float], raised: Iterable[float], base: float
) -> Timeline:
    """Publishes acknowledged, messages first delivered and errors raised, counted per bin
    of `bin_s` seconds from `base` (the first publish): what a run's timeline draws."""
    oks, delivered, raised = list(oks), list(delivered), list(raised)
    last = max((max(x, default=base) for x in (oks, delivered, raised)), default=base)
    span = max(last - base, 0.0)
    bin_s = next((b for b in NICE_BINS_S if span / b <= TIMELINE_BINS), NICE_BINS_S[-1])
    n = int(span / bin_s) + 1

    def count(times: list[float]) -> list[int]:
        bins = [0] * n
        for t in times:
            i = int((t - base) / bin_s)
            if 0 <= i < n:
                bins[i] += 1
        return bins

    return Timeline(
        bin_s=bin_s, published=count(oks), delivered=count(delivered), errors=count(raised)
    )


def check_dirs(dirs: list[str | os.PathLike[str]]) -> CheckResult:
    """check_files over every journal of every directory; NoJournal if one has none."""
    files: list[Path] = []
    for d in dirs:
        if not Path(d).is_dir():
            raise NoJournal(f"{d}: not a directory")
        found = journal_files(d)
        if not found:
            raise NoJournal(f"{d}: no journal (*.jsonl) in it or in its journal/ folder")
        files.extend(found)
    return check_files(files)


__all__ = ["JournalError", "NoJournal", "check_dirs", "check_files"]
