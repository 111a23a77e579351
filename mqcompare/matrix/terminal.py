"""What a matrix prints after its last cell: the answer grid, the counts and where the
report is, in at most 40 lines of 100 columns. The full tables are in report.md.

A grid too tall for the screen keeps the questions where some stack did not deliver every
message exactly once, and says how many rows of nothing but "exactly once" it left out."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mqcompare.matrix.advice import check_advice
from mqcompare.matrix.grid import Question, changes, counts, grid
from mqcompare.matrix.overhead import matrix_overhead
from mqcompare.matrix.preset import Preset
from mqcompare.matrix.summary import CellSummary, refuted, summarize
from mqcompare.report import OUTCOME_STYLE

MAX_LINES = 40
WIDTH = 100
# title, header, rule, left out, counts, refuted, advice, time, where: what is not a row
OTHER_LINES = 14


def short(s: CellSummary) -> str:
    """An outcome in ten characters: '742 lost', 'hung', '22 dup', '10 failed', 'ok'."""
    text, kind = s.outcome.text, s.outcome.kind
    found = re.search(r"\d[\d,]*(?:-\d[\d,]*)?", text)
    n = found.group(0) if found else ""
    return {
        "silent-loss": f"{n} lost" if "lost" in text else f"{n} unexp",
        "duplicates": f"{n} dup",
        "loud-failure": f"{n} failed" if "failed" in text else f"{n} short",
        "exactly-once": "ok",
        "hang": "hung",
        "looping": f"{n} loop",
        "intended": f"{n} {s.cell.intended or 'dead'}",
        "not-tested": "not tested" if s.runs else ("failed" if s.failed else "skipped"),
    }[kind]


def _troubled(q: Question) -> bool:
    return any(s.outcome.kind != "exactly-once" for cells in q.by_stack.values() for s in cells)


def grid_table(preset: Preset, summaries: list[CellSummary], rows: int) -> tuple[Table, int]:
    """The grid with at most `rows` lines of questions; how many questions it left out. On
    several broker versions a stack's box holds a line per version, in the header's order."""
    columns, blocks = grid(preset, summaries)
    by_stack: dict[str, list[str]] = {}
    for c in columns:
        by_stack.setdefault(c.partition(", ")[0], []).append(c)
    versions = [c.partition(", ")[2] for c in next(iter(by_stack.values()), [])]
    lines = max(1, len(versions))
    questions = [(b.experiment.id, q) for b in blocks for q in b.questions]
    kept = questions
    if len(questions) * lines > rows:
        kept = [x for x in questions if _troubled(x[1])][: rows // lines]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
    table.add_column(
        "question" + (f"\n({' / '.join(versions)})" if lines > 1 else ""),
        overflow="ellipsis", no_wrap=True, ratio=1,
    )  # fmt: skip
    for stack in by_stack:
        table.add_column(stack, no_wrap=True, overflow="ellipsis", max_width=11)
    for exp, q in kept:
        row: list[Text] = [Text(f"{exp} {q.label}")]
        for cols in by_stack.values():
            box_text = Text()
            for i, col in enumerate(cols):
                cells = q.by_stack.get(col, [])
                style = OUTCOME_STYLE[cells[0].outcome.kind] if cells else ""
                box_text.append(("\n" if i else "") + " ".join(short(s) for s in cells), style)
            row.append(box_text)
        table.add_row(*row)
    return table, len(questions) - len(kept)


def print_summary(console: Console, doc: dict[str, Any], out: Path | None = None) -> None:
    preset = Preset.from_json(doc["preset"])
    summaries = summarize(doc, preset)
    width = min(console.width, WIDTH)
    advice = check_advice(summaries)
    against = [c for c in advice if c.verdict == "contradicted"]
    table, left_out = grid_table(preset, summaries, MAX_LINES - OTHER_LINES - len(against))
    table.width = width
    console.print(Text(f"The answer: {preset.title}", style="bold"), width=width)
    console.print(table, width=width)
    if left_out:
        console.print(
            f"  (+{left_out} questions where every stack delivered exactly once)",
            markup=False,
            highlight=False,
        )
    for line in counts(summaries).lines():
        console.print(line, markup=False, highlight=False, width=width)
    changed = changes(*grid(preset, summaries))
    if changed:  # at most five lines: the report has them all
        console.print(f"Changed between brokers ({len(changed)}):", highlight=False)
        for line in changed[:5]:
            console.print(f"  {line}", markup=False, highlight=False, width=width,
                          overflow="ellipsis", no_wrap=True)  # fmt: skip
    wrong = sorted({f"{s.cell.experiment}:{c.id}" for c, s, _ in refuted(preset, summaries)})
    if wrong:  # at most three lines: the report has each with its evidence
        lines = Text("Refuted: " + ", ".join(wrong)).wrap(console, width)[:3]
        console.print(Text("\n").join(lines), highlight=False, width=width)
    verdicts = Counter(c.verdict for c in advice)
    console.print(
        f"Advice (README): {verdicts['held']} held, {verdicts['contradicted']} contradicted by "
        f"this run, {verdicts['not tested']} not tested.",
        markup=False,
        highlight=False,
        width=width,
    )
    for c in against:
        text = f"  CONTRADICTED {c.advice.id}: {c.cells_text(c.against)}"
        console.print(text, markup=False, highlight=False, width=width, overflow="ellipsis",
                      no_wrap=True, style="bold red")  # fmt: skip
    spent = matrix_overhead(doc)
    if spent is not None:  # time to an answer: what went around the runs (issue 29)
        console.print(f"Time: {spent.text()}.", markup=False, highlight=False, width=width)
    if out is not None:
        console.print(
            f"Open {out / 'report.html'} (the grid links to every cell's evidence); "
            f"full tables in {out / 'report.md'}.",
            markup=False,
            highlight=False,
            soft_wrap=True,  # a long path stays whole, to be copied
        )
