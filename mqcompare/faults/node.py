"""Faults of a broker node (docs/architecture.md, "Faults"): restart, kill, pause and drop
its client connections. On a cluster, TARGET names the nodes (the queue's leader by
default, every node for drop); a broker kind offers each by its capability."""

from __future__ import annotations

import time
from typing import Any

from mqcompare.brokers.capabilities import DropsClients, Kills, Pauses, Restarts
from mqcompare.faults.kind import NODE_TARGETS, Context, Down, Fault, FaultKind, Perform
from mqcompare.faults.strike import on_nodes
from mqcompare.observe import PhaseLog


def _restart(fault: Fault, ctx: Context, log: PhaseLog) -> None:
    on_nodes(RESTART, ctx, log, fault.target or "leader", lambda n, lg: n.restart(fault.down, lg))


def _kill(fault: Fault, ctx: Context, log: PhaseLog) -> None:
    on_nodes(KILL, ctx, log, fault.target or "leader", lambda n, lg: n.kill(fault.down, lg))


def _pause(fault: Fault, ctx: Context, log: PhaseLog) -> None:
    on_nodes(PAUSE, ctx, log, fault.target or "leader", lambda n, lg: n.pause(fault.down, lg))


def drop_connections(node: Any, log: PhaseLog) -> None:
    """Close every client connection of the node; `down` once it has closed them all,
    `up` at once (it kept accepting: clients can reconnect)."""
    count = node.drop_clients()
    t = time.time()
    if count == 0:
        log.note("no client connection was open: nothing was dropped")
        return
    log.down(t, struck=f"{count} connection{'s' if count != 1 else ''}", connections=count)
    log.up(t)


def _drop(fault: Fault, ctx: Context, log: PhaseLog) -> None:
    on_nodes(DROP, ctx, log, fault.target or "all", drop_connections)


def _node_kind(name: str, example: str, text: str, perform: Perform, needs: type, verb: str,
               down: Down = "optional") -> FaultKind:  # fmt: skip
    return FaultKind(
        name, example, text, "broker", perform, down, NODE_TARGETS, nodes=True, needs=needs,
        verb=verb,
    )  # fmt: skip


RESTART = _node_kind("restart", "restart@1s:2s", "stop the broker gracefully, start it DOWN s "
                     "later", _restart, Restarts, "restarted")  # fmt: skip
KILL = _node_kind("kill", "kill@3s:1s", "SIGKILL the broker, start it DOWN s later", _kill,
                  Kills, "killed")  # fmt: skip
PAUSE = _node_kind("pause", "pause@2s:3s", "freeze the broker for DOWN s", _pause, Pauses,
                   "paused")  # fmt: skip
DROP = _node_kind("drop", "drop@2s", "close every client connection", _drop, DropsClients,
                  "made to drop clients", down="none")  # fmt: skip
KINDS = (RESTART, KILL, PAUSE, DROP)
