"""A matrix's results, cell by cell: the spread over repeated runs and each claim's
verdict. Every report (terminal, CSV, Markdown, HTML) reads these summaries."""

from __future__ import annotations

import functools
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from mqcompare.matrix.claims import Judgement, error_count, errors_text, judge, planned, share
from mqcompare.matrix.preset import Cell, Claim, Experiment, Preset
from mqcompare.outcome import Outcome, outcome
from mqcompare.report import ack_label
from mqcompare.result import RunResult
from mqcompare.result import count as count_of
from mqcompare.spans import faults_missed
from mqcompare.stacks import CONFIRM_WINDOW, load_stack

Result = RunResult


@dataclass
class CellSummary:
    cell: Cell
    runs: list[Result]  # finished runs (an interrupted run is kept out)
    failed: list[dict[str, Any]] = field(default_factory=list)  # runs the broker failed
    skipped: str = ""  # why this machine could not run it (the matrix skipped it)
    judgements: list[Judgement] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def planned(self) -> int:
        """What a run asked for (one that publishes for a time: the most it attempted)."""
        asked = self.cell.producers * self.cell.messages
        return max((planned(r) for r in self.runs), default=asked)

    def values(self, count: str) -> list[int]:
        return [count_of(r, count) for r in self.runs]

    def median(self, path: tuple[str, str]) -> float:
        vals = [float(cast(Mapping[str, Any], r)[path[0]][path[1]]) for r in self.runs]
        return statistics.median(vals) if vals else 0.0

    def spread(self, count: str) -> str:
        """'0', '771 (7.7 %)', or over repeats 'in 2 of 3 runs: 12-40 (0.4-1.3 %)'."""
        vals = self.values(count)
        if not vals:
            return "-"
        total = self.planned or 1
        if len(vals) == 1:
            v = vals[0]
            return f"{v:,} ({share(v, total)})" if v else "0"
        hit = [v for v in vals if v]
        if not hit:
            return f"0 in {len(vals)} runs"
        lo, hi = min(hit), max(hit)
        low, high = share(lo, total), share(hi, total)
        shares = high if low == high else f"{low.removesuffix(' %')}-{high}"
        counts = f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"
        return f"in {len(hit)} of {len(vals)} runs: {counts} ({shares})"

    def errors(self) -> dict[str, int]:
        """Error records by class, over all runs (a median would hide rare kinds)."""
        total: dict[str, int] = {}
        for r in self.runs:
            for k, v in (r.get("errors") or {}).items():
                total[k] = total.get(k, 0) + v
        return total

    def errors_text(self, top: int = 3) -> str:
        return errors_text(self.errors(), top) or "-"

    @property
    def missed(self) -> list[Result]:
        """Finished runs in which a fault missed (they test no claim about it)."""
        return [r for r in self.runs if faults_missed(r)]

    def faults_text(self, observed: bool = False) -> str:
        """The fault plan, and in how many runs a fault missed: 'restart@1s:1s (missed in 1
        of 3 runs)'; `observed` adds each fault's down window (median over runs):
        'restart@1s:1s down 1.06-2.41 s'."""
        plan = list(self.cell.faults)
        if observed and self.runs:
            plan = [f"{p} {self._window(i)}" for i, p in enumerate(plan)]
        text = (", " if observed else " ").join(plan) or "-"
        missed = len(self.missed)
        if missed:
            text += f" (missed in {missed} of {self.n} runs)" if self.n > 1 else " (missed)"
        return text

    def _window(self, i: int) -> str:
        """Fault i's observed down window, median over the runs that saw it down."""
        downs: list[float] = []
        ups: list[float] = []
        for r in self.runs:
            seen = r.get("faults") or []
            down = seen[i].get("down_s") if i < len(seen) else None
            if down is not None:
                up = seen[i].get("up_s")
                downs.append(down)
                ups.append(up if up is not None else down)
        if not downs:
            return "never seen down"
        return f"down {statistics.median(downs):.2f}-{statistics.median(ups):.2f} s"

    @property
    def undrained(self) -> int:
        """Runs whose queue still held messages when the drain gave up (a stuck consumer:
        what it never got counts as lost)."""
        return sum(
            1
            for r in self.runs
            if (r.get("drain") or {}).get("complete") is False
            and (r.get("drain") or {}).get("left_in_queue")
        )

    @property
    def outcome(self) -> Outcome:
        if self.skipped.startswith("--"):  # the broker's version cannot answer it
            return Outcome("not-tested", "skipped: " + self.skipped.split("; ")[0].split(": ")[-1])
        if self.skipped:
            return Outcome("not-tested", "not run here: needs " + self.skipped.split(":")[0])
        return outcome(self.runs, len(self.failed), self.cell.intended)

    def verdict(self) -> str:
        """The outcome in words, and whether a run's queue did not drain."""
        text = self.outcome.text
        if self.undrained:
            text += ", not drained" if self.n == 1 else f", not drained in {self.undrained}"
        return text


def ack_text(s: CellSummary) -> str:
    """How the consumer acked: from a run's recorded spec, which holds the stack's
    resolved settings (defaults of the stack's options), else from the cell."""
    spec = (
        s.runs[0]["spec"]
        if s.runs
        else {
            "stack": s.cell.stack,
            "ack": s.cell.ack,
            "stack_options": s.cell.options,
        }
    )
    return ack_label(spec)


def summarize(doc: dict[str, Any], preset: Preset) -> list[CellSummary]:
    by_cell: dict[str, CellSummary] = {c.id: CellSummary(c, []) for c in preset.cells}
    for r in doc.get("results", []):
        s = by_cell.get(r.get("cell", ""))
        if s is not None and not r.get("interrupted"):
            s.runs.append(r)
    for f in doc.get("failed_runs", []):
        if f["cell"] in by_cell:
            by_cell[f["cell"]].failed.append(f)
    for skipped in doc.get("skipped", []):
        if skipped["cell"] in by_cell:
            by_cell[skipped["cell"]].skipped = skipped["why"]
    summaries = list(by_cell.values())
    for s in summaries:
        claims = preset.experiments[s.cell.experiment].claims
        for cid in s.cell.claims:
            peer = functools.partial(_peer, summaries, s.cell)
            series = functools.partial(_by_rate, summaries, s.cell)
            s.judgements.append(
                judge(
                    cid,
                    claims[cid].expect,
                    s.runs,
                    peer,
                    series,
                    claims[cid].rabbitmq,
                    claims[cid].broker,
                )
            )
    return summaries


def _same_but_rate(a: Cell, b: Cell) -> bool:
    keys = (
        "experiment", "stack", "mode", "confirms", "ack", "options", "faults", "consume",
        "queue", "cluster",
    )  # fmt: skip
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def _by_rate(summaries: list[CellSummary], c: Cell) -> list[tuple[float, list[Result]]]:
    """(rate, runs) of the cells that differ from `c` only in rate and size, `c` included."""
    return [(s.cell.rate, s.runs) for s in summaries if _same_but_rate(s.cell, c)]


def _peer(summaries: list[CellSummary], c: Cell, other: str) -> tuple[str, list[Result]] | None:
    """The runs of the cell `slower-than:X` (or `faster-than:X`) names: X is a mode of the
    same stack (`default`: the stack's default mode), `no-confirms` for this cell without
    publisher confirms, or `window-N` for this cell with a confirm window of N; the rest
    of the cell (experiment, ack, faults) the same."""
    mode, confirms, window = c.mode, c.confirms, _window(c)
    if other == "no-confirms":
        confirms, window = False, CONFIRM_WINDOW.default
    elif other.startswith("window-") and other[7:].isdigit():
        window = int(other[7:])
    else:
        mode = other = load_stack(c.stack).default_mode if other == "default" else other
    for s in summaries:
        o = s.cell
        same = (o.experiment, o.stack, o.ack, o.faults, o.queue, o.cluster) == (
            c.experiment, c.stack, c.ack, c.faults, c.queue, c.cluster,
        )  # fmt: skip
        same = same and _without_window(o.options) == _without_window(c.options)
        if same and (o.mode, o.confirms, _window(o)) == (mode, confirms, window) and s.runs:
            return other, s.runs
    return None


def _without_window(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k != CONFIRM_WINDOW.key}


def _window(c: Cell) -> int:
    """The cell's confirm window (1, awaiting each confirm, where it sets none)."""
    return int(CONFIRM_WINDOW.value(c.options))


def claim_rows(
    exp: Experiment, summaries: list[CellSummary]
) -> list[tuple[Claim, list[tuple[CellSummary, Judgement]]]]:
    """Each claim of `exp` with the cells that test it and their verdicts."""
    rows = []
    for claim in exp.claims.values():
        tested = [
            (s, j)
            for s in summaries
            if s.cell.experiment == exp.id
            for j in s.judgements
            if j.claim == claim.id
        ]
        rows.append((claim, tested))
    return rows


def refuted(
    preset: Preset, summaries: list[CellSummary]
) -> list[tuple[Claim, CellSummary, Judgement]]:
    """Wherever a claim did not hold in every run of a cell."""
    return [
        (preset.experiments[s.cell.experiment].claims[j.claim], s, j)
        for s in summaries
        for j in s.judgements
        if j.verdict in ("refuted", "mixed")
    ]


def fault_misses(summaries: list[CellSummary]) -> list[str]:
    """One line per cell in which a fault missed: '2.05 celery shared-app: in 1 of 3 runs:
    restart@4s missed (not tested)'."""
    lines = []
    for s in summaries:
        missed = s.missed
        if missed:
            whys = "; ".join(dict.fromkeys(faults_missed(r) for r in missed))
            lines.append(
                f"{s.cell.id} {s.cell.stack} {s.cell.mode}: in {len(missed)} of {s.n} runs: {whys}"
            )
    return lines


def run_row(r: Result) -> dict[str, Any]:
    """One run as a flat row (results.csv)."""
    spec, c = r.get("spec") or {}, r["counts"]
    return {
        "cell": r.get("cell", ""),
        "repeat": r.get("repeat", 1),
        "run_id": r.get("run_id", ""),
        "stack": spec.get("stack", ""),
        "mode": spec.get("mode", ""),
        "confirms": bool(spec.get("confirms")),
        "ack": ack_label(spec),
        "faults": " ".join(spec.get("faults", [])),
        "faults_missed": faults_missed(r),
        "queue": spec.get("queue_type", "classic"),
        "cluster": spec.get("cluster", 1),
        "producers": spec.get("producers", 0),
        "messages": spec.get("messages", 0),
        "rate": spec.get("rate", 0),
        "planned": planned(r),
        **c,  # every count the checker gives
        "errors_total": error_count(r),
        "errors": ";".join(f"{k}={v}" for k, v in (r.get("errors") or {}).items()),
        # each error class in a column of its own: error:ConnectionResetError
        **{f"error:{k}": v for k, v in (r.get("errors") or {}).items()},
        "publish_per_s": round(r["throughput"]["publish_per_s"], 1),
        "deliver_per_s": round(r["throughput"]["deliver_per_s"], 1),
        "latency_p50_ms": round(r["latency_ms"]["p50"], 2),
        "latency_p99_ms": round(r["latency_ms"]["p99"], 2),
        "outcome": outcome([r]).kind,
        "outcome_text": outcome([r]).text,
        "valid": r["verdict"]["valid"],
        "exactly_once": r["verdict"]["exactly_once"],
        "producers_hung": bool(r.get("producers_stalled")),
        "interrupted": bool(r.get("interrupted")),
        "duration_s": r.get("duration_s", 0),
        **environment_row(r.get("environment") or {}),
    }


def environment_row(env: dict[str, Any]) -> dict[str, Any]:
    """What a run ran on, as flat columns: rabbitmq, erlang, python, cpus, mqcompare and
    one `LIBRARY_version` per client library of the run."""
    made = env.get("mqcompare") or {}
    return {
        "rabbitmq": env.get("rabbitmq", ""),
        "erlang": env.get("erlang", ""),
        "python": env.get("python", ""),
        "cpus": env.get("cpus", ""),
        "mqcompare": " ".join(v for v in (made.get("version"), made.get("commit")) if v),
        **{f"{k}_version": v for k, v in (env.get("libraries") or {}).items()},
    }
