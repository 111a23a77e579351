"""The registry of fault kinds: every family module's kinds, in the order --help lists
them. Adding a fault kind is its module, its line here, its tests and docs."""

from __future__ import annotations

from mqcompare.faults import consumers, link, node, partition, protections
from mqcompare.faults.kind import FaultKind

KINDS: dict[str, FaultKind] = {
    kind.name: kind
    for family in (node, partition, link, consumers, protections)
    for kind in family.KINDS
}
