"""Journals in, verdict out. The model is Jepsen's total-queue checker: what an
application was told was sent *must* come out; anything else is reported by name.

Every count is defined in docs/architecture.md ("Words"); this module is its executable
form, on the columns history.py reads (sorted id arrays: a set operation is a numpy
call, not a loop over millions of tuples). Fault spans are judged in spans.py, each
with its kind's own analysis."""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from mqcompare.faults.kind import Evidence
from mqcompare.history import FAILED, History, Id
from mqcompare.journal import JournalError, journal_files
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
Keys = np.ndarray  # sorted, unique int64 ids, from Ids


def unique(values: np.ndarray) -> Keys:
    """Sorted, each once: by a sort (numpy 2's np.unique hashes first, several times
    slower on a million ids)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


class NoJournal(ValueError):
    """A directory with no journal in it."""


class Ids:
    """Message ids (p, s) as one int64 each, (p - p0) * span + (s - s0), so that sorting
    the ints sorts the ids and numpy's set routines work on them."""

    def __init__(self, h: History) -> None:
        ps = [np.asarray(a) for a in (h.invoke_p, h.ok_p, h.deliver_p) if len(a)]
        ss = [np.asarray(a) for a in (h.invoke_s, h.ok_s, h.deliver_s) if len(a)]
        rare = [*h.raised_ids, *h.rejects, *h.dead, *h.left]
        lows = [int(a.min()) for a in ps] + [p for p, _ in rare]
        highs = [int(a.max()) for a in ps] + [p for p, _ in rare]
        self.p0, p1 = min(lows, default=0), max(highs, default=0)
        self.s0 = min([int(a.min()) for a in ss] + [s for _, s in rare], default=0)
        s1 = max([int(a.max()) for a in ss] + [s for _, s in rare], default=0)
        self.span = s1 - self.s0 + 1
        if (p1 - self.p0 + 1) * self.span >= 2**63:
            raise JournalError(f"message ids out of range: p {self.p0}..{p1}, s {self.s0}..{s1}")

    def of(self, p: Iterable[int], s: Iterable[int]) -> np.ndarray:
        """The ids of two columns, in their order (not unique)."""
        p_, s_ = np.asarray(p, dtype=np.int64), np.asarray(s, dtype=np.int64)
        return (p_ - self.p0) * self.span + (s_ - self.s0)

    def unique(self, ids: Iterable[Id]) -> Keys:
        pairs = list(ids)
        return unique(self.of([p for p, _ in pairs], [s for _, s in pairs]))

    def pairs(self, keys: np.ndarray) -> list[Id]:
        p, s = np.divmod(keys, self.span)
        return list(zip((p + self.p0).tolist(), (s + self.s0).tolist(), strict=True))

    def sample(self, keys: Keys) -> list[str]:
        return [f"{p}:{s}" for p, s in self.pairs(keys[:SAMPLE])]


class Deliveries:
    """Each delivered id once, in the order first seen, with its first delivery's time."""

    def __init__(self, ids: Ids, h: History) -> None:
        every = ids.of(h.deliver_p, h.deliver_s)
        times = np.asarray(h.deliver_t)
        order = np.argsort(every, kind="stable")
        by_id = every[order]
        starts = np.flatnonzero(np.r_[True, by_id[1:] != by_id[:-1]]) if len(by_id) else order
        self.ids: Keys = by_id[starts]  # sorted, unique
        self.counts = np.diff(np.r_[starts, len(by_id)])
        first = np.minimum.reduceat(times[order], starts) if len(by_id) else times
        seen = np.argsort(order[starts], kind="stable")  # as the journals first had them
        self.first_seen_ids, self.first_times = self.ids[seen], first[seen]
        self.total = len(every)

    def reordered(self, ids: Ids) -> int:
        """First deliveries of a producer's messages that came after a later one of its own
        (a producer's seq is its send order)."""
        keys, times = self.first_seen_ids, self.first_times
        # one consumer journal is already in time order; sort only what several interleave
        if len(times) > 1 and bool(np.any(times[:-1] > times[1:])):
            keys = keys[np.argsort(times, kind="stable")]
        # grouped by producer, in time order within each: an id's int exceeds every id of
        # an earlier producer, so one running maximum restarts at each producer's first id
        by_producer = keys[np.argsort(keys // ids.span, kind="stable")]
        highest = np.maximum.accumulate(by_producer)
        return int(np.count_nonzero(by_producer[1:] < highest[:-1]))


def _rate(count: int, start: float, end: float) -> float:
    span = end - start
    return round(count / span, 1) if count and span > 0 else 0.0


def check_files(files: list[Path]) -> CheckResult:
    """The result (counts, verdict, errors, throughput, latency) of a set of journals."""
    h = History()
    # the few Python objects a read makes hold no cycles: the collector would only rescan
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for path in files:
            h.read(path)
        ids = Ids(h)
        deliveries = Deliveries(ids, h)
        result, lost = _result(h, ids, deliveries)
        lost_ids = set(ids.pairs(lost))
        analyse(
            result["faults"],
            Evidence(h.ok_times, h.raised_times, lost_ids, files, _base(h), h.raised_by),
        )
        return result
    finally:
        if gc_was_enabled:
            gc.enable()


def _base(h: History) -> float:
    """The time spans are measured from: the first publish (the first record without one)."""
    t0 = h.first_invoke if len(h.invoke_p) else h.first_t
    return t0 if t0 != float("inf") else 0.0


def _last(values: np.ndarray | Iterable[float]) -> float:
    arr = np.asarray(values)
    return float(arr.max()) if len(arr) else float("-inf")


def _result(h: History, ids: Ids, deliveries: Deliveries) -> tuple[CheckResult, Keys]:
    """The verdict of a history: its counts, spans, throughput, latency and timeline; and
    the lost ids."""
    counts, anomalies, lost = _counts(h, ids, deliveries)
    valid = counts["lost"] == 0 and counts["unexpected"] == 0
    base = _base(h)
    last_ok, last_deliver = _last(h.ok_times), _last(h.deliver_t)
    windows = Windows(
        publishing=window(h.first_invoke, max(last_ok, h.last_raised), base),
        delivering=window(
            float(deliveries.first_times.min()) if deliveries.total else 0.0, last_deliver, base
        ),
    )
    latencies = np.asarray(h.deliver_t) - np.asarray(h.deliver_sent)
    result = CheckResult(
        format=RESULT_FORMAT,
        run_id=",".join(sorted(r for r in h.run_ids if r)),
        counts=counts,
        verdict=Verdict(valid=valid, exactly_once=valid and counts["duplicated"] == 0),
        errors=dict(sorted(h.errors.items(), key=lambda kv: -kv[1])),
        throughput=Throughput(
            publish_per_s=_rate(counts["acknowledged"], h.first_invoke, last_ok),
            deliver_per_s=_rate(deliveries.total, h.first_invoke, last_deliver),
        ),
        latency_ms=_percentiles(latencies, (50, 95, 99)),
        faults=fault_spans(h.faults, base, windows),
        windows=windows,
        timeline=timeline(h.ok_times, deliveries.first_times, h.raised_times, base),
        duration_s=round(h.last_t - h.first_t, 3) if h.last_t >= h.first_t else 0.0,
        anomalies=anomalies,
    )
    if h.rejects or h.dead or h.left:
        result["poison"] = Poison(
            ids=len(h.rejects),
            rejections=sum(h.rejects.values()),
            most_rejections=max(h.rejects.values(), default=0),
            delivery_count_max=h.delivery_count_max,
            lost=len(np.intersect1d(lost, ids.unique(h.rejects), assume_unique=True)),
            dead_reasons=dict(Counter(h.dead.values())),
        )
    return result, lost


def _counts(h: History, ids: Ids, d: Deliveries) -> tuple[Counts, Anomalies, Keys]:
    """Per message id (docs/architecture.md, "Words"): what was lost, recovered,
    unexpected, duplicated; a sample of the ids of each; and the lost ids."""

    def minus(a: Keys, *others: Keys) -> Keys:
        for b in others:
            a = np.setdiff1d(a, b, assume_unique=True)
        return a

    def both(a: Keys, b: Keys) -> Keys:
        return np.intersect1d(a, b, assume_unique=True)

    attempted = unique(ids.of(h.invoke_p, h.invoke_s))
    acked = unique(ids.of(h.ok_p, h.ok_s))
    delivered = d.ids
    unacked = minus(attempted, acked)
    dead = minus(ids.unique(h.dead), delivered)
    left = minus(ids.unique(h.left), delivered, dead)
    lost = minus(acked, delivered, dead, left)
    recovered = both(unacked, delivered)
    unexpected = minus(delivered, attempted)
    duplicated = both(delivered[d.counts > 1], attempted)
    raised_last = ids.unique(k for k, state in h.raised_ids.items() if state == FAILED)
    failed = len(both(unacked, raised_last))
    counts = Counts(
        attempted=len(attempted),
        acknowledged=len(acked),
        failed=failed,
        unknown=len(unacked) - failed,
        delivered=d.total,
        unique=len(delivered),
        lost=len(lost),
        recovered=len(recovered),
        unexpected=len(unexpected),
        duplicated=len(duplicated),
        extra_deliveries=d.total - len(delivered),
        redelivered=h.redelivered,
        not_delivered_unacknowledged=len(minus(unacked, delivered)),
        reordered=d.reordered(ids),
        torn_lines=h.torn,
        rejected=sum(h.rejects.values()),
        dead_lettered=len(dead),
        left_in_queue=len(left),
    )
    anomalies = Anomalies(
        lost=ids.sample(lost),
        dead_lettered=ids.sample(dead),
        duplicated=ids.sample(duplicated),
        recovered=ids.sample(recovered),
        unexpected=ids.sample(unexpected),
    )
    return counts, anomalies, lost


def _percentiles(values: np.ndarray, points: Iterable[float]) -> dict[str, float]:
    if not len(values):
        return {f"p{p:g}": 0.0 for p in points} | {"max": 0.0}
    ordered = np.sort(values)
    n = len(ordered)
    out = {}
    for p in points:
        # nearest rank: the smallest value with at least p % of the values at or below it
        rank = max(1, -(-int(p * n) // 100))
        out[f"p{p:g}"] = round(float(ordered[min(rank, n) - 1]) * 1000.0, 3)
    out["max"] = round(float(ordered[-1]) * 1000.0, 3)
    return out


Times = Sequence[float] | np.ndarray  # a list, an array("d") or a numpy column
TIMELINE_BINS = 120  # at most: a chart's width in points, about
NICE_BINS_S = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def timeline(oks: Times, delivered: Times, raised: Times, base: float) -> Timeline:
    """Publishes acknowledged, messages first delivered and errors raised, counted per bin
    of `bin_s` seconds from `base` (the first publish): what a run's timeline draws."""
    columns = [np.asarray(x, dtype=np.float64) for x in (oks, delivered, raised)]
    last = max((float(c.max()) for c in columns if len(c)), default=base)
    span = max(last - base, 0.0)
    bin_s = next((b for b in NICE_BINS_S if span / b <= TIMELINE_BINS), NICE_BINS_S[-1])
    n = int(span / bin_s) + 1

    def count(times: np.ndarray) -> list[int]:
        at = np.trunc((times - base) / bin_s)  # as int() does: toward zero
        at = at[(at >= 0) & (at < n)].astype(np.int64)
        return np.bincount(at, minlength=n).tolist()

    published, first, errors = (count(c) for c in columns)
    return Timeline(bin_s=bin_s, published=published, delivered=first, errors=errors)


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
