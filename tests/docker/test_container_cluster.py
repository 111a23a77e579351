"""`--cluster 3 --broker docker`: three RabbitMQ 4.0 containers on a network of their own,
joined into one cluster; the cluster contract (a quorum queue's leader killed, paused, cut
off: nothing confirmed lost, the leader struck), and nothing left behind when mqcompare is
interrupted mid-partition."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mqcompare.brokers.clustered import partition_unmet
from mqcompare.brokers.container import LABEL, docker_client
from mqcompare.brokers.container_cluster import DockerCluster
from mqcompare.errors import InfrastructureError
from mqcompare.observe import wait_for
from mqcompare.runner import execute
from tests.conftest import run_spec
from tests.faults.common import ClusterContract

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def container_cluster(image_4: str) -> Iterator[DockerCluster]:
    cluster = DockerCluster.start_new(3, "pause_minority", image_4, "tests-cluster")
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_run(container_cluster: DockerCluster, tmp_path: Path):  # type: ignore[no-untyped-def]
    """cluster_run(stack, **spec fields) -> result, on the module's container cluster."""
    if partition_unmet():
        pytest.skip(f"a partition needs what this machine lacks: {partition_unmet()}")
    try:
        container_cluster.heal()
    except InfrastructureError as exc:
        pytest.fail(f"the container cluster could not be made whole again: {exc}")

    def _run(stack: str, **kw: Any) -> dict[str, Any]:
        spec = run_spec(stack, cluster=3, broker="docker", **kw)
        out = tmp_path / spec.run_id
        result = execute(spec, out, broker=container_cluster, say=lambda _m: None)
        assert result["broker"].startswith("container cluster of 3 nodes")
        assert result["environment"]["rabbitmq"].startswith("4.")
        return dict(result)

    return _run


class TestPikaContainerCluster(ClusterContract):
    stack = "pika"


def ours() -> tuple[list[Any], list[Any]]:
    client = docker_client()
    containers = client.containers.list(all=True, filters={"label": "mqcompare"})
    networks = client.networks.list(filters={"label": "mqcompare"})
    return containers, networks


def test_ctrl_c_mid_partition_leaves_no_container_or_network(image_4: str, tmp_path: Path) -> None:
    if partition_unmet():
        pytest.skip(f"a partition needs what this machine lacks: {partition_unmet()}")
    before = {c.id for c in ours()[0]}, {n.id for n in ours()[1]}
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mqcompare.cli", "run", "--stack", "pika", "--cluster", "3",
         "--broker", "docker", "--docker-image", image_4, "--queue", "quorum", "--confirms",
         "--producers", "2", "--messages", "2000", "--rate", "100",
         "--fault", "partition@1s:30s:leader", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        journal = out / "journal" / "runner.jsonl"

        def cut() -> bool:
            return journal.exists() and '"phase":"down"' in journal.read_text()

        assert wait_for(cut, 240.0, poll=0.5) is not None, "the partition never went down"
        run_id = json.loads((out / "spec.json").read_text())["run_id"]
        assert docker_client().containers.list(filters={"label": f"{LABEL}={run_id}"})
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, output
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        containers, networks = ours()
        left = [c.name for c in containers if c.id not in before[0]]
        left += [n.name for n in networks if n.id not in before[1]]
        if not left:
            break
        time.sleep(0.5)
    assert not left, f"left behind: {left}"
    result = json.loads((out / "result.json").read_text())
    assert result["interrupted"] is True
