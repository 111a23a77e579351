"""A fault of the plan, `KIND@AT[:DOWN][:TARGET]`, parsed and checked by the rules its
kind's registry entry holds."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mqcompare.brokers.base import BrokerControl
from mqcompare.errors import BadInput, InfrastructureError
from mqcompare.faults.kind import NODE_TARGETS, Fault, FaultKind, Param
from mqcompare.faults.registry import KINDS
from mqcompare.faults.strike import refusal
from mqcompare.units import parse_duration

_FAULT = re.compile(r"^([a-z-]+)@(.+)$")
FLAG = "--fault"


def kind_of(name: str, text: str = "") -> FaultKind:
    """The registry entry of fault kind `name`; BadInput naming the kinds there are."""
    try:
        return KINDS[name]
    except KeyError:
        where = f" in {text!r}" if text else ""
        raise BadInput(
            FLAG, f"unknown fault kind {name!r}{where}; allowed: {', '.join(KINDS)}"
        ) from None


def parse_fault(text: str) -> Fault:
    """The fault `text` says, checked by its kind's rules; BadInput saying what is allowed."""
    m = _FAULT.match(text.strip())
    if not m:
        raise BadInput(
            FLAG,
            f"{text!r} is not KIND@AT[:DOWN][:TARGET] (e.g. restart@1s:2s, drop@2s, "
            f"kill@2s:3s:leader, partition@2s:8s:halves)",
        )
    name, rest = m.groups()
    kind = kind_of(name, text)
    parts = rest.split(":")
    at = parse_duration(parts.pop(0), FLAG)
    down = 0.0
    if parts and parts[0][:1].isdigit() and (kind.down != "none" or not kind.params):
        if kind.down == "none":
            raise BadInput(FLAG, f"{name} takes no down time ({text!r}); use {name}@AT")
        down = parse_duration(parts.pop(0), FLAG)
    if kind.down == "required" and not down:
        article = "an" if name[0] in "aeiou" else "a"
        raise BadInput(FLAG, f"{text!r}: {article} {name} needs its duration, {name}@AT:DUR")
    params = tuple(_param(kind, p, parts, text) for p in kind.params)
    target = parts.pop(0) if parts else ""
    if parts:
        raise BadInput(FLAG, f"{text!r} has more parts than {kind.example}")
    _check_target(kind, target, text)
    return Fault(name, at, down, target, params)


def _param(kind: FaultKind, param: Param, parts: list[str], text: str) -> str:
    if not parts:
        raise BadInput(FLAG, f"{text!r}: {kind.name} needs its {param.name}, {kind.example}")
    try:
        return param.parse(parts.pop(0))
    except ValueError as exc:
        raise BadInput(FLAG, f"{text!r}: {param.name}: {exc}") from None


def check_nodes(fault: Fault, nodes: int) -> None:
    """BadInput if the fault's target or kind needs more nodes than the run has."""
    kind = KINDS[fault.kind]
    if nodes < kind.min_nodes:
        raise BadInput(
            FLAG,
            f"{fault}: a {fault.kind} needs a cluster of {kind.min_nodes} or more "
            f"(--cluster {kind.min_nodes})",
        )
    if fault.target.startswith("node") and int(fault.target[4:]) > nodes:
        raise BadInput(FLAG, f"{fault}: the run has {nodes} node(s), so node1..node{nodes}")
    if fault.target == "follower" and nodes < 2:
        raise BadInput(FLAG, f"{fault}: one node has no follower; use --cluster 3")


def _check_target(kind: FaultKind, target: str, text: str) -> None:
    if not target:
        return
    if kind.nodes:
        if target not in NODE_TARGETS and not re.fullmatch(r"node[1-9]", target):
            raise BadInput(
                FLAG,
                f"unknown target {target!r} in {text!r}; allowed: "
                f"{', '.join(NODE_TARGETS)}, node1..nodeN",
            )
    elif kind.targets:
        if target not in kind.targets:
            raise BadInput(
                FLAG,
                f"unknown {kind.name} {kind.target_word} {target!r}; allowed: "
                f"{', '.join(kind.targets)}",
            )
    else:
        raise BadInput(FLAG, f"{kind.name} takes no target ({text!r})")


def require(broker: BrokerControl, kinds: Iterable[str]) -> None:
    """InfrastructureError naming the first fault kind this broker cannot perform, or
    this machine (what it lacks, and what to install)."""
    for name in kinds:
        refused = refusal(KINDS[name], broker) or lacking(name)
        if refused:
            raise InfrastructureError(refused)


def lacking(name: str) -> str:
    """'--fault KIND: what this machine lacks for it' ('' when nothing)."""
    why = machine_lacks(name)
    return f"--fault {name}: {why}" if why else ""


def machine_lacks(name: str) -> str:
    """What this machine lacks to perform fault kind `name`, and what to install."""
    unmet = KINDS[name].unmet
    return unmet() if unmet is not None else ""
