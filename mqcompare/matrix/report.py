"""The matrix's reports, all rebuilt from results.json alone: the terminal tables,
results.csv, report.md and report.html (one self-contained file)."""

from __future__ import annotations

import csv
import datetime
import io
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from mqcompare.matrix.preset import Preset
from mqcompare.matrix.summary import (
    CellSummary,
    ack_text,
    claim_rows,
    fault_misses,
    refuted,
    run_row,
    summarize,
)
from mqcompare.report import protections_text
from mqcompare.stacks import STACKS, options_text

COLUMNS = (
    "cell", "stack", "mode", "confirms", "ack", "faults", "runs", "lost", "duplicated",
    "recovered", "errors", "publish/s", "p50 ms", "p99 ms", "verdict", "claim",
)  # fmt: skip


def row(s: CellSummary, errors_top: int = 3, observed: bool = True) -> list[str]:
    """A cell as the files show it; the terminal leaves out the observed fault windows."""
    c = s.cell
    return [
        c.id,
        c.stack,
        c.mode
        + (f" ({c.broker} broker)" if c.broker else "")
        + (f", {c.queue} queue" if c.queue != "classic" or c.cluster > 1 else "")
        + (f", {c.cluster} nodes" if c.cluster > 1 else "")
        + protections_text(c.mandatory, c.timeouts.get("consumer_timeout_s", 0.0))
        + options_text(c.stack, c.options),
        "yes" if c.confirms else "no",
        ack_text(s),
        s.faults_text(observed),
        str(s.n) + (f" (+{len(s.failed)} failed)" if s.failed else ""),
        s.spread("lost"),
        s.spread("duplicated"),
        s.spread("recovered"),
        s.errors_text(top=errors_top),
        f"{s.median(('throughput', 'publish_per_s')):,.0f}" if s.runs else "-",
        f"{s.median(('latency_ms', 'p50')):,.1f}" if s.runs else "-",
        f"{s.median(('latency_ms', 'p99')):,.1f}" if s.runs else "-",
        s.verdict(),
        "; ".join(f"{j.claim}: {j.label}" for j in s.judgements) or "-",
    ]


SHORT_ACK = {
    "after": "",  # every stack's default: not worth a word in a narrow table
    "early ack": "early ack",
    "acks_late": "acks_late",
    "acks_late + reject_on_worker_lost": "acks_late+reject",
}
# the terminal's columns: (heading, column of `row`, least width or 0: never wrapped);
# a 120-column log holds them
TERMINAL = (
    ("cell", "cell", 0), ("stack, mode", "setting", 22), ("faults", "faults", 14),
    ("lost", "lost", 10), ("dup", "duplicated", 10), ("msg/s", "publish/s", 0),
    ("verdict", "verdict", 17),
)  # fmt: skip


def terminal_tables(preset: Preset, summaries: list[CellSummary]) -> list[Group]:
    """One table per experiment, narrower than the files' (120 columns): stack, mode,
    confirms and ack in one column, and each cell's top error class and claims on a line
    of their own below the table; report.md has every column."""
    tables = []
    for exp in preset.experiments.values():
        cells = [s for s in summaries if s.cell.experiment == exp.id]
        if not cells:
            continue
        t = Table(title=f"{exp.id}. {exp.title}", title_justify="left", box=box.SIMPLE_HEAD)
        for heading, _, least in TERMINAL:
            t.add_column(
                heading,
                justify="right" if heading == "msg/s" else "left",
                no_wrap=not least,
                min_width=least or None,
                overflow="fold",
            )
        claims = []
        for s in cells:
            values = dict(zip(COLUMNS, row(s, errors_top=1, observed=False), strict=True))
            ack = SHORT_ACK.get(values["ack"], values["ack"])
            setting = [s.cell.stack, values["mode"], "+confirms" if s.cell.confirms else "", ack]
            values["setting"] = " ".join(part for part in setting if part)
            invalid = s.verdict().startswith("INVALID")
            t.add_row(*(values[col] for _, col, _ in TERMINAL), style="red" if invalid else None)
            below = [f"errors {values['errors']}"] if values["errors"] != "-" else []
            below += [values["claim"]] if values["claim"] != "-" else []
            if below:
                claims.append(f"  {s.cell.id} {'; '.join(below)}")
        tables.append(Group(t, Text("\n".join(claims)) if claims else Text("")))
    return tables


def print_report(console: Console, doc: dict[str, Any]) -> None:
    preset = Preset.from_json(doc["preset"])
    summaries = summarize(doc, preset)
    for t in terminal_tables(preset, summaries):
        console.print(t)
    misses = fault_misses(summaries)
    if misses:
        console.print("[bold yellow]Faults that missed[/bold yellow] (those runs test no claim):")
        for line in misses:
            console.print(f"  {line}", markup=False, highlight=False)
    wrong = refuted(preset, summaries)
    if wrong:
        console.print("[bold]Claims that did not hold:[/bold]")
        for claim, s, j in wrong:
            console.print(
                f"  {_cell_name(s)}: {claim.id} ({claim.source}) {j.label}: "
                f"{'; '.join(j.evidence)}",
                markup=False,
                highlight=False,
            )


def results_csv(doc: dict[str, Any]) -> str:
    rows = [run_row(r) for r in doc.get("results", [])]
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(
            buf, fieldnames=list(rows[0]), lineterminator="\n", extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def _cell_name(s: CellSummary) -> str:
    return f"{s.cell.id} {s.cell.stack} {s.cell.mode}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(doc: dict[str, Any]) -> str:
    preset = Preset.from_json(doc["preset"])
    summaries = summarize(doc, preset)
    out = [f"# mqcompare: {preset.title}", "", _meta_line(doc, preset), ""]
    if preset.description:
        out += [preset.description, ""]
    out += _status_lines(doc)
    misses = fault_misses(summaries)
    if misses:
        out += ["## Faults that missed", ""]
        out += [
            "A fault hits when its target was seen down while it carried messages (the "
            "broker while producers published, a consumer while it delivered). These runs "
            "test no claim about their faults:",
            "",
        ]
        out += [f"- {line}" for line in misses] + [""]
    out += ["## Claims, held or refuted", ""]
    out += [
        "| experiment | claim | source | cell | verdict | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for exp in preset.experiments.values():
        for claim, tested in claim_rows(exp, summaries):
            for n, (s, j) in enumerate(tested):
                said = (exp.id, claim.says, claim.source) if n == 0 else ("", "", "")
                cells_md = (*said, _cell_name(s), j.label, "; ".join(j.evidence))
                out.append("| " + " | ".join(_md_escape(v) for v in cells_md) + " |")
    out.append("")
    for exp in preset.experiments.values():
        cells = [s for s in summaries if s.cell.experiment == exp.id]
        if not cells:
            continue
        out += [f"## {exp.id}. {exp.title}", "", f"**Question.** {exp.question}", ""]
        out += [f"**Protocol.** {exp.protocol}", ""]
        out += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        out += ["| " + " | ".join(_md_escape(v) for v in row(s)) + " |" for s in cells]
        out.append("")
        for claim, tested in claim_rows(exp, cells):
            if not tested:
                continue
            out.append(f"**Claim `{claim.id}`** ({claim.source}): {claim.says}")
            out.append("")
            for s, j in tested:
                out.append(f"- {_cell_name(s)}: **{j.label}**: {'; '.join(j.evidence)}")
            if claim.why:
                out += ["", f"Why: {' '.join(claim.why.split())}"]
            if claim.refs:
                out += ["", "See: " + ", ".join(f"<{u}>" for u in claim.refs)]
            out.append("")
        notes = [s for s in cells if s.cell.note]
        for s in notes:
            out.append(f"- {s.cell.id}: {s.cell.note}")
        if notes:
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _status_lines(doc: dict[str, Any]) -> list[str]:
    lines = []
    if doc.get("interrupted"):
        lines.append("**Interrupted**: the tables hold the cells that finished.")
    for f in doc.get("failed_runs", []):
        lines.append(f"**Run failed**: cell {f['cell']} run {f['repeat']}: {f['error']}")
    return [*lines, ""] if lines else []


def _meta_line(doc: dict[str, Any], preset: Preset) -> str:
    started = doc.get("started_at")
    when = (
        datetime.datetime.fromtimestamp(started, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if started
        else "?"
    )
    repeat = doc.get("repeat", 1)
    versions = _versions(doc)
    return (
        f"Preset `{preset.name}` ({preset.source}), {len(preset.cells)} cells x {repeat} "
        f"run{'s' if repeat > 1 else ''}, started {when}, broker {doc.get('broker', '?')}"
        + (f"; {versions}" if versions else "")
        + "."
    )


def _versions(doc: dict[str, Any]) -> str:
    seen: dict[str, str] = {}
    for r in doc.get("results", []):
        opts = (r.get("spec") or {}).get("stack_options") or {}
        for key, value in opts.items():
            if key.endswith("_version"):
                seen.setdefault(key.removesuffix("_version"), str(value))
    return ", ".join(f"{k} {v}" for k, v in sorted(seen.items()))


def html(doc: dict[str, Any]) -> str:
    from mqcompare.matrix import charts

    preset = Preset.from_json(doc["preset"])
    summaries = summarize(doc, preset)
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("mqcompare.matrix.templates").joinpath(name).read_text()
        ),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    sections: list[dict[str, Any]] = []
    for exp in preset.experiments.values():
        cells = [s for s in summaries if s.cell.experiment == exp.id]
        if not cells:
            continue
        sections.append(
            {
                "exp": exp,
                "rows": [(s, row(s, errors_top=99)) for s in cells],  # every error class
                "claims": [(c, t) for c, t in claim_rows(exp, cells) if t],
                "notes": [s for s in cells if s.cell.note],
                "loss_chart": charts.loss_chart(cells),
                "rate_chart": charts.rate_chart(cells),
                "rate_loss_chart": charts.rate_loss_chart(cells),
                "window_chart": charts.window_chart(cells),
            }
        )
    overview = [(sec["exp"], claim, tested) for sec in sections for claim, tested in sec["claims"]]
    return env.get_template("report.html.j2").render(
        preset=preset,
        meta=_meta_line(doc, preset),
        status=[line.replace("**", "") for line in _status_lines(doc) if line],
        misses=fault_misses(summaries),
        sections=sections,
        overview=overview,
        columns=COLUMNS,
        verdict_class=lambda v: v.replace(" ", "-"),
        stacks=sorted({s.cell.stack for s in summaries}),
        colors={stack: charts.stack_color(stack) for stack in STACKS},
        css=resources.files("mqcompare.matrix.templates").joinpath("report.css").read_text(),
    )


def write_reports(doc: dict[str, Any], out: Path) -> list[Path]:
    """results.csv, report.md and report.html in `out`, from the results document."""
    written = []
    for name, text in (
        ("results.csv", results_csv(doc)),
        ("report.md", markdown(doc)),
        ("report.html", html(doc)),
    ):
        (out / name).write_text(text)
        written.append(out / name)
    return written
