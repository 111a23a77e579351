"""The answer first: a grid of questions (rows) by stacks (columns), each cell the outcome
of that stack on that question, and the counts a reader checks before trusting it.

A question is one entry of a preset: the cells that differ only in their stack. Its label
names only what tells it apart from the other questions of its experiment (faults,
confirms, pacing, retry budget, ...), so that two rows never read the same."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mqcompare.matrix.preset import Cell, Experiment, Preset
from mqcompare.matrix.summary import CellSummary, ack_text
from mqcompare.report import protections_text, redis_text
from mqcompare.spans import faults_missed
from mqcompare.spec import ACK_MODES
from mqcompare.stacks import CLIENT_HEARTBEAT_S, CONFIRM_WINDOW, STACKS, load_stack, options_text

# the words a cell's setting is told in, in reading order; a label keeps those that differ
ALWAYS = ("faults", "confirms")  # named even when every row of an experiment shares them


def words(cell: Cell, ack: str = "") -> dict[str, str]:
    """A cell's setting, piece by piece ('' where it is the usual)."""
    stack = load_stack(cell.stack) if cell.stack in STACKS else None
    window = int(CONFIRM_WINDOW.value(cell.options))
    budget = cell.timeouts.get("retry_budget_s")
    mode = "" if stack is not None and cell.mode == stack.default_mode else cell.mode
    return {
        "mode": mode,
        "ack": "" if ack in ("", "after") else (f"ack {ack}" if ack in ACK_MODES else ack),
        "faults": " ".join(cell.faults),
        "confirms": redis_text(cell.redis_persistence, cell.timeouts.get("visibility_timeout_s"))
        if cell.broker == "redis"
        else ("confirms" + (f", window {window}" if window > 1 else ""))
        if cell.confirms
        else "no confirms",
        "retry": f"retry budget {budget:g} s" if budget is not None else "",
        "consume": "queue read afterwards" if cell.consume == "after" else "",
        "queue": (f"{cell.queue} queue" if cell.queue != "classic" or cell.cluster > 1 else "")
        + (f" on {cell.cluster} nodes, {cell.partition_handling}" if cell.cluster > 1 else ""),
        "poison": ", ".join(
            ([f"{cell.poison} poison"] if cell.poison else [])
            + (["dead-letter target"] if cell.dead_letter else [])
        ),
        "protections": protections_text(
            cell.mandatory,
            cell.timeouts.get("consumer_timeout_s", 0.0),
            cell.timeouts.get("heartbeat_s", CLIENT_HEARTBEAT_S),
        ).removeprefix(", "),
        "options": options_text(cell.stack, cell.options).removeprefix(", "),
        "work": f"{cell.work_ms:g} ms a message" if cell.work_ms else "",
        "broker": f"{cell.broker} broker" if cell.broker not in ("", "redis") else "",
        # last: a terminal cuts a long label here, where it says least
        "load": (
            f"{cell.producers} for {cell.timeouts['publish_for_s']:g} s"
            if cell.timeouts.get("publish_for_s")
            else f"{cell.producers} x {cell.messages:,}"
        )
        + (f" at {cell.rate:g}/s" if cell.rate else " unpaced"),
    }


def _common(members: list[CellSummary]) -> dict[str, str]:
    """The pieces every cell of a question shares ('' where stacks differ); a mode all its
    stacks share is named even where it is some stack's default."""
    pieces = [words(s.cell, ack_text(s)) for s in members]
    common = {k: v if all(p[k] == v for p in pieces) else "" for k, v in pieces[0].items()}
    # a question asked of several brokers: a piece each broker's cells agree on, per
    # broker ("confirms / on Redis (none)")
    by_broker: dict[str, list[dict[str, str]]] = {}
    for s, p in zip(members, pieces, strict=True):
        by_broker.setdefault(s.cell.broker, []).append(p)
    if len(by_broker) > 1:
        for k in [k for k, v in common.items() if not v]:
            said = [{p[k] for p in ps} for ps in by_broker.values()]
            if all(len(one) == 1 for one in said):
                common[k] = " / ".join(dict.fromkeys(v for (v,) in said if v))
    modes = {s.cell.mode for s in members}
    if len(modes) == 1 and any(p["mode"] for p in pieces):
        common["mode"] = modes.pop()
    return common


def differing(
    settings: list[dict[str, str]], always: tuple[str, ...] = (), but: tuple[str, ...] = ()
) -> list[str]:
    """The pieces whose words differ between `settings` (and those `always` named), in
    reading order, leaving out those in `but`: what a label must name."""
    return [
        k
        for k in settings[0]
        if k not in but and (k in always or len({s[k] for s in settings}) > 1)
    ]


def labels(settings: list[dict[str, str]]) -> list[str]:
    """One label per setting, naming the pieces that differ between them (and ALWAYS)."""
    keys = differing(settings, always=ALWAYS)
    return [", ".join(s[k] for k in keys if s[k]) for s in settings]


@dataclass
class Question:
    label: str
    by_stack: dict[str, list[CellSummary]] = field(default_factory=dict)


@dataclass
class Block:
    experiment: Experiment
    questions: list[Question]


def grid(preset: Preset, summaries: list[CellSummary]) -> tuple[list[str], list[Block]]:
    """(the columns, the questions of each experiment as rows). A column is a stack; where
    the cells ran on several brokers or versions, a stack on one ("pika, RabbitMQ 4.0.5",
    "celery, Redis 7.0.15")."""
    versions = list(dict.fromkeys(_version(s) for s in summaries if s.runs))
    # a cell that did not run (skipped) is on the version its image gave the others
    by_image = {s.cell.docker_image: _version(s) for s in summaries if s.runs}

    def column(s: CellSummary) -> str:
        if len(versions) < 2:
            return s.cell.stack
        version = _version(s) if s.runs else by_image.get(s.cell.docker_image, versions[0])
        return f"{s.cell.stack}, {version}"

    # a stack's versions side by side
    columns = [
        c
        for stack in STACKS
        for v in (versions if len(versions) > 1 else [""])
        if (c := f"{stack}, {v}" if v else stack) in {column(s) for s in summaries}
    ]
    blocks = []
    for exp in preset.experiments.values():
        groups: dict[str, list[CellSummary]] = {}
        for s in summaries:
            if s.cell.experiment == exp.id:
                groups.setdefault(s.cell.group or _fallback_group(s.cell), []).append(s)
        if not groups:
            continue
        settings = [_common(members) for members in groups.values()]
        questions = []
        for label, members in zip(labels(settings), groups.values(), strict=True):
            q = Question(label)
            for s in members:
                q.by_stack.setdefault(column(s), []).append(s)
            questions.append(q)
        blocks.append(Block(exp, questions))
    return columns, blocks


def changes(columns: list[str], blocks: list[Block]) -> list[str]:
    """Where one stack's answer to one question differs between brokers or their versions
    (nothing lost, lost, hung, failed loudly, looping, skipped...), in words: 'P. quorum
    queue, 2 poison: pika: RabbitMQ 3.10.8: 2 redelivered for ever, 0 lost; RabbitMQ
    4.0.5: 2 lost silently'."""
    found = []
    for block in blocks:
        for q in block.questions:
            by_stack: dict[str, list[tuple[str, str, str]]] = {}
            for col in columns:
                stack, _, version = col.partition(", ")
                cells = q.by_stack.get(col, [])
                if version and cells:
                    kinds = "+".join(sorted({_answer(s) for s in cells}))
                    text = "; ".join(s.verdict() for s in cells)
                    by_stack.setdefault(stack, []).append((version, kinds, text))
            # stacks whose answers changed alike are named together
            alike: dict[str, list[str]] = {}
            for stack, answers in by_stack.items():
                if len({kinds for _v, kinds, _t in answers}) > 1:
                    said = "; ".join(f"{v}: {text}" for v, _k, text in answers)
                    alike.setdefault(said, []).append(stack)
            for said, stacks in alike.items():
                found.append(f"{block.experiment.id}. {q.label}: {', '.join(stacks)}: {said}")
    return found


def _answer(s: CellSummary) -> str:
    """What a cell's outcome answers, for comparing versions: duplicates and exactly once
    both keep every message; a cell that could not run answers nothing."""
    if not s.runs:
        return "skipped" if s.skipped else "not run"
    return "kept" if s.outcome.safe else s.outcome.kind


def _version(s: CellSummary) -> str:
    """The broker and its version a cell's first run records: 'RabbitMQ 3.10.8', 'Redis
    7.0.15' ('?' before results recorded it)."""
    env = (s.runs[0].get("environment") or {}) if s.runs else {}
    version = env.get("broker_version") or env.get("rabbitmq") or "?"
    return f"{env.get('broker_product') or 'RabbitMQ'} {version}"


def _fallback_group(cell: Cell) -> str:
    """The question of a cell from a results.json written before cells had a group."""
    key: dict[str, Any] = {
        k: v for k, v in words(cell).items() if k not in ("mode", "ack", "options")
    }
    return repr(sorted(key.items()))


@dataclass
class Counts:
    cells: int
    runs: int
    could_not_run: int
    skipped: int  # cells this machine lacked something for
    with_faults: int  # finished runs whose cell plans a fault
    missed: int  # ... in which a fault missed (they test nothing)
    claims: Counter[str]

    def lines(self) -> list[str]:
        c = self.claims
        failed = f", {self.could_not_run} could not run" if self.could_not_run else ""
        skipped = f", {self.skipped} skipped (see why above)" if self.skipped else ""
        return [
            f"{self.cells} cells, {self.runs} runs{failed}{skipped}.",
            f"Faults: every fault hit in {self.with_faults - self.missed} of "
            f"{self.with_faults} runs with faults"
            + (f"; missed in {self.missed} (those test nothing)." if self.missed else "."),
            f"Claims: {c['held']} held, {c['refuted']} refuted, {c['mixed']} held in some "
            f"runs only, {c['not tested']} not tested"
            + (
                f", {c['not judged']} not judged (about another broker or version)."
                if c["not judged"]
                else "."
            ),
        ]


def counts(summaries: list[CellSummary]) -> Counts:
    runs = [r for s in summaries for r in s.runs]
    faulted = [r for s in summaries if s.cell.faults for r in s.runs]
    return Counts(
        cells=len(summaries),
        runs=len(runs),
        could_not_run=sum(len(s.failed) for s in summaries),
        skipped=sum(1 for s in summaries if s.skipped),
        with_faults=len(faulted),
        missed=sum(1 for r in faulted if faults_missed(r)),
        claims=Counter(j.verdict for s in summaries for j in s.judgements),
    )
