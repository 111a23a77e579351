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

from mqcompare.environment import broker_label
from mqcompare.files import write_json
from mqcompare.matrix.advice import check_advice
from mqcompare.matrix.grid import changes, counts, grid
from mqcompare.matrix.preset import Preset
from mqcompare.matrix.summary import (
    CellSummary,
    ack_text,
    claim_rows,
    fault_misses,
    run_row,
    summarize,
)
from mqcompare.outcome import KINDS
from mqcompare.report import protections_text
from mqcompare.stacks import CLIENT_HEARTBEAT_S, options_text
from mqcompare.timeline import timeline_svg

COLUMNS = (
    "cell", "stack", "mode", "confirms", "ack", "faults", "runs", "lost", "duplicated",
    "recovered", "errors", "publish/s", "p50 ms", "p99 ms", "outcome", "claim",
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
        + protections_text(
            c.mandatory,
            c.timeouts.get("consumer_timeout_s", 0.0),
            c.timeouts.get("heartbeat_s", CLIENT_HEARTBEAT_S),
        )
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


def results_csv(doc: dict[str, Any]) -> str:
    rows = [run_row(r) for r in doc.get("results", [])]
    return _csv(rows)


def _csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV, with every column any row has (runs differ in error classes and
    libraries): the error classes after `errors`, the library versions last; a row
    without one leaves it empty."""
    buf = io.StringIO()
    if rows:
        seen = list(dict.fromkeys(k for r in rows for k in r))
        errors = [k for k in seen if k.startswith("error:")]
        versions = [k for k in seen if k.endswith("_version")]
        fields = []
        for k in seen:
            if k not in errors and k not in versions:
                fields += [k, *errors] if k == "errors" else [k]
        fields += versions
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def claim_records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every claim judged in every cell that tests it, flat (claims.csv, results.json)."""
    preset = Preset.from_json(doc["preset"])
    records = []
    for s in summarize(doc, preset):
        claims = preset.experiments[s.cell.experiment].claims
        for j in s.judgements:
            claim = claims[j.claim]
            records.append(
                {
                    "claim": j.claim,
                    "says": claim.says,
                    "source": claim.source,
                    "experiment": s.cell.experiment,
                    "cell": s.cell.id,
                    "stack": s.cell.stack,
                    "mode": s.cell.mode,
                    "verdict": j.verdict,
                    "held_runs": j.held_runs,
                    "runs_tested": j.runs,
                    "runs_missed": j.missed,
                    "evidence": "; ".join(j.evidence),
                    "outcome": s.outcome.kind,
                    "outcome_text": s.outcome.text,
                    "safe": s.outcome.safe,
                }
            )
    return records


def _cell_name(s: CellSummary) -> str:
    return f"{s.cell.id} {s.cell.stack} {s.cell.mode}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(doc: dict[str, Any]) -> str:
    preset = Preset.from_json(doc["preset"])
    summaries = summarize(doc, preset)
    out = [f"# mqcompare: {preset.title}", "", _meta_line(doc, preset), ""]
    out += [f"- {line}" for line in ran_on(doc)] + [""]
    if preset.description:
        out += [preset.description, ""]
    out += _status_lines(doc)
    out += _answer_md(preset, summaries)
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


def _answer_md(preset: Preset, summaries: list[CellSummary]) -> list[str]:
    """The answer grid and the advice, checked, as Markdown (report.html's first screen)."""
    stacks, blocks = grid(preset, summaries)
    out = ["## The answer", "", "| question | " + " | ".join(stacks) + " |"]
    out.append("|---" * (len(stacks) + 1) + "|")
    for block in blocks:
        exp = block.experiment
        out.append(f"| **{exp.id}. {_md_escape(exp.title)}** |" + " |" * len(stacks))
        for q in block.questions:
            boxes = [
                "<br>".join(f"{s.cell.id}: {s.verdict()}" for s in q.by_stack.get(stack, []))
                for stack in stacks
            ]
            out.append(f"| {_md_escape(q.label)} | " + " | ".join(boxes) + " |")
    out += ["", *counts(summaries).lines()]
    changed = changes(stacks, blocks)
    if changed or any(", " in c for c in stacks):
        out += ["", "## What changed between brokers", ""]
        out += [f"- {_md_escape(line)}" for line in changed] or ["- No answer changed."]
    out += ["", "## The advice, checked against these results", ""]
    for c in check_advice(summaries):
        against = f" Contradicted by: {c.cells_text(c.against)}." if c.against else ""
        out.append(f"- **{c.verdict}** ({len(c.tested)} cells): {c.advice.says}{against}")
    return [*out, ""]


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
    return (
        f"Preset `{preset.name}` ({preset.source}), {len(preset.cells)} cells x {repeat} "
        f"run{'s' if repeat > 1 else ''}, started {when}, broker {doc.get('broker', '?')}."
    )


def ran_on(doc: dict[str, Any]) -> list[str]:
    """What the matrix ran on, one line each: every broker version with the cells that ran
    on it (a matrix with a Docker cell may have two), then the host and the libraries."""
    by_broker: dict[str, list[str]] = {}
    libraries: dict[str, str] = {}
    for r in doc.get("results", []):
        env = r.get("environment") or {}
        cells = by_broker.setdefault(broker_label(env), [])
        if r.get("cell") and r["cell"] not in cells:
            cells.append(r["cell"])
        libraries.update(env.get("libraries") or _old_versions(r))
    top = doc.get("environment") or {}
    if not by_broker and top:
        by_broker[broker_label(top)] = []
    lines = []
    for label, cells in by_broker.items():
        share = f" ({len(cells)} cells)" if len(by_broker) > 1 else ""
        lines.append(f"Broker: {label}{share}")
    if top:
        made = top.get("mqcompare") or {}
        os_ = top.get("os") or {}
        lines.append(
            f"Host: {top.get('python', '?')}, {os_.get('distribution') or os_.get('system', '?')}"
            f" ({os_.get('release', '?')}), {top.get('cpus', '?')} CPUs {top.get('machine', '')}"
            f"; mqcompare {made.get('version', '?')}"
            + (f" ({made['commit']})" if made.get("commit") else "")
        )
    if libraries:
        lines.append("Libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(libraries.items())))
    return lines


def _old_versions(r: dict[str, Any]) -> dict[str, str]:
    """Library versions of a result from before `environment` (stack_options *_version)."""
    opts = (r.get("spec") or {}).get("stack_options") or {}
    return {
        k.removesuffix("_version").replace("_", "-"): str(v)
        for k, v in opts.items()
        if k.endswith("_version")
    }


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
                "timelines": [
                    (s, timeline_svg(s.runs[0], f"timeline of {s.cell.id}"))
                    for s in cells
                    if s.cell.faults and s.runs
                ],
            }
        )
    grid_stacks, grid_blocks = grid(preset, summaries)
    return env.get_template("report.html.j2").render(
        preset=preset,
        meta=_meta_line(doc, preset),
        ran_on=ran_on(doc),
        status=[line.replace("**", "") for line in _status_lines(doc) if line],
        misses=fault_misses(summaries),
        sections=sections,
        grid_stacks=grid_stacks,
        grid_blocks=grid_blocks,
        versions=any(", " in c for c in grid_stacks),
        changed=changes(grid_stacks, grid_blocks),
        kinds=KINDS,
        summary=counts(summaries).lines(),
        advice=check_advice(summaries),
        columns=COLUMNS,
        verdict_class=lambda v: v.replace(" ", "-"),
        css=resources.files("mqcompare.matrix.templates").joinpath("report.css").read_text(),
    )


def write_reports(doc: dict[str, Any], out: Path) -> list[Path]:
    """results.csv, claims.csv, report.md and report.html in `out`, from the results
    document; results.json gains the claims' verdicts (`claims`)."""
    claims = claim_records(doc)
    doc["claims"] = claims
    write_json(out / "results.json", doc)
    written = []
    for name, text in (
        ("results.csv", results_csv(doc)),
        ("claims.csv", _csv(claims)),
        ("report.md", markdown(doc)),
        ("report.html", html(doc)),
    ):
        (out / name).write_text(text)
        written.append(out / name)
    return written
