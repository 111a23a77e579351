"""Faults of the consuming side (docs/architecture.md, "Faults"): the counting consumer or
the worker killed with its pool and started again DOWN s later (consumer-kill, and
worker-crash for a stack whose worker is the consumer), or one pool process killed while
it runs a task, as the OOM killer would (worker-kill). They hit when what they struck
held messages, or went down while messages were being delivered."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from mqcompare.consumer_state import busy_with
from mqcompare.faults.kind import Consumers, Context, Evidence, Fault, FaultKind, Process
from mqcompare.journal import read_records
from mqcompare.observe import PhaseLog, pid_alive, wait_for
from mqcompare.result import FaultSpan, RunResult

READY_TIMEOUT_S = 60.0  # a consumer started by a fault must consume within this
BUSY_WAIT_S = 10.0  # how long worker-kill waits for a pool process that runs a task
POOL_BACK_S = 30.0  # a worker replaces a dead pool process within this (celery: 5 s ticks)


def worker_children(pid: int) -> list[int]:
    """The live child processes of `pid` (a celery worker's pool), from /proc. A killed
    child stays listed, a zombie, until its parent reaps it: it is left out."""
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found if pid_alive(int(c))]


def _side(fault: Fault, ctx: Context) -> Consumers:
    if ctx.consumers is None:
        raise RuntimeError(f"{fault}: the run has no consuming side to strike")
    return ctx.consumers


def kill_consumer(fault: Fault, ctx: Context, log: PhaseLog) -> None:
    """SIGKILL the consumer (a worker with its pool), start a new one `down` s later."""
    side = _side(fault, ctx)
    with side.lock:
        victim = side.current()
        if victim is None or not victim.alive():
            log.note("no consumer was running: none was killed")
            return
        processes = [victim.pid, *worker_children(victim.pid)]
        victim.kill()  # returns once it is reaped: gone, observed
        t_down = time.time()
        # their busy files are final now: the messages they were processing when killed
        held = [m for pid in processes if (m := busy_with(side.busy_dir, pid))]
        struck = f"{victim.name} (pid {victim.pid})"
        if held:
            log.down(
                t_down, struck=f"{struck} processing {', '.join(held)}", held=held, pid=victim.pid
            )
        else:
            log.down(t_down, struck=struck, pid=victim.pid)
        side.forget()
    time.sleep(fault.down)
    with side.lock:
        new = side.replace()
    t_up = wait_for(new.ready, READY_TIMEOUT_S, poll=0.05)
    if t_up is None:
        raise RuntimeError(f"{new.name} was not consuming {READY_TIMEOUT_S:g} s after start")
    log.up(t_up)


def _busy_child(side: Consumers) -> tuple[Process, list[int], int] | None:
    """SIGKILL a pool process of the worker that runs a task: the worker, its children
    then, and the victim; None if none ran a task within BUSY_WAIT_S."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while time.monotonic() <= deadline:
        with side.lock:
            worker = side.current()
            children = worker_children(worker.pid) if worker is not None else []
            busy = [pid for pid in children if busy_with(side.busy_dir, pid)]
            if worker is not None and busy:
                os.kill(busy[0], signal.SIGKILL)
                return worker, children, busy[0]
        time.sleep(0.005)
    return None


def kill_worker_child(fault: Fault, ctx: Context, log: PhaseLog) -> None:
    """SIGKILL one pool process of the worker while it runs a task, the way the OOM
    killer would; `down` says which task it held when it died."""
    side = _side(fault, ctx)
    struck = _busy_child(side)
    if struck is None:
        log.note(f"no pool process ran a task within {BUSY_WAIT_S:g} s: none was killed")
        return
    worker, children, victim = struck
    t_down = wait_for(lambda: not pid_alive(victim), 10.0)
    if t_down is None:
        raise RuntimeError(f"pool process {victim} survived SIGKILL")
    held = busy_with(side.busy_dir, victim)  # final now: what it held when it died
    if held:
        log.down(
            t_down, struck=f"pool process {victim} running task {held}", held=[held], pid=victim
        )
    else:
        log.down(t_down, struck=f"pool process {victim}", idle=True, pid=victim)

    # up again when the worker has a new pool process (celery replaces a dead one on
    # its next maintenance tick, every 5 s), or, where the worker ends with its pool
    # process (dramatiq), once the worker started in its place consumes
    def replaced() -> bool:
        with side.lock:
            now = side.current()
        if now is not None and now is not worker:
            return now.ready()
        return bool(set(worker_children(worker.pid)) - set(children))

    log.watch_up(replaced, POOL_BACK_S, "the worker started no new pool process within 30 s")


def came_back(span: FaultSpan, evidence: Evidence) -> None:
    """When the messages the struck process held were delivered again (`came_back`): at
    once on RabbitMQ, whose channel closes with the process; on Redis only once their
    visibility timeout has passed and a consumer swept them back (or never)."""
    held = {tuple(int(x) for x in one.split(":")) for one in span.get("held") or []}
    down_s = span.get("down_s")
    if not held or down_s is None:
        return
    down = evidence.base + down_s
    first: dict[tuple[int, ...], float] = {}
    for path in evidence.files:
        for rec in read_records(path):
            if rec is None or rec.get("ev") != "deliver" or rec["t"] < down:
                continue
            key = (rec["p"], rec["s"])
            if key in held and rec["t"] < first.get(key, float("inf")):
                first[key] = rec["t"]
    after = sorted(t - down for t in first.values())
    span["came_back"] = {
        "held": len(held),
        "delivered_again": len(first),
        "after_s": [round(after[0], 3), round(after[-1], 3)] if after else None,
    }


def _came_back_why(span: FaultSpan, result: RunResult, blocked: str) -> list[str]:
    back = span.get("came_back")
    if not back:
        return []
    if back["after_s"] is None:
        return [
            f"none of the {back['held']} messages the killed process held was delivered "
            f"again before the run ended"
        ]
    low, high = back["after_s"]
    return [
        f"{back['delivered_again']} of the {back['held']} messages the killed process held "
        f"came back {low:.1f}-{high:.1f} s after it died"
    ]


CONSUMER_KILL = FaultKind(
    "consumer-kill", "consumer-kill@2s[:1s]",
    "SIGKILL the consumer (a worker with its pool), start another DOWN s later",
    "consumer", kill_consumer, down="optional", analyse=came_back, explain=_came_back_why,
)  # fmt: skip
WORKER_KILL = FaultKind(
    "worker-kill", "worker-kill@2s", "SIGKILL one pool process while it runs a task",
    "consumer", kill_worker_child, stack_offers=True, analyse=came_back,
    explain=_came_back_why,
)  # fmt: skip
WORKER_CRASH = FaultKind(
    "worker-crash", "worker-crash@2s[:1s]", "SIGKILL the worker with its pool, start another",
    "consumer", kill_consumer, down="optional", stack_offers=True, analyse=came_back,
    explain=_came_back_why,
)  # fmt: skip
KINDS = (CONSUMER_KILL, WORKER_KILL, WORKER_CRASH)
