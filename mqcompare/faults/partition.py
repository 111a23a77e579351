"""A network partition of a cluster (docs/architecture.md, "Faults"): nftables rules cut
the nodes as Jepsen's shapes say, for DUR seconds; `down` once a probe across the cut
gets no answer, `up` once the cluster is whole again."""

from __future__ import annotations

from mqcompare.brokers.capabilities import Partitions
from mqcompare.brokers.clustered import PARTITION_SHAPES, partition_unmet
from mqcompare.errors import InfrastructureError
from mqcompare.faults.kind import Context, Fault, FaultKind
from mqcompare.observe import PhaseLog


def _partition(fault: Fault, ctx: Context, log: PhaseLog) -> None:
    if not isinstance(ctx.broker, Partitions):
        raise InfrastructureError(f"{fault}: a partition needs a cluster (--cluster 3)")
    ctx.broker.partition(fault.target or "halves", fault.down, log, ctx.queue)


PARTITION = FaultKind(
    "partition", "partition@2s:8s[:SHAPE]", "cut the cluster's network for DUR s",
    "broker", _partition, down="required", targets=PARTITION_SHAPES, target_word="shape",
    needs=Partitions, verb="partitioned", min_nodes=3, unmet=partition_unmet,
)  # fmt: skip
KINDS = (PARTITION,)
