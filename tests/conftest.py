"""Fixtures: one private RabbitMQ node for the whole session (never the machine's own
broker on 5672), and helpers that run experiments against it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mqcompare.brokers.cluster import LocalCluster
from mqcompare.brokers.node import LocalNode
from mqcompare.errors import InfrastructureError
from mqcompare.faults.plan import parse_fault
from mqcompare.runner import execute
from mqcompare.spec import RunSpec


@pytest.fixture(scope="session")
def session_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    if not LocalNode.installed():
        pytest.fail("rabbitmq-server is not installed (.ci/run installs it with apt-get)")
    # CLI subprocesses find this node as the kept one (`--broker local`); its guardian
    # stops it even if pytest itself is killed
    os.environ["MQCOMPARE_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    started = LocalNode.start_new(keep=True, guard=True)
    assert started.state.port != 5672
    yield started
    started.stop()
    pid = started.state.beam_pid()
    assert pid is None or not os.path.exists(f"/proc/{pid}"), "private node left running"


@pytest.fixture(scope="session")
def session_cluster(session_node: LocalNode) -> Iterator[LocalCluster]:
    """A private 3-node cluster (pause_minority), booted once, when a test first asks."""
    started = LocalCluster.start_new(3)
    yield started
    started.stop()
    for node in started.nodes:
        pid = node.state.beam_pid()
        assert pid is None or not os.path.exists(f"/proc/{pid}"), "cluster node left running"


@pytest.fixture
def cluster(session_cluster: LocalCluster) -> LocalCluster:
    """The session's cluster, whole: every node serving, no partition in place."""
    try:
        session_cluster.heal()
    except InfrastructureError as exc:
        pytest.fail(f"the session's cluster could not be made whole again: {exc}")
    return session_cluster


@pytest.fixture
def cluster_run(cluster: LocalCluster, tmp_path: Path):  # type: ignore[no-untyped-def]
    """cluster_run(stack, **spec fields) -> result, against the session's cluster."""

    def _run(stack: str, **kw: Any) -> dict[str, Any]:
        spec = run_spec(stack, cluster=3, **kw)
        out = tmp_path / spec.run_id
        result = execute(spec, out, broker=cluster, say=lambda _m: None)
        result["_dir"] = str(out)
        return result

    return _run


@pytest.fixture
def node(session_node: LocalNode) -> LocalNode:
    """The session's node, answering: a test whose fault left it dead or stopped costs
    that test only; the next one gets the node booted again (same ports, same data)."""
    try:
        session_node.heal()
    except InfrastructureError as exc:
        pytest.fail(f"the session's private node could not be brought back: {exc}")
    return session_node


def run_spec(stack: str, **kw: Any) -> RunSpec:
    kw.setdefault("producers", 4)
    kw.setdefault("messages", 250)
    kw.setdefault("drain_timeout_s", 60.0)
    kw["faults"] = tuple(parse_fault(f) for f in kw.get("faults", ()))
    mode = kw.pop("mode", None)
    if mode is None:
        from mqcompare.stacks import load_stack

        mode = load_stack(stack).default_mode
    return RunSpec(stack=stack, mode=mode, **kw)


@pytest.fixture
def run(node: LocalNode, tmp_path: Path):  # type: ignore[no-untyped-def]
    """run(stack, **spec fields) -> result, against the session's private node."""

    def _run(stack: str, **kw: Any) -> dict[str, Any]:
        spec = run_spec(stack, **kw)
        out = tmp_path / spec.run_id
        result = execute(spec, out, broker=node, say=lambda _m: None)
        result["_dir"] = str(out)
        return result

    return _run


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Contract classes name their modes as class attributes; each becomes a test case."""
    for name in ("exactly_once_mode", "unsafe_mode"):
        if name in metafunc.fixturenames and metafunc.cls is not None:
            modes: list[Any] = list(getattr(metafunc.cls, name + "s"))
            if not modes:  # skipped, with the reason the stack gives, never silently passed
                why = getattr(metafunc.cls, "no_" + name, "") or f"no {name}s declared"
                modes = [pytest.param(None, marks=pytest.mark.skip(reason=why))]
            metafunc.parametrize(name, modes)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that boots or uses the private node must be marked `broker` (on its class or
    module), so that `pytest -m "not broker"` runs none of them; checked, not trusted."""
    unmarked = [
        item.nodeid
        for item in items
        if {"session_node", "session_cluster"} & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("broker") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"tests that use the broker lack @pytest.mark.broker: {unmarked}")
