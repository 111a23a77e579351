"""The broker's own protections and an operator's hand, as faults (docs/architecture.md,
"Faults"): a resource alarm raised and cleared (every publishing connection blocked), and
the run's queue deleted. Each is an Erlang expression evaluated on a node, so a private
node, a cluster's node and a container do them alike. Each kind brings its own analysis
for the checker and its `why:` lines for the report."""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Any

from mqcompare.brokers.capabilities import Evaluates
from mqcompare.brokers.erlang import Evaluate, queue_ref, vhost_of
from mqcompare.errors import InfrastructureError
from mqcompare.faults.kind import Context, Evidence, Fault, FaultKind
from mqcompare.faults.strike import on_nodes
from mqcompare.journal import read_records
from mqcompare.observe import PhaseLog, sleep_until
from mqcompare.result import FaultSpan, RunResult, down_up

QUEUE_BACK_TIMEOUT_S = 30.0
# A resource alarm blocks every publishing connection of the cluster (RabbitMQ's memory
# and disk alarms); `alarm@AT:DUR[:memory|disk]`, memory by default
ALARM_RESOURCES = ("memory", "disk")


def raise_alarm(evaluate: Evaluate, resource: str, down: float, log: PhaseLog) -> None:
    """The node's `resource` alarm, as RabbitMQ's memory or disk monitor raises it: every
    publishing connection of the cluster is blocked. `down` when the node lists the alarm,
    cleared `down` seconds later, `up` when it no longer lists it (the node's clock)."""
    alarm = f"{{resource_limit, {resource}, node()}}"
    listed = f"resource_limit,{resource},"

    def alarms_after(call: str) -> tuple[bool, float]:
        answer = evaluate(
            f"{call}, {{rabbit_alarm:get_alarms(), os:system_time(microsecond)}}."
        ).replace(" ", "")
        m = re.fullmatch(r"\{(.*),(\d+)\}", answer, flags=re.S)
        if m is None:
            raise InfrastructureError(f"alarm: unexpected answer {answer!r}")
        return listed in m.group(1), int(m.group(2)) / 1e6

    on, t_down = alarms_after(f"rabbit_alarm:set_alarm({{{alarm}, []}})")
    if not on:
        raise InfrastructureError(f"alarm: the node did not list its {resource} alarm")
    log.down(t_down, struck=f"{resource} alarm")
    try:
        sleep_until(t_down + down)
    finally:  # never leave a node that blocks every publisher behind
        on, t_up = alarms_after(f"rabbit_alarm:clear_alarm({alarm})")
    if on:
        raise InfrastructureError(f"alarm: the node still lists its {resource} alarm")
    log.up(t_up)


def delete_queue(evaluate: Evaluate, url: str, queue: str, log: PhaseLog) -> None:
    """Delete the run's queue, as an operator or a redeploy would: its ready messages go
    with it and its consumers are cancelled. `down` when it is gone (with how many ready
    messages it held), `up` when some client has declared it again."""
    ref = queue_ref(vhost_of(url), queue)
    # the node's clock when the deletion returned (the host's clock: the node runs here or
    # in a container of this host), not when its answer reached us: a message confirmed
    # in between went with the queue
    answer = evaluate(
        f"case rabbit_amqqueue:lookup({ref}) of "
        f'{{ok, Q}} -> {{rabbit_amqqueue:delete(Q, false, false, <<"mqcompare">>), '
        f"os:system_time(microsecond)}}; _ -> absent end."
    )
    if answer == "absent":
        log.note("the queue did not exist: nothing was deleted")
        return
    m = re.fullmatch(r"\{\{ok,(\d+)\},(\d+)\}", answer.replace(" ", ""))
    if m is None:
        raise InfrastructureError(f"queue-delete: unexpected answer {answer!r}")
    held, t_down = int(m.group(1)), int(m.group(2)) / 1e6
    log.down(
        t_down, struck=f"queue with {held} ready message{'s' if held != 1 else ''}", ready=held
    )
    exists = f"case rabbit_amqqueue:lookup({ref}) of {{ok, _}} -> true; _ -> false end."

    def declared_again() -> bool:
        try:
            return evaluate(exists) == "true"
        except InfrastructureError:
            return False

    log.watch_up(
        declared_again,
        QUEUE_BACK_TIMEOUT_S,
        f"no client declared the queue again within {QUEUE_BACK_TIMEOUT_S:g} s",
    )


def blocked(span: FaultSpan, oks: array, raised: array, base: float) -> dict[str, Any]:
    """What the producers did while an alarm blocked them: the longest time in which no
    publish returned `ok` (from the alarm on), how many returned and how many raised
    while it was on, and so whether the stack's publish returned, raised or hung."""
    down, up = down_up(span)
    ok_s = sorted(t - base for t in oks)
    returned = bisect_left(ok_s, up) - bisect_right(ok_s, down)
    raised_n = sum(1 for t in raised if down < t - base < up)
    # the longest stretch without an ok that begins inside the alarm
    marks = [down, *ok_s[bisect_right(ok_s, down) : bisect_right(ok_s, up)]]
    after = bisect_right(ok_s, up)
    ends = ok_s[after] if after < len(ok_s) else None
    stalled, until = 0.0, None
    for a, b in zip(marks, [*marks[1:], ends], strict=True):
        gap = (b if b is not None else up) - a
        if gap > stalled:
            stalled, until = gap, b
    if raised_n:
        publish = "raised"
    elif stalled >= 0.8 * (up - down):
        publish = "hung"  # no publish returned for (nearly) as long as the alarm was on
    else:
        publish = "returned"
    return {
        "stalled_s": round(stalled, 3),
        "resumed_s": round(until, 3) if until is not None else None,
        "returned": returned,
        "raised": raised_n,
        "publish": publish,
    }


def lost_to_deletion(
    files: list[Path], lost: set[tuple[int, int]], span: FaultSpan, base: float
) -> dict[str, int]:
    """The lost messages of a run whose queue was deleted, by when they were last
    published (a second read of the producers' journals, for the lost ids only): before
    the queue was gone (routed to it, so deleted with it, even if confirmed after), while
    it was gone (no queue took them; without mandatory the broker confirms such a message
    all the same), or after it was back."""
    assert span["down_s"] is not None  # analysed only once it went down
    down = base + span["down_s"]
    up = base + span["up_s"] if span["up_s"] is not None else float("inf")
    sent: dict[tuple[int, int], float] = {}
    for path in files:
        for rec in read_records(path):
            if rec is not None and rec.get("ev") == "invoke":
                key = (rec["p"], rec["s"])
                if key in lost:
                    sent[key] = max(rec["t"], sent.get(key, 0.0))
    by_when = {"with_the_queue": 0, "while_gone": 0, "after": 0}
    for t in sent.values():
        by_when["with_the_queue" if t <= down else "while_gone" if t <= up else "after"] += 1
    return by_when


def _alarm(fault: Fault, ctx: Context, log: PhaseLog) -> None:
    # its TARGET is its resource: on a cluster it is raised on the queue's leader (a
    # node's alarm blocks the publishers of every node)
    resource = fault.target or "memory"
    on_nodes(ALARM, ctx, log, "leader", lambda n, lg: raise_alarm(n.eval, resource, fault.down, lg))


def _delete(fault: Fault, ctx: Context, log: PhaseLog) -> None:
    """The queue is the cluster's: its leader deletes it."""
    members = ctx.broker.members()
    at = ctx.broker.nodes_for("leader", ctx.queue)[0]
    node = members[at]
    if not isinstance(node, Evaluates):
        raise InfrastructureError(f"{fault}: {ctx.broker.display_url} cannot delete a queue")
    if len(members) > 1:
        log.note(f"deleted through node{at + 1}")
    delete_queue(node.eval, ctx.broker.url, ctx.queue, log)


def _blocked(span: FaultSpan, ev: Evidence) -> None:
    if span["hit"]:  # producers were there to block
        span["blocked"] = blocked(span, ev.oks, ev.raised, ev.base)


def _deleted(span: FaultSpan, ev: Evidence) -> None:
    if span["down_s"] is not None and ev.lost:
        span["lost"] = lost_to_deletion(ev.files, ev.lost, span, ev.base)


def _alarm_why(span: FaultSpan, result: RunResult, blocked_publish: str) -> list[str]:
    return [
        "a memory or disk alarm blocks every connection that publishes, on every node, "
        "until it clears; consumers go on (RabbitMQ docs, Memory and Disk Alarms); "
        f"here: {blocked_publish}"
    ]


def _deleted_why(span: FaultSpan, result: RunResult, _blocked: str) -> list[str]:
    lost = span.get("lost") or {}
    lines = []
    if lost.get("while_gone"):
        lines.append(
            "a message no queue takes is dropped, and with confirms it is confirmed all the "
            "same, unless it is published mandatory (RabbitMQ docs, Publishers: "
            "unroutable message handling)"
        )
    if any(e.endswith("312 NO_ROUTE") for e in result.get("errors", {})):
        lines.append(
            "published mandatory, a message no queue took came back (Basic.Return, 312 "
            "NO_ROUTE) and was journaled failed, then sent again"
        )
    if lost.get("with_the_queue"):
        lines.append(
            "a queue's messages go with it when it is deleted, those on their way to it "
            "too: they were confirmed, and mandatory cannot bring them back"
        )
    return lines


ALARM = FaultKind(
    "alarm", "alarm@1s:5s[:memory|disk]", "a resource alarm blocks publishers for DUR s",
    "broker", _alarm, down="required", targets=ALARM_RESOURCES, target_word="resource",
    needs=Evaluates, verb="alarmed", analyse=_blocked, explain=_alarm_why,
)  # fmt: skip
QUEUE_DELETE = FaultKind(
    "queue-delete", "queue-delete@2s", "delete the run's queue, as an operator would",
    "broker", _delete, nodes=True, needs=Evaluates, verb="made to delete a queue",
    analyse=_deleted, explain=_deleted_why,
)  # fmt: skip
KINDS = (ALARM, QUEUE_DELETE)
