"""A run's timeline, as Jepsen draws one: publish and delivery rates over time, each fault
shaded from when it was seen down to when it was seen up, errors marked where they were
raised. A small SVG written by hand (a few kilobytes, no fetches), so that a report can hold
one per fault cell and `mqcompare report RUN_DIR` can draw one for a single run."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

W, H = 640, 170
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 22, 34
PUBLISHED, DELIVERED, ERRORS, FAULT = "#3b6fb6", "#2e8b57", "#b3261e", "#f3c5c0"


def _nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10
    for m in (1, 2, 5, 10):
        if m * step >= value:
            return m * step
    return 10 * step


def timeline_svg(result: Mapping[str, Any], title: str = "") -> str:
    """The timeline of one result ('' when it has none: a result from before timelines)."""
    tl = result.get("timeline")
    if not tl or not tl.get("published"):
        return ""
    bin_s = float(tl["bin_s"])
    faults = [f for f in result.get("faults") or [] if f.get("down_s") is not None]
    ends = [float(f.get("up_s") or f.get("end_s") or f["down_s"]) for f in faults]
    span = max([len(tl["published"]) * bin_s, *ends])
    top = _nice_max(max(max(tl["published"]), max(tl["delivered"] or [0])) / bin_s)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + pw * t / span

    def y(rate: float) -> float:
        return TOP + ph * (1 - rate / top)

    out = [
        f'<svg class="chart timeline" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="{escape(title or "timeline")}" font-size="10" '
        f'font-family="sans-serif">'
    ]
    for f in faults:  # shaded first: the lines are drawn over it
        out += _shade(f, span, x)
    out += _axes(span, top, x, y)
    for key, colour in (("published", PUBLISHED), ("delivered", DELIVERED)):
        points = " ".join(
            f"{x((i + 0.5) * bin_s):.1f},{y(c / bin_s):.1f}" for i, c in enumerate(tl[key])
        )
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.4"/>'
        )
    for i, c in enumerate(tl.get("errors") or []):
        if c:
            out.append(
                f'<line x1="{x((i + 0.5) * bin_s):.1f}" x2="{x((i + 0.5) * bin_s):.1f}" '
                f'y1="{TOP + ph}" y2="{TOP + ph - 7}" stroke="{ERRORS}" stroke-width="2">'
                f"<title>{c} errors</title></line>"
            )
    return "".join([*out, *_legend(), "</svg>"])


def _shade(f: Mapping[str, Any], span: float, x: Any) -> list[str]:
    """A fault, shaded from seen down to seen up (or its end), with its kind."""
    down = float(f["down_s"])
    up = f.get("up_s") if f.get("up_s") is not None else f.get("end_s")
    end = float(up) if up is not None else span
    width = max(x(end) - x(down), 1.5)
    return [
        f'<rect x="{x(down):.1f}" y="{TOP}" width="{width:.1f}" height="{H - TOP - BOTTOM}" '
        f'fill="{FAULT}"><title>{escape(f["kind"])} down {down:.2f} s, '
        f"{'up ' + format(end, '.2f') + ' s' if up is not None else 'never seen up'}"
        f"</title></rect>",
        f'<text x="{x(down) + 2:.1f}" y="{TOP + 10}" fill="#6e1109">{escape(f["kind"])}</text>',
    ]


def _legend() -> list[str]:
    legend = (
        (PUBLISHED, "published (acknowledged)"),
        (DELIVERED, "delivered (first time)"),
        (ERRORS, "errors raised"),
        (FAULT, "fault: down to up"),
    )
    out, lx = [], float(LEFT)
    for colour, text in legend:
        out.append(f'<rect x="{lx}" y="4" width="10" height="8" fill="{colour}"/>')
        out.append(f'<text x="{lx + 13}" y="12">{text}</text>')
        lx += 24 + 5.6 * len(text)
    return out


def _axes(span: float, top: float, x: Any, y: Any) -> list[str]:
    ph = H - TOP - BOTTOM
    out = [
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{TOP + ph}" y2="{TOP + ph}" stroke="#555"/>',
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + ph}" stroke="#555"/>',
    ]
    for frac in (0, 0.5, 1):
        rate = top * frac
        out.append(
            f'<text x="{LEFT - 4}" y="{y(rate) + 3:.1f}" text-anchor="end">{rate:,.0f}</text>'
        )
    step = _nice_max(span / 6) if span > 0 else 1.0
    if step / 2 * 6 >= span:
        step /= 2
    t = 0.0
    while t <= span + 1e-9:
        out.append(f'<text x="{x(t):.1f}" y="{TOP + ph + 13}" text-anchor="middle">{t:g}</text>')
        t += step
    out.append(
        f'<text x="{LEFT + (W - LEFT - RIGHT) / 2}" y="{H - 4}" text-anchor="middle">'
        "seconds after the first publish</text>"
    )
    out.append(
        f'<text x="12" y="{TOP + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + ph / 2})">msg/s</text>'
    )
    return out
