"""How a result reads: the terminal table of one run (Markdown and HTML come with `matrix`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from mqcompare.environment import broker_label
from mqcompare.errors import BadInput
from mqcompare.outcome import outcome, planned
from mqcompare.result import FaultSpan, RunResult, idle_text
from mqcompare.spans import faults_missed
from mqcompare.stacks import CLIENT_HEARTBEAT_S, ack_policy, options_text


def headline(result: Mapping[str, Any]) -> str:
    spec = result.get("spec", {})
    if not spec:
        return f"journals of run {result.get('run_id', '?')}"
    window = int((spec.get("stack_options") or {}).get("confirm_window", 1))
    confirms = "no confirms"
    if spec.get("confirms"):
        confirms = "confirms" + (f", window {window}" if window > 1 else "")
    if spec.get("broker_protocol") == "redis":  # Redis replies to each push: no confirms
        confirms = redis_text(spec.get("redis_persistence"), spec.get("visibility_timeout_s"))
    faults = " ".join(spec.get("faults", [])) or "no faults"
    queue = spec.get("queue_type", "classic")
    queue = f", {queue} queue" if queue != "classic" else ""
    if int(spec.get("cluster", 1)) > 1:
        queue += f" on {spec['cluster']} nodes"
    if spec.get("dead_letter"):
        queue += " with a dead-letter target"
    if spec.get("poison"):
        queue += f", {spec['poison']} poison"
    extra = protections_text(
        spec.get("mandatory"),
        spec.get("consumer_timeout_s") or 0.0,
        spec.get("heartbeat_s", CLIENT_HEARTBEAT_S),
    )
    extra += options_text(str(spec.get("stack")), spec.get("stack_options") or {})
    return (
        f"{spec.get('stack')} {spec.get('mode')}, {confirms}, {ack_policy(spec)}{queue}"
        f"{extra}, {load_text(spec)}, {faults}"
    )


def load_text(spec: Mapping[str, Any]) -> str:
    """'4 x 600', or for a run that publishes for a time '4 for 8 s'."""
    if spec.get("publish_for_s"):
        return f"{spec.get('producers')} for {float(spec['publish_for_s']):g} s"
    return f"{spec.get('producers')} x {spec.get('messages')}"


def redis_text(persistence: Any, visibility_timeout_s: Any) -> str:
    """'on Redis (aof-always, visibility 6s)': what a run on Redis keeps ('default RDB':
    redis-server's own), and how long a delivered message waits to come back."""
    parts = [str(persistence) if persistence != "default" else "default RDB"] if persistence else []
    if visibility_timeout_s:
        parts.append(f"visibility {float(visibility_timeout_s):g}s")
    return "on Redis" + (f" ({', '.join(parts)})" if parts else "")


def protections_text(
    mandatory: bool | None, consumer_timeout_s: float, heartbeat_s: float = CLIENT_HEARTBEAT_S
) -> str:
    """', mandatory, consumer timeout 1s, heartbeat 30s' for a run that set them ('' for
    the defaults; 'library heartbeat' for the libraries' own)."""
    text = {True: ", mandatory", False: ", not mandatory", None: ""}[mandatory]
    text += f", consumer timeout {consumer_timeout_s:g}s" if consumer_timeout_s else ""
    if heartbeat_s != CLIENT_HEARTBEAT_S:
        text += f", heartbeat {heartbeat_s:g}s" if heartbeat_s else ", library heartbeat"
    return text


def ack_label(spec: dict[str, Any]) -> str:
    """The ack policy for a table cell: "after", "auto", "acks_late"..."""
    return ack_policy(spec).removeprefix("ack ")


def verdict_text(result: RunResult) -> Text:
    """The run's outcome, in words and a colour that says what it means for the messages."""
    found = outcome([result])
    return Text(f"outcome: {found.text}", style=f"bold {OUTCOME_STYLE[found.kind]}")


# the terminal's colour of each outcome kind (mqcompare.outcome.KINDS)
OUTCOME_STYLE = {
    "silent-loss": "red",
    "hang": "magenta",
    "loud-failure": "yellow",
    "looping": "yellow",
    "duplicates": "cyan",
    "exactly-once": "green",
    "intended": "blue",
    "not-tested": "dim",
}


def result_table(result: RunResult) -> Group:
    """What `run` and `check` print: the counts, the faults as observed, the anomalies,
    what was never attempted or never drained, the `why:` lines, the setup, the verdict."""
    parts: list[Any] = [_counts_table(result)]
    errors = result.get("errors") or {}
    if errors:
        parts.append(Text("errors: " + ", ".join(f"{k} {v}" for k, v in errors.items())))
    parts += _fault_lines(result)
    found = cast(Mapping[str, list[str]], result.get("anomalies") or {})
    for name, ids in found.items():
        if ids:
            parts.append(Text(f"{name} (first ids): {' '.join(ids[:10])}", style="dim"))
    parts += _shortfall_lines(result)
    for note in result.get("notes") or []:
        parts.append(Text(f"why: {note}", style="italic"))
    torn = result["counts"]["torn_lines"]
    if torn:
        parts.append(Text(f"torn journal lines: {torn}", style="dim"))
    env = result.get("environment")
    if env:
        parts.append(Text(f"ran on: {environment_text(env)}", style="dim"))
    parts.append(verdict_text(result))
    return Group(*parts)


def _counts_table(result: RunResult) -> Table:
    c, thr, lat = result["counts"], result["throughput"], result["latency_ms"]
    table = Table(
        title=headline(result), title_justify="left", show_header=False, box=None, padding=(0, 2)
    )
    for _ in range(3):
        table.add_column(justify="left")
        table.add_column(justify="right")
    cells = [
        ("attempted", c["attempted"]),
        ("delivered", c["delivered"]),
        ("lost", c["lost"]),
        ("acknowledged", c["acknowledged"]),
        ("unique", c["unique"]),
        ("duplicated", c["duplicated"]),
        ("failed", c["failed"]),
        ("redelivered", c["redelivered"]),
        ("recovered", c["recovered"]),
        ("unknown", c["unknown"]),
        ("reordered", c["reordered"]),
        ("unexpected", c["unexpected"]),
        ("publish/s", f"{thr['publish_per_s']:,.0f}"),
        ("deliver/s", f"{thr['deliver_per_s']:,.0f}"),
        ("failed or open, undelivered", c["not_delivered_unacknowledged"]),
        ("latency p50 ms", f"{lat['p50']:.1f}"),
        ("latency p99 ms", f"{lat['p99']:.1f}"),
        ("extra deliveries", c["extra_deliveries"]),
    ]
    for i in range(0, len(cells), 3):
        row: list[str] = []
        for name, value in cells[i : i + 3]:
            row += [name, f"{value:,}" if isinstance(value, int) else str(value)]
        table.add_row(*row)
    return table


def _fault_lines(result: RunResult) -> list[Text]:
    """The windows and each fault as observed; what missed, which tests no claim."""
    lines = []
    faults = result.get("faults") or []
    if faults:
        windows = result.get("windows") or {}
        pub, dlv = windows.get("publishing"), windows.get("delivering")
        lines.append(
            Text(
                f"publishing {_span(pub)}, delivering {_span(dlv)} (seconds after the first "
                f"publish); faults, as observed:"
            )
        )
        for f in faults:
            lines.append(Text("  " + fault_text(f), style="" if f.get("hit", True) else "yellow"))
    missed = faults_missed(result)
    if missed:
        lines.append(
            Text(f"{missed}: this run tests no claim about its faults", style="bold yellow")
        )
    return lines


def _shortfall_lines(result: RunResult) -> list[Text]:
    """Messages never attempted (producers that hung), and a queue that never drained."""
    lines = []
    spec = result.get("spec") or {}
    missing = planned(result) - result["counts"]["attempted"]
    hung = result.get("producers_stalled")
    if missing > 0 or hung:
        why = (
            f"producers hung: stopped after {spec.get('stall_timeout_s', '?')} s without "
            f"progress (thread stacks in producers.log); "
            if hung
            else ""
        )
        lines.append(
            Text(
                f"{why}{missing:,} of {planned(result):,} messages never attempted",
                style="bold yellow" if hung else "yellow",
            )
        )
    drain = result.get("drain") or {}
    left, held = drain.get("left_in_queue") or 0, drain.get("unacked") or 0
    if drain.get("complete") is False and (left or held):
        holding = f" and {held:,} held unacknowledged by a consumer" if held else ""
        idle = drain.get("idle_s")
        how = f" ({idle_text(idle)})" if idle is not None else ""
        lines.append(
            Text(
                f"the queue did not drain within {spec.get('drain_timeout_s', '?')} s: "
                f"{left:,} messages were still queued{holding}{how}, so what was "
                f"acknowledged among them and never delivered counts as lost",
                style="bold yellow",
            )
        )
    return lines


def environment_text(env: dict[str, Any]) -> str:
    """'RabbitMQ 3.10.8 on Erlang 25.2.3; pika 1.4.4; CPython 3.11.7, 2 CPUs'."""
    libraries = ", ".join(f"{k} {v}" for k, v in (env.get("libraries") or {}).items())
    return "; ".join(
        part
        for part in (
            broker_label(env),
            libraries,
            f"{env.get('python', '?')}, {env.get('cpus', '?')} CPUs",
        )
        if part
    )


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def _span(window: list[float] | None) -> str:
    return "-" if not window else f"{window[0]:.2f}-{window[1]:.2f} s"


def fault_text(f: FaultSpan) -> str:
    """One fault as observed: 'restart@1s: down 1.08-3.41 s (0.08 s late): hit'."""
    at = f"@{f['at_s']:g}s" if f.get("at_s") is not None else ""
    name = f"{f['kind']}{at}" + (f":{f['aim']}" if f.get("aim") else "")
    if f.get("down_s") is None:
        return f"{name}: launched at {f['begin_s']:.2f} s, {f.get('why', 'missed')}"
    late = f", {f['lag_s']:.2f} s after it was due" if f.get("lag_s") is not None else ""
    struck = f", {f['struck']}" if f.get("struck") else ""
    window = f"down {f['down_s']:.2f}-{_seconds(f.get('up_s'))} s{late}{struck}"
    verdict = "hit" if f.get("hit", True) else f.get("why", "missed")
    return (
        f"{name}: {window}: {verdict}"
        + noticed_text(f)
        + (f"; {f['publish_per_s']:,.0f} msg/s meanwhile" if "publish_per_s" in f else "")
        + blocked_text(f.get("blocked"))
        + deleted_text(f)
    )


def noticed_text(f: FaultSpan) -> str:
    """When producers first noticed it: '; first publish error 7.41 s (3 producers,
    7.41-9.02 s)'; '' when none raised after it began."""
    by = f.get("noticed_by") or {}
    if f.get("noticed_s") is None or not by:
        return ""
    first, last = min(by.values()), max(by.values())
    spread = f", {first:.2f}-{last:.2f} s" if len(by) > 1 else ""
    who = f"{len(by)} producer{'s' if len(by) != 1 else ''}"
    return f"; first publish error {f['noticed_s']:.2f} s ({who}{spread})"


def deleted_text(f: FaultSpan) -> str:
    """Where a deleted queue's lost messages went: '; lost 9 sent before it was deleted
    (went with it), 2,935 sent while no queue existed'."""
    lost = f.get("lost")
    if not lost:
        return ""
    parts = [
        f"{lost['with_the_queue']:,} sent before it was deleted (went with it)",
        f"{lost['while_gone']:,} sent while no queue existed",
    ]
    if lost.get("after"):
        parts.append(f"{lost['after']:,} after it was back")
    return "; lost " + ", ".join(parts)


def blocked_text(b: dict[str, Any] | None) -> str:
    """What the producers did during an alarm: '; publishers stalled 5.02 s, publish hung
    (0 returned, 0 raised during the alarm)'."""
    if not b:
        return ""
    return (
        f"; publishers stalled {b['stalled_s']:.2f} s, publish {b['publish']} "
        f"({b['returned']} returned, {b['raised']} raised during the alarm)"
    )


def print_result(result: RunResult, console: Console | None = None) -> None:
    (console or Console()).print(result_table(result))


def load_results(directory: Path) -> list[RunResult]:
    """Every finished run under `directory`, in the order the runs started."""
    if not directory.is_dir():
        raise BadInput("DIRECTORY", f"{directory} is not a directory")
    results = [json.loads(p.read_text()) for p in sorted(directory.rglob("result.json"))]
    if not results:
        raise BadInput("DIRECTORY", f"no result.json under {directory}")
    return sorted(results, key=lambda r: str(r.get("run_id", "")))


SUMMARY_COLUMNS = (
    "stack",
    "mode",
    "confirms",
    "ack",
    "faults",
    "attempted",
    "acked",
    "unique",
    "lost",
    "dup",
    "recovered",
    "errors",
    "publish/s",
    "p99 ms",
    "outcome",
)


def summary_row(result: RunResult) -> list[str]:
    spec, c = result.get("spec", {}), result["counts"]
    errors = list((result.get("errors") or {}).items())
    top = f"{errors[0][0]} {errors[0][1]}" if errors else "-"
    if len(errors) > 1:
        top += f" +{len(errors) - 1}"
    return [
        str(spec.get("stack", "?")),
        str(spec.get("mode", "?")),
        "yes" if spec.get("confirms") else "no",
        ack_label(spec),
        " ".join(spec.get("faults", [])) or "-",
        f"{c['attempted']:,}",
        f"{c['acknowledged']:,}",
        f"{c['unique']:,}",
        f"{c['lost']:,}",
        f"{c['duplicated']:,}",
        f"{c['recovered']:,}",
        top,
        f"{result['throughput']['publish_per_s']:,.0f}",
        f"{result['latency_ms']['p99']:,.0f}",
        outcome([result]).text,
    ]


def summary_table(results: list[RunResult], title: str = "") -> Table:
    table = Table(title=title or None, title_justify="left", box=box.SIMPLE_HEAD)
    numeric = {"attempted", "acked", "unique", "lost", "dup", "recovered", "publish/s", "p99 ms"}
    # the terminal drops "acked" (the Markdown keeps it) so that a row fits a wide terminal
    keep = [i for i, name in enumerate(SUMMARY_COLUMNS) if name != "acked"]
    for i in keep:
        name = SUMMARY_COLUMNS[i]
        wraps = name in ("faults", "errors")  # the long ones wrap; the rest keep their width
        table.add_column(name, justify="right" if name in numeric else "left", no_wrap=not wraps)
    for r in results:
        row = summary_row(r)
        style = OUTCOME_STYLE[outcome([r]).kind]
        table.add_row(*(row[i] for i in keep), style=style if style != "green" else None)
    return table


def markdown_table(results: list[RunResult]) -> str:
    lines = [
        "| " + " | ".join(SUMMARY_COLUMNS) + " |",
        "|" + "|".join("---" for _ in SUMMARY_COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(summary_row(r)) + " |" for r in results]
    return "\n".join(lines) + "\n"
