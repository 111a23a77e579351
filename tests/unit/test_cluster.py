"""Pure logic of clusters: the fault grammar's targets and shapes, which node hears which
under each partition shape, where clients are placed, and the presets' cluster cells."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqcompare.brokers.clustered import PARTITION_SHAPES, shape_grudge
from mqcompare.errors import BadInput
from mqcompare.faults.plan import parse_fault
from mqcompare.matrix.preset import load_preset
from mqcompare.placement import rotate
from mqcompare.runner import place
from mqcompare.spec import RunSpec
from mqcompare.stacks import STACKS, load_stack


@pytest.mark.parametrize(
    ("text", "down", "target"),
    [
        ("kill@2s:3s:leader", 3.0, "leader"),
        ("kill@2s:leader", 0.0, "leader"),
        ("pause@2s:5s:node2", 5.0, "node2"),
        ("restart@1s:1s:follower", 1.0, "follower"),
        ("drop@1s:all", 0.0, "all"),
        ("partition@2s:8s:majorities-ring", 8.0, "majorities-ring"),
        ("partition@2s:8s", 8.0, ""),
    ],
)
def test_fault_targets_parse_and_print_back(text: str, down: float, target: str) -> None:
    fault = parse_fault(text)
    assert (fault.down, fault.target) == (down, target)
    assert parse_fault(str(fault)) == fault


@pytest.mark.parametrize(
    "text",
    [
        "partition@2s",  # no duration
        "partition@2s:8s:thirds",
        "kill@2s:3s:captain",
        "consumer-kill@1s:1s:leader",  # a consumer has no node
        "kill@2s:3s:leader:extra",
    ],
)
def test_bad_targets_are_refused_naming_the_flag(text: str) -> None:
    with pytest.raises(BadInput, match="--fault"):
        parse_fault(text)


@pytest.mark.parametrize(
    ("cluster", "fault"),
    [(1, "partition@1s:2s:halves"), (3, "kill@1s:node4"), (1, "kill@1s:follower")],
)
def test_a_target_must_exist_on_the_runs_broker(cluster: int, fault: str) -> None:
    with pytest.raises(BadInput, match="--fault"):
        RunSpec(stack="pika", mode="connection-per-thread", cluster=cluster,
                faults=(parse_fault(fault),))  # fmt: skip


def heard(grudge: dict[int, set[int]], n: int) -> dict[int, frozenset[int]]:
    return {i: frozenset(set(range(n)) - grudge.get(i, set())) for i in range(n)}


@given(
    n=st.sampled_from([3, 5, 7]), shape=st.sampled_from(PARTITION_SHAPES), leader=st.integers(0, 6)
)
def test_every_shape_cuts_something_and_no_node_from_itself(
    n: int, shape: str, leader: int
) -> None:
    grudge, words = shape_grudge(shape, n, leader % n)
    assert any(grudge.values()), "a partition cuts at least one pair"
    for node, dropped in grudge.items():
        assert node not in dropped
    assert words


@given(n=st.sampled_from([3, 5, 7]))
def test_majorities_ring_each_node_hears_a_different_majority(n: int) -> None:
    grudge, _ = shape_grudge("majorities-ring", n, 0)
    seen = heard(grudge, n)
    assert all(len(s) == n // 2 + 1 for s in seen.values())
    assert len(set(seen.values())) == n, "no two nodes share their majority"


@pytest.mark.parametrize("shape", ["halves", "random-halves", "random-node", "leader"])
def test_bisecting_shapes_are_symmetric_and_split_into_two_sides(shape: str) -> None:
    grudge, _ = shape_grudge(shape, 5, 3)
    for a, b in itertools.permutations(range(5), 2):
        assert (b in grudge[a]) == (a in grudge[b])
    sides = {frozenset(heard(grudge, 5)[i]) for i in range(5)}
    assert len(sides) == 2 and sum(map(len, sides)) == 5
    if shape == "leader":
        assert frozenset({3}) in sides


def test_rotate_starts_a_url_list_at_the_home_node() -> None:
    assert rotate("a;b;c", 1) == "b;c;a"
    assert rotate("a;b;c", 5) == "c;a;b"
    assert rotate("amqp://one", 2) == "amqp://one"


class FakeCluster:
    addresses = ("127.1.1.1", "127.1.1.2", "127.1.1.3")

    def __init__(self, leader: int | None) -> None:
        self._leader = leader

    def leader(self, queue: str) -> int | None:
        return self._leader


@pytest.mark.parametrize(
    ("clients", "producers", "consumer"),
    [("spread", [0, 1, 2, 0, 1], 2), ("leader", [1] * 5, 1), ("followers", [0, 2, 0, 2, 0], 2)],
)
def test_clients_are_placed_as_asked(clients: str, producers: list[int], consumer: int) -> None:
    spec = RunSpec(stack="pika", mode="connection-per-thread", producers=5, cluster=3,
                   clients=clients)  # fmt: skip
    placed: dict[str, Any] = place(spec, FakeCluster(leader=1))  # type: ignore[arg-type]
    assert placed["producers"] == producers
    assert placed["consumer"] == consumer


def test_placing_on_the_leader_needs_to_know_it() -> None:
    spec = RunSpec(stack="pika", mode="connection-per-thread", cluster=3, clients="leader")
    with pytest.raises(Exception, match="leads"):
        place(spec, FakeCluster(leader=None))  # type: ignore[arg-type]


def test_cluster_preset_crosses_queue_types_stacks_and_faults() -> None:
    preset = load_preset("cluster")
    assert {c.queue for c in preset.cells} == {"classic", "mirrored", "quorum"}
    # every stack but one that needs RabbitMQ 4 (the private cluster runs 3.10)
    assert {c.stack for c in preset.cells} == {s for s in STACKS if not load_stack(s).min_rabbitmq}
    assert all(c.cluster == 3 and c.confirms for c in preset.cells)
    shapes = {parse_fault(f).target for c in preset.cells for f in c.faults}
    assert {"leader", "halves", "majorities-ring"} <= shapes


def test_quick_has_one_cluster_cell_and_full_includes_the_cluster_preset() -> None:
    quick = [c for c in load_preset("quick").cells if c.cluster > 1]
    assert len(quick) == 1
    full = load_preset("full")
    assert "C" in full.experiments
    assert len([c for c in full.cells if c.cluster > 1]) == len(load_preset("cluster").cells)
