"""Striking the nodes a fault's TARGET names: the broker itself when it is one node, or
the cluster's nodes that the target resolves to now, struck at once, with one log that
is down when the first is down and up when the last is up."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from mqcompare.brokers.base import BrokerControl
from mqcompare.brokers.clustered import each_at_once
from mqcompare.errors import InfrastructureError
from mqcompare.faults.kind import Context, FaultKind
from mqcompare.faults.log import Joint
from mqcompare.observe import PhaseLog

Act = Callable[[Any, PhaseLog], None]


def refusal(kind: FaultKind, broker: object) -> str:
    """'' when `broker` (or every node of it) offers what `kind` needs; else the error."""
    if kind.needs is None or not isinstance(broker, BrokerControl):
        return ""
    if isinstance(broker, kind.needs):
        return ""
    if all(isinstance(m, kind.needs) for m in broker.members()):
        return ""
    if broker.owned:  # one mqcompare runs, of a kind without this control (Redis's alarm)
        return f"--fault {kind.name}: {broker.describe()} cannot be {kind.verb}"
    return (
        f"--fault {kind.name}: the broker {broker.display_url} cannot be {kind.verb} by "
        f"mqcompare (it only controls brokers it runs); use {broker.runs_its_own}"
    )


def on_nodes(kind: FaultKind, ctx: Context, log: PhaseLog, aim: str, act: Act) -> None:
    """Do `act` on each node `aim` names (in parallel on a cluster)."""
    refused = refusal(kind, ctx.broker)
    if refused:
        raise InfrastructureError(refused)
    members = ctx.broker.members()
    targets = ctx.broker.nodes_for(aim, ctx.queue)
    if len(members) == 1:
        act(members[0], log)
        return
    log.note(f"target {aim}: {', '.join(f'node{i + 1}' for i in targets)}")
    joint = Joint(log, [f"node{i + 1}" for i in targets])
    each_at_once([partial(act, members[i], joint.part(i)) for i in targets])
