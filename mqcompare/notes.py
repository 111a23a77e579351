"""`why:` lines of a run's result: what each fault kind that hit says of itself (its
registry entry's `explain`), and what the broker's consumer timeout did; each from the
page or user issue that says so."""

from __future__ import annotations

from mqcompare.faults.registry import KINDS
from mqcompare.result import RunResult


def run_notes(result: RunResult, blocked_publish: str) -> list[str]:
    """`blocked_publish` is the stack's own word on what bounds a publish on a blocked
    connection."""
    hit = {f["kind"]: f for f in result.get("faults", []) if f.get("hit")}  # the last of each
    lines: list[str] = []
    for kind in KINDS.values():
        if kind.explain is not None and kind.name in hit:
            lines += kind.explain(hit[kind.name], result, blocked_publish)
    timeout = result["spec"].get("consumer_timeout_s") or 0
    c = result["counts"]
    if timeout and (c.get("redelivered") or c.get("duplicated")):
        lines.append(
            f"the broker closed the channel of a consumer that held a delivery unacked longer "
            f"than {timeout:g} s (PRECONDITION_FAILED, RabbitMQ docs, Consumers: delivery "
            "acknowledgement timeout); what it held was delivered again (celery issue 6760)"
        )
    return lines
