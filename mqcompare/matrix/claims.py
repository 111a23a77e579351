"""Judging claims: what a claim expects of a run, as predicates over its result, and
whether it held over a cell's runs.

A predicate either reads one run (`loss`: lost > 0) or compares the cell with another
cell of the same experiment and stack (`slower-than:shared-unsafe`: its median publish
rate is lower). A claim holds in a run when every per-run predicate holds; over N runs
it is held (N of N), refuted (0 of N) or held in k of N runs, because fault timing
varies from run to run. A run whose faults did not all hit (docs/architecture.md: a fault's down
window overlapped the window in which what it struck carried messages) tests nothing
about them: it is left out, and a claim with no run left is "not tested"."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from mqcompare.outcome import planned
from mqcompare.result import FaultSpan, RunResult, count, down_up
from mqcompare.spans import faults_missed

Result = RunResult

# a rate this much lower than the other cell's counts as slower (the machines are noisy)
SLOWER_MARGIN = 0.05


def error_count(result: Result) -> int:
    return sum((result.get("errors") or {}).values())


def share(n: int, total: int) -> str:
    """n as a share of total, readable also when tiny: '12 %', '7.7 %', '<0.1 %'."""
    pct = 100.0 * n / total if total else 0.0
    if n and pct < 0.1:
        return "<0.1 %"
    return f"{pct:.0f} %" if pct >= 10 else f"{pct:.1f} %"


def errors_text(errors: dict[str, int], top: int = 3) -> str:
    """The most frequent error classes with their counts: 'StreamLostError 3 +2 more'."""
    ranked = sorted(errors.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k} {v:,}" for k, v in ranked[:top])
    return text + (f" +{len(ranked) - top} more" if len(ranked) > top else "")


def _loss(r: Result) -> tuple[bool, str]:
    c = r["counts"]
    of = c["acknowledged"]
    return c["lost"] > 0, f"{c['lost']:,} lost of {of:,} acknowledged ({share(c['lost'], of)})"


def _short_by(r: Result, percent: float) -> tuple[bool, str]:
    c, total = r["counts"], planned(r)
    missing = total - c["unique"]
    return (
        total > 0 and 100.0 * missing / total >= percent,
        f"{missing:,} of {total:,} never delivered ({share(missing, total)})",
    )


def _short(r: Result) -> tuple[bool, str]:
    c, total = r["counts"], planned(r)
    hung = ", producers hung" if r.get("producers_stalled") else ""
    return c["unique"] < total, f"{c['unique']:,} of {total:,} delivered{hung}"


def _dups(r: Result) -> tuple[bool, str]:
    c = r["counts"]
    return c["duplicated"] > 0, f"{c['duplicated']:,} duplicated"


def _redelivered(r: Result) -> tuple[bool, str]:
    n = r["counts"]["redelivered"]
    return n > 0, f"{n:,} deliveries flagged redelivered"


def _errors(r: Result) -> tuple[bool, str]:
    errors = r.get("errors") or {}
    return bool(error_count(r)), ("errors: " + errors_text(errors)) if errors else "no errors"


def _alarms(r: Result) -> list[FaultSpan]:
    return [f for f in r.get("faults") or [] if f.get("blocked")]


def _blocked(r: Result) -> tuple[bool, str]:
    """Publishers made no progress for at least half of an alarm."""
    spans = _alarms(r)
    if not spans:
        return False, "no alarm hit publishers"
    f = spans[0]
    down, up = down_up(f)
    on = up - down
    stalled = f["blocked"]["stalled_s"]
    return stalled >= 0.5 * on, f"publishers stalled {stalled:.1f} s of a {on:.1f} s alarm"


def _publish_hung(r: Result) -> tuple[bool, str]:
    """No publish returned or raised while the alarm was on: the stack's publish hung."""
    spans = _alarms(r)
    if not spans:
        return False, "no alarm hit publishers"
    b = spans[0]["blocked"]
    return b["publish"] == "hung", (
        f"publish {b['publish']} ({b['returned']:,} returned, {b['raised']:,} raised during "
        f"the alarm)"
    )


def _unroutable_loss(r: Result) -> tuple[bool, str]:
    """Messages sent while the run's queue did not exist were acknowledged and lost."""
    spans = [f for f in r.get("faults") or [] if f["kind"] == "queue-delete" and f.get("hit")]
    if not spans:
        return False, "no queue was deleted while producers published"
    lost = spans[0].get("lost") or {}
    gone, went = lost.get("while_gone", 0), lost.get("with_the_queue", 0)
    return gone > 0, f"{gone:,} lost sent while no queue existed, {went:,} went with the queue"


def _poison(r: Result) -> str:
    p = r.get("poison")
    if p is None:
        return "no poison message was failed"
    most = p["most_rejections"]
    return f"{p['ids']} poison id(s), failed {p['rejections']:,} times (at most {most:,})"


def _poison_dropped(r: Result) -> tuple[bool, str]:
    """The broker dropped poison messages (lost; not still queued, not dead-lettered)."""
    p = r.get("poison")
    return bool(p and p["lost"]), _poison(r) + (f", {p['lost']} dropped" if p else "")


def _poison_looping(r: Result) -> tuple[bool, str]:
    """Poison messages still came back when the drain gave up (no delivery limit)."""
    n = count(r, "left_in_queue")
    return n > 0, _poison(r) + f", {n} still redelivered at the end"


def _dead_lettered(r: Result) -> tuple[bool, str]:
    n = count(r, "dead_lettered")
    return n > 0, f"{n:,} found in the dead-letter queue"


def _came_back(r: Result) -> list[tuple[int, int, list[float] | None]]:
    """(held, delivered again, [first, last] s after) of each consumer fault that held
    messages when it struck (result.py, CameBack)."""
    backs = [f["came_back"] for f in r.get("faults", []) if f.get("came_back")]
    return [(b["held"], b["delivered_again"], b["after_s"]) for b in backs]


def _came_back_after(r: Result, seconds: float) -> tuple[bool, str]:
    """Every message a killed consumer held came back, none sooner than `seconds` after."""
    backs = _came_back(r)
    if not backs:
        return False, "the killed process held no message"
    said = "; ".join(
        f"{again} of {held} came back {after[0]:.1f}-{after[1]:.1f} s after"
        if after
        else f"none of {held} came back"
        for held, again, after in backs
    )
    ok = all(again == held and after and after[0] >= seconds for held, again, after in backs)
    return ok, said


def _negate(f: Callable[[Result], tuple[bool, str]]) -> Callable[[Result], tuple[bool, str]]:
    def g(r: Result) -> tuple[bool, str]:
        held, why = f(r)
        return not held, why

    return g


RUN_PREDICATES: dict[str, Callable[[Result], tuple[bool, str]]] = {
    "loss": _loss,  # silent loss: acknowledged, never delivered
    "no-loss": _negate(_loss),
    "short": _short,  # fewer distinct messages delivered than planned, whatever the reason
    "complete": _negate(_short),
    "duplicates": _dups,
    "no-duplicates": _negate(_dups),
    "redelivered": _redelivered,  # the broker delivered something again
    "errors": _errors,  # the library raised (journaled fail or info records)
    "no-errors": _negate(_errors),
    "blocked": _blocked,  # an alarm stalled the publishers for half its length or more
    "publish-hung": _publish_hung,  # ... and no publish returned or raised meanwhile
    "unroutable-loss": _unroutable_loss,  # acknowledged while no queue existed, lost
    "poison-dropped": _poison_dropped,  # the broker dropped poison messages (--poison)
    "poison-looping": _poison_looping,  # ... or redelivered them until the run ended
    "dead-lettered": _dead_lettered,  # something went to the dead-letter queue
}
COMPARISONS = ("slower-than", "faster-than")
# judged on the cells that differ from this one only in their publish rate (and size)
SERIES = ("loss-grows-with-rate",)
PREDICATES = (
    *RUN_PREDICATES,
    "short-by:PERCENT",
    "came-back-after:SECONDS",  # what a killed consumer held came back, not sooner
    *(f"{c}:MODE|default|no-confirms|window-N" for c in COMPARISONS),
    *SERIES,
)


def parse_predicate(text: str) -> tuple[str, str]:
    """('loss', ''), ('short-by', '10') or ('slower-than', 'shared-unsafe');
    ValueError if unknown."""
    name, _, arg = text.partition(":")
    if (name in RUN_PREDICATES or name in SERIES) and not arg:
        return name, ""
    if name in COMPARISONS and arg:
        return name, arg
    if name in ("short-by", "came-back-after"):
        try:
            low_ok = float(arg) > 0 if name == "short-by" else float(arg) >= 0
            if low_ok and float(arg) <= (100 if name == "short-by" else 86400):
                return name, arg
        except ValueError:
            pass
    raise ValueError(f"unknown predicate {text!r}")


def run_predicate(name: str, arg: str) -> Callable[[Result], tuple[bool, str]] | None:
    """The per-run test of a predicate; None for one that compares cells."""
    if name == "short-by":
        return lambda r: _short_by(r, float(arg))
    if name == "came-back-after":
        return lambda r: _came_back_after(r, float(arg))
    return RUN_PREDICATES.get(name)


@dataclass
class Judgement:
    claim: str
    verdict: str  # held | refuted | mixed | not tested | not judged
    held_runs: int
    runs: int  # the runs it was judged on: finished, every fault hit
    evidence: list[str]
    missed: int = 0  # finished runs left out because a fault missed

    @property
    def label(self) -> str:
        if self.verdict == "mixed":
            return f"held in {self.held_runs} of {self.runs} runs"
        if self.verdict == "not tested":
            return "not tested (fault missed)"
        return self.verdict


def tested(results: list[Result]) -> tuple[list[Result], list[Result]]:
    """(runs a claim can be judged on, finished runs whose faults did not all hit)."""
    finished = [r for r in results if not r.get("interrupted")]
    hit = [r for r in finished if not faults_missed(r)]
    return hit, [r for r in finished if faults_missed(r)]


def median_rate(results: list[Result]) -> float:
    """The runs' median publish rate: while their fault impaired the link, where the fault
    measured it (a slow link's cells compare what the slow link let through)."""
    rates = [_rate(r) for r in results]
    return statistics.median(rates) if rates else 0.0


def _rate(r: Result) -> float:
    under = [f["publish_per_s"] for f in r.get("faults", []) if "publish_per_s" in f]
    return float(under[0] if len(under) == 1 else r["throughput"]["publish_per_s"])


Series = list[tuple[float, list[Result]]]


def _product(r: Result) -> str:
    """The broker a run ran on: 'RabbitMQ' (also for results from before it was said)."""
    return str((r.get("environment") or {}).get("broker_product") or "RabbitMQ")


def _on_version(r: Result, prefix: str) -> bool:
    version = str((r.get("environment") or {}).get("rabbitmq", ""))
    return version == prefix or version.startswith(prefix + ".")


def judge(
    claim_id: str,
    expect: tuple[str, ...],
    results: list[Result],
    peer: Callable[[str], tuple[str, list[Result]] | None],
    series: Callable[[], Series] = list,
    rabbitmq: str = "",
    broker: str = "",
) -> Judgement:
    """Judge one claim over a cell's finished runs; `peer(arg)` gives the name and the
    runs of the cell a comparison names (same experiment, stack, ack and faults);
    `series()` the (rate, runs) of every cell that differs from this one only in rate;
    `rabbitmq`: the versions the claim speaks of (a prefix: "4"), runs on others left out;
    `broker`: the broker it speaks of ("Redis"), runs on another left out."""
    if broker:
        products = {_product(r) for r in results}
        results = [r for r in results if _product(r) == broker]
        if not results and products:
            said = ", ".join(sorted(products))
            return Judgement(
                claim_id, "not judged", 0, 0, [f"a claim about {broker}; ran on {said}"]
            )
    if rabbitmq:
        versions = {str((r.get("environment") or {}).get("rabbitmq", "?")) for r in results}
        results = [r for r in results if _on_version(r, rabbitmq)]
        if not results and versions:
            said = ", ".join(sorted(versions))
            return Judgement(
                claim_id, "not judged", 0, 0, [f"a claim about RabbitMQ {rabbitmq}; ran on {said}"]
            )
    runs, missed = tested(results)
    if not runs:
        if missed:
            text = "; ".join(dict.fromkeys(faults_missed(r) for r in missed))
            evidence = [f"in {len(missed)} of {len(missed)} runs: {text}"]
            return Judgement(claim_id, "not tested", 0, 0, evidence, len(missed))
        return Judgement(claim_id, "not judged", 0, 0, ["no finished run"])
    preds = [parse_predicate(p) for p in expect]
    held = 0
    whys: dict[str, list[str]] = {}
    for r in runs:
        ok = True
        for name, arg in preds:
            test = run_predicate(name, arg)
            if test is not None:
                h, why = test(r)
                ok = ok and h
                whys.setdefault(name, []).append(why)
        held += ok
    # one line per predicate; a repeated cell lists each run's figure once
    evidence = ["; ".join(dict.fromkeys(w)) for w in whys.values()]
    if missed:
        evidence.append(f"{len(missed)} more run(s) not tested: a fault missed")
    verdict = "held" if held == len(runs) else ("refuted" if held == 0 else "mixed")
    for name, arg in preds:
        if name in SERIES:
            grows, why = loss_grows(series())
            if grows is None:
                return Judgement(claim_id, "not judged", held, len(runs), [why])
            evidence.append(why)
            if not grows:  # a cell-wide claim: it fails for every run
                verdict, held = "refuted", 0
        elif name in COMPARISONS:
            found = peer(arg)
            if not found:
                return Judgement(
                    claim_id, "not judged", held, len(runs), [f"no {arg} cell to compare"]
                )
            other_name, other = found
            other = tested(other)[0] or other  # cells compared for speed usually have no faults
            mine, theirs = median_rate(runs), median_rate(other)
            ratio = mine / theirs if theirs else float("inf")
            evidence.append(
                f"publish {mine:,.0f}/s vs {theirs:,.0f}/s for {other_name} (ratio {ratio:.2f})"
            )
            slower = mine < theirs * (1 - SLOWER_MARGIN)
            faster = mine > theirs * (1 + SLOWER_MARGIN)
            if not (slower if name == "slower-than" else faster):  # a cell-wide claim
                verdict, held = "refuted", 0
    return Judgement(claim_id, verdict, held, len(runs), evidence, len(missed))


def loss_share(r: Result) -> float:
    """Lost, as a share of what the producers were told was sent (0.0-1.0)."""
    c = r["counts"]
    return c["lost"] / c["acknowledged"] if c["acknowledged"] else 0.0


def rate_label(rate: float) -> str:
    return "unpaced" if not rate else f"{rate:,.0f}/s"


def loss_grows(series: Series) -> tuple[bool | None, str]:
    """Whether the median share lost never falls as the offered rate rises, and ends
    higher than it starts; None when fewer than two rates have a run whose faults hit.
    The evidence gives the worst run too: a restart catches a different amount each time."""
    points = []
    untested = []
    # unpaced (rate 0) offers the most: it sorts last
    for rate, results in sorted(series, key=lambda p: p[0] or float("inf")):
        shares = [loss_share(r) for r in tested(results)[0]]
        if shares:
            points.append((rate, statistics.median(shares), max(shares)))
        else:
            untested.append(rate_label(rate))

    def pct(v: float) -> str:
        return share(round(v * 1e6), 1_000_000)

    text = ", ".join(
        f"{pct(med)} at {rate_label(r)}" + (f" (worst run {pct(top)})" if top > med else "")
        for r, med, top in points
    )
    if untested:
        text += f"; not tested at {', '.join(untested)}: fault missed"
    if len(points) < 2:
        return None, f"median lost by offered rate: {text or 'no run'}; fewer than two rates tested"
    values = [med for _, med, _ in points]
    grows = all(b >= a for a, b in itertools.pairwise(values)) and values[-1] > values[0]
    return grows, f"median lost by offered rate: {text}"
