"""--broker docker end to end: a real container, real faults through the Docker SDK, each
seen to hit; the container gone at the end, also when mqcompare is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mqcompare.brokers.container import LABEL, DockerBroker, docker_client
from mqcompare.observe import wait_for
from tests.faults.common import assert_no_loss, assert_nothing_confirmed_lost, the_fault

# 6 s of publishing: a fault due at 1 s lands in it even when it is seconds late
PACED = {"producers": 4, "messages": 1200, "rate": 200.0}
TOTAL = 4800

pytestmark = [pytest.mark.broker, pytest.mark.docker, pytest.mark.faults]


def containers_labelled(value: str) -> list[Any]:
    return list(docker_client().containers.list(all=True, filters={"label": f"{LABEL}={value}"}))


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("restart@1s:1s", "restart"), ("kill@1s:1s", "kill"), ("pause@1s:1s", "pause")],
)
def test_a_container_fault_with_confirms_loses_nothing(
    docker_run: Any, fault: str, kind: str
) -> None:
    # a producer retries a message for up to 60 s (15 by default): a container stopped,
    # started and booted on a loaded machine outlasted 15 s once in CI (restart: 100
    # refused handshakes, and the messages the producers held failed)
    r = docker_run("pika", confirms=True, faults=[fault], retry_budget_s=60.0, **PACED)
    f = the_fault(r, kind)
    if kind == "kill":  # a killed container boots like a killed node: maybe after a budget
        assert_nothing_confirmed_lost(r, TOTAL, PACED["producers"])
    else:
        assert_no_loss(r, TOTAL)
    assert f["up_s"] - f["down_s"] >= 1.0, "down for at least the planned second"


def test_drop_inside_the_container(docker_run: Any) -> None:
    r = docker_run("kombu", confirms=True, faults=["drop@1s"], **PACED)
    f = the_fault(r, "drop")
    assert_no_loss(r, TOTAL)
    assert f["connections"] >= 1


def test_restart_without_confirms_is_judged_like_any_other(docker_run: Any) -> None:
    """The write-up's fault, `docker stop` / `docker start`, mid-publishing: whatever it
    costs is counted per message id; the run must account for every one of them."""
    r = docker_run("pika", confirms=False, faults=["restart@1s:1s"], **PACED)
    the_fault(r, "restart")
    assert r["counts"]["attempted"] == TOTAL
    assert r["errors"], "the producers felt the container stop"
    assert r["broker"].startswith("container mqcompare-")


def test_alarm_queue_delete_and_consumer_timeout_inside_the_container(
    docker_run: Any, container: DockerBroker
) -> None:
    """The broker's protections evaluated in the container's node (erl_call over the
    Docker network): an alarm blocks the publishers, then the queue is deleted under
    them, with the node's consumer timeout set for the run (and put back after it)."""
    r = docker_run(
        "pika",
        confirms=True,
        mandatory=True,
        consumer_timeout_s=60.0,
        faults=["alarm@1s:2s", "queue-delete@3.5s"],
        # 7.5 s of publishing: the deletion waits for the alarm's end; a late fault still
        # lands
        producers=4,
        messages=1500,
        rate=200.0,
    )
    alarm, deleted = r["faults"]
    assert alarm["hit"] and deleted["hit"], r["faults"]
    assert alarm["blocked"]["publish"] == "hung"
    assert alarm["up_s"] - alarm["down_s"] >= 2.0
    assert deleted["ready"] >= 0
    assert deleted["up_s"] is not None, "the consumer declared the queue again"
    assert r["counts"]["attempted"] == 6000
    timeout = container.eval("application:get_env(rabbit, consumer_timeout).")
    assert timeout.replace(" ", "") == "{ok,1800000}", "the node's own timeout is back"


def test_missing_image_is_exit_3_naming_the_remedy(engine: None, tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mqcompare.cli", "run", "--stack", "pika", "--broker", "docker",
         "--docker-image", "mqcompare/none:missing", "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "make docker-image" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 20


def test_sigkilled_mqcompare_leaves_no_container(docker_image: str, tmp_path: Path) -> None:
    """The run's guardian removes the container (and its volume) when mqcompare dies."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mqcompare.cli", "run", "--stack", "pika", "--broker", "docker",
         "--producers", "2", "--messages", "3000", "--rate", "100", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy(),
    )  # fmt: skip
    try:
        spec = out / "spec.json"
        assert wait_for(spec.exists, 120.0) is not None, "the run never started"
        run_id = json.loads(spec.read_text())["run_id"]
        assert containers_labelled(run_id), "the run's container is labelled with its id"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        gone = wait_for(lambda: not containers_labelled(run_id), 60.0, poll=0.5)
        assert gone is not None, "the container outlived mqcompare"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_kept_container_is_found_and_removed(docker_image: str, tmp_path: Path) -> None:
    env = {**os.environ, "MQCOMPARE_STATE_DIR": str(tmp_path / "state")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mqcompare.cli", *args],
            capture_output=True, text=True, timeout=180, env=env,
        )  # fmt: skip

    up = cli("broker", "up", "--docker")
    assert up.returncode == 0, up.stderr
    try:
        assert cli("broker", "status").returncode == 0
        run = cli("run", "--stack", "pika", "--broker", "docker", "--producers", "2",
                  "--messages", "50", "--out", str(tmp_path / "r"))  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert (
            "kept container" in json.loads((tmp_path / "r" / "result.json").read_text())["broker"]
        )
    finally:
        down = cli("broker", "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not containers_labelled("kept")


def test_container_is_removed_when_the_run_ends(docker_image: str) -> None:
    broker = DockerBroker.start_new("removal-test", image=docker_image)
    assert containers_labelled("removal-test")
    broker.close()
    assert not containers_labelled("removal-test")


CELL_BROKERS = """
name = "two-brokers"
[defaults]
producers = 2
messages = 200
rate = 100
confirms = true
faults = ["restart@1s:1s"]

[[experiments]]
id = "1"
title = "The same restart on a node and in a container"
question = "q"
protocol = "p"
[[experiments.claims]]
id = "none-lost"
says = "With confirms none are lost."
source = "test"
expect = ["no-loss"]
[[experiments.cells]]
stack = "pika"
claim = "none-lost"
[[experiments.cells]]
stack = "pika"
broker = "docker"
claim = "none-lost"
"""


def test_a_matrix_cell_can_name_its_own_broker(
    node: Any, docker_image: str, tmp_path: Path
) -> None:
    """`broker = "docker"` in a cell: that cell runs in a container the matrix starts and
    removes, the others on the matrix's --broker."""
    preset = tmp_path / "p.toml"
    preset.write_text(CELL_BROKERS)
    out = tmp_path / "m"
    done = subprocess.run(
        [sys.executable, "-m", "mqcompare.cli", "matrix", "--preset", str(preset),
         "--broker", "local", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads((out / "results.json").read_text())
    brokers = {r["cell"]: r["broker"] for r in doc["results"]}
    assert brokers["1.01"].startswith("kept node")
    assert brokers["1.02"].startswith("container mqcompare-matrix-two-brokers")
    assert all(f["hit"] for r in doc["results"] for f in r["faults"])
    assert "(docker broker)" in (out / "report.md").read_text()
    assert not containers_labelled("matrix-two-brokers")


def test_mirrored_queue_policy_is_set_inside_the_container(docker_run: Any) -> None:
    r = docker_run("kombu", queue_type="mirrored", confirms=True, producers=2, messages=100)
    assert r["verdict"]["exactly_once"]
    spec = json.loads(Path(r["_dir"], "spec.json").read_text())
    assert spec["queue_seen"]["type"] == "classic"
    assert spec["queue_seen"]["policy"].startswith("mqcompare-ha-")
