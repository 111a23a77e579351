"""The report's charts, drawn by matplotlib as inline SVG: text stays text (searchable,
sharp in print) and nothing is fetched when the page opens."""

from __future__ import annotations

import io
import re
import statistics
import textwrap

import matplotlib

matplotlib.use("Agg")  # no display here, and none needed
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mqcompare.matrix.claims import loss_share, rate_label, tested
from mqcompare.matrix.grid import differing, words
from mqcompare.matrix.summary import CellSummary, ack_text
from mqcompare.stacks import CONFIRM_WINDOW, STACKS

# one colour per stack, in the order of the stack table
PALETTE = ("#3b6fb6", "#2e8b57", "#b5473a", "#8a5ab0", "#c08a1e", "#2a9d9d")
OTHER_COLOR = "#777777"


def stack_color(stack: str) -> str:
    names = list(STACKS)
    return PALETTE[names.index(stack) % len(PALETTE)] if stack in names else OTHER_COLOR


plt.rcParams.update(
    {
        "svg.fonttype": "none",  # <text> elements in the page's own font, not paths
        "svg.hashsalt": "mqcompare",  # the same results draw the same file
        "font.family": "sans-serif",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)


def cell_labels(cells: list[CellSummary]) -> list[str]:
    """'2.11 pika restart@1s:1s, no confirms, 10 x 5,000 unpaced': the cell, its stack (and
    mode where it is not the stack's default) and every setting that differs between the
    cells of one chart, so that no two bars read the same."""
    settings = [words(s.cell, ack_text(s)) for s in cells]
    keys = differing(settings, but=("mode",))
    return [
        " ".join(p for p in (s.cell.id, s.cell.stack, w["mode"]) if p)
        + "".join(f", {w[k]}" for k in keys if w[k])
        for s, w in zip(cells, settings, strict=True)
    ]


def _svg(fig: Figure, title: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # inline: no XML prolog or doctype
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)  # matplotlib's RDF
    # scale with the page: drop the fixed size in pt, keep the viewBox
    text = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r"<svg\1", text, count=1)
    return text.replace("<svg", f'<svg role="img" aria-label="{title}" class="chart"', 1)


def loss_chart(cells: list[CellSummary]) -> str:
    """Lost and duplicated messages per cell (median over runs, whiskers min-max)."""
    cells = [s for s in cells if s.runs]
    if not cells:
        return ""
    labels = [textwrap.fill(label, 48, subsequent_indent="  ") for label in cell_labels(cells)]
    colors = [stack_color(s.cell.stack) for s in cells]
    height = 0.9 + (0.38 if any("\n" in label for label in labels) else 0.26) * len(cells)
    # one scale for both: a few duplicates must not look as bad as thousands lost
    fig, axes = plt.subplots(1, 2, figsize=(9.5, height), sharey=True, sharex=True)
    top = max([max(s.values(k)) for s in cells for k in ("lost", "duplicated")] + [1])
    for ax, count, title in zip(axes, ("lost", "duplicated"), ("lost", "duplicated"), strict=True):
        med = [statistics.median(s.values(count)) for s in cells]
        lo = [m - min(s.values(count)) for m, s in zip(med, cells, strict=True)]
        hi = [max(s.values(count)) - m for m, s in zip(med, cells, strict=True)]
        ys = range(len(cells))
        ax.barh(ys, med, color=colors, xerr=[lo, hi], error_kw={"elinewidth": 0.8, "capsize": 2})
        ax.set_title(f"messages {title} (median of runs)", fontsize=9, loc="left")
        ax.set_xlim(0, top * 1.25)
        ax.set_xlabel(f"messages {title}, one scale for both")
        for y, m in zip(ys, med, strict=True):
            ax.annotate(f"{m:,.0f}", (m, y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8)  # fmt: skip
        ax.tick_params(axis="y", length=0)
    axes[0].set_yticks(range(len(cells)), labels)
    axes[0].invert_yaxis()  # shared: the first cell on top in both panels
    return _svg(fig, "lost and duplicated messages per cell")


def rate_chart(cells: list[CellSummary]) -> str:
    """Publish rate without and with confirms, per stack and the rest of its setting (each
    bar one cell; cells that differ only in confirms side by side)."""
    groups: dict[tuple[str, ...], dict[bool, float]] = {}
    settings: dict[tuple[str, ...], dict[str, str]] = {}
    for s in cells:
        if not s.runs:
            continue
        setting = words(s.cell, ack_text(s))
        window = setting["confirms"].partition(", ")[2]  # "window 100", or ""
        setting["confirms"] = window  # the bars of one row differ in confirms alone
        key = (s.cell.stack, s.cell.mode, *setting.values())
        settings[key] = setting
        groups.setdefault(key, {})[s.cell.confirms] = s.median(("throughput", "publish_per_s"))
    if not groups:
        return ""
    keys = list(groups)
    height = 0.9 + 0.38 * len(keys)
    fig, ax = plt.subplots(figsize=(9.5, height))
    bar = 0.38
    for i, key in enumerate(keys):
        color = stack_color(key[0])
        for j, confirms in enumerate((False, True)):
            if confirms not in groups[key]:
                continue
            y = i + (j - 0.5) * bar
            value = groups[key][confirms]
            ax.barh(y, value, height=bar * 0.92, color=color, alpha=1.0 if confirms else 0.45,
                    hatch="" if confirms else "//", edgecolor="white")  # fmt: skip
            ax.annotate(
                f"{value:,.0f}/s {'confirms' if confirms else 'no confirms'}",
                (value, y),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    rows = [settings[k] for k in keys]
    differ = differing(rows, but=("mode",))
    labels = [
        textwrap.fill(
            f"{k[0]} {k[1]}" + "".join(f", {w[d]}" for d in differ if w[d]),
            48,
            subsequent_indent="  ",
        )
        for k, w in zip(keys, rows, strict=True)
    ]
    ax.set_yticks(range(len(keys)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, max(v for g in groups.values() for v in g.values()) * 1.45 or 1)
    both = {c for g in groups.values() for c in g}
    shading = {
        frozenset({False}): "every bar without confirms",
        frozenset({True}): "every bar with confirms",
    }.get(frozenset(both), "pale without confirms, solid with")
    ax.set_title(f"publish rate (median of runs): {shading}", fontsize=9, loc="left")
    ax.set_xlabel("messages published per second, all producers")
    ax.tick_params(axis="y", length=0)
    return _svg(fig, "publish rate with and without confirms")


def rate_loss_chart(cells: list[CellSummary]) -> str:
    """Share lost against offered rate per producer, one line per stack and mode (and the
    rest of the cell), where an experiment varies only the rate; runs whose fault missed
    are left out, as in the claims."""
    groups: dict[tuple[object, ...], list[CellSummary]] = {}
    for s in cells:
        c = s.cell
        key = (c.stack, c.mode, c.confirms, c.ack, c.faults, c.consume, str(c.options))
        groups.setdefault(key, []).append(s)
    groups = {k: v for k, v in groups.items() if len({s.cell.rate for s in v}) >= 2}
    if not groups:
        return ""
    # the offered rates are categories, in order, unpaced (the most) last: a line between
    # 60/s and unpaced would claim a slope nobody measured
    rates = sorted({s.cell.rate for v in groups.values() for s in v}, key=lambda r: r or 1e18)
    x_of = {r: i for i, r in enumerate(rates)}
    # a line's name: its stack and mode, and what else tells it from the other lines
    said = [{k: v for k, v in words(v[0].cell).items() if k != "load"} for v in groups.values()]
    differ = differing(said, but=("mode",))
    names = [", ".join(w[k] for k in differ if w[k]) for w in said]
    fig, ax = plt.subplots(figsize=(9.5, 3.4))
    seen: list[object] = []
    for n, ((stack, mode, *_), summaries) in enumerate(groups.items()):
        points = []
        for s in sorted(summaries, key=lambda s: x_of[s.cell.rate]):
            shares = [100.0 * loss_share(r) for r in tested(s.runs)[0]]
            if shares:
                points.append((x_of[s.cell.rate] + 0.06 * n, shares))
        if not points:
            continue
        xs = [x for x, _ in points]
        med = [statistics.median(v) for _, v in points]
        lo = [m - min(v) for m, (_, v) in zip(med, points, strict=True)]
        hi = [max(v) - m for m, (_, v) in zip(med, points, strict=True)]
        label = f"{stack} {mode}" + (f", {names[n]}" if names[n] else "")
        ax.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=3, linewidth=1.4,
                    color=stack_color(str(stack)), label=label,
                    linestyle=("-", "--", ":", "-.")[seen.count(stack) % 4])  # fmt: skip
        seen.append(stack)  # a second line of the same stack is dashed
        for x, m in zip(xs, med, strict=True):
            if m >= 0.1:  # many lines sit near 0 %: their labels would only overlap
                ax.annotate(f"{m:.2g} %", (x, m), xytext=(4, 4), textcoords="offset points",
                            fontsize=8)  # fmt: skip
    ax.set_xticks(range(len(rates)), [rate_label(r) for r in rates])
    ax.set_xlim(-0.4, len(rates) - 0.4)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("offered rate per producer")
    ax.set_ylabel("lost, % of acknowledged")
    ax.set_title("silent loss against publish rate (median of runs whose fault hit, min-max)",
                 fontsize=9, loc="left")  # fmt: skip
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig, "lost share against offered publish rate")


def window_chart(cells: list[CellSummary]) -> str:
    """Publish rate, and duplicated and lost messages, against the confirm window, one line
    per stack, mode and fault plan, where an experiment varies the window; "none" is the
    same cell without confirms. Runs whose fault missed are left out, as in the claims."""
    groups: dict[tuple[str, str, tuple[str, ...]], dict[int, CellSummary]] = {}
    for s in cells:
        c = s.cell
        window = int(CONFIRM_WINDOW.value(c.options)) if c.confirms else 0
        groups.setdefault((c.stack, c.mode, c.faults), {})[window] = s
    groups = {k: v for k, v in groups.items() if len([w for w in v if w]) >= 2}
    if not groups:
        return ""
    windows = sorted({w for v in groups.values() for w in v})
    x_of = {w: i for i, w in enumerate(windows)}
    # one line style per fault plan (solid: none), one colour per stack
    plans = list(dict.fromkeys(faults for _, _, faults in groups))
    styles = ["-", "--", ":", "-."]
    fig, (rate_ax, dup_ax) = plt.subplots(1, 2, figsize=(9.5, 3.4))
    for (stack, mode, faults), by_window in groups.items():
        label = f"{stack} {mode}" + (f" {' '.join(faults)}" if faults else "")
        style = {"color": stack_color(stack), "marker": "o", "linewidth": 1.4}
        style["linestyle"] = "-" if not faults else styles[1 + plans.index(faults) % 3]
        points = sorted(by_window.items())
        xs = [x_of[w] for w, _ in points]
        rates = [s.median(("throughput", "publish_per_s")) if s.runs else 0.0 for _, s in points]
        rate_ax.plot(xs, rates, label=label, **style)
        harm = []
        for _, s in points:
            runs = tested(s.runs)[0]
            harm.append(
                statistics.median(r["counts"]["duplicated"] + r["counts"]["lost"] for r in runs)
                if runs
                else 0.0
            )
        dup_ax.plot(xs, harm, label=label, **style)
    names = ["none" if w == 0 else str(w) for w in windows]
    for ax, what in ((rate_ax, "publish rate, msg/s"), (dup_ax, "duplicated + lost messages")):
        ax.set_xticks(range(len(windows)), names)
        ax.set_xlabel("confirm window (unconfirmed messages per producer)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{what} (median of runs)", fontsize=9, loc="left")
    rate_ax.legend(fontsize=7, frameon=False)
    return _svg(fig, "publish rate and harm against the confirm window")
