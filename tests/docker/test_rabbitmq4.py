"""What RabbitMQ 4.0 changed, asked of a real 3.10 and a real 4.0 container side by side:
classic queue mirroring is gone (refused in one line, skipped in a matrix, saying why),
and a quorum queue drops a poison message at its delivery limit (20 since 4.0), or
dead-letters it where the queue has a target; a classic queue redelivers it for ever."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mqcompare.brokers.container import DockerBroker
from mqcompare.runner import execute
from tests.conftest import run_spec
from tests.docker.conftest import IMAGE_4

pytestmark = [pytest.mark.broker, pytest.mark.docker]


@pytest.fixture
def on(containers: dict[str, DockerBroker], tmp_path: Path) -> Any:
    """on(major version, stack, **spec fields) -> result, in that version's container."""

    def _run(version: str, stack: str, **kw: Any) -> dict[str, Any]:
        broker = containers[version]
        broker.heal()
        spec = run_spec(stack, broker="docker", **kw)
        result = execute(spec, tmp_path / spec.run_id, broker=broker, say=lambda _m: None)
        assert result["environment"]["rabbitmq"].startswith({"3": "3.", "4": "4."}[version])
        return dict(result)

    return _run


def test_mirrored_is_refused_on_4_in_one_line(containers: dict[str, DockerBroker]) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{containers['4'].port}/"
    done = subprocess.run(
        [sys.executable, "-m", "mqcompare.cli", "run", "--stack", "pika", "--broker", url,
         "--queue", "mirrored", "--messages", "10"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "removed in RabbitMQ 4.0" in lines[0], done.stderr
    assert "guest:guest" not in done.stderr


def test_poison_on_a_quorum_queue_dropped_on_4_redelivered_for_ever_on_3(on: Any) -> None:
    """Two poison ids: 4.0 delivers each 21 times and drops it (lost, no error); 3.10's
    quorum queue has no default limit, so they come back until the drain gives up and
    are taken from the queue at the end (left, not lost)."""
    kw = {"queue_type": "quorum", "confirms": True, "poison": 2, "producers": 2}
    four, three = on("4", "pika", **kw), on("3", "pika", **kw)
    assert four["counts"]["lost"] == 2, four["anomalies"]
    assert four["poison"]["most_rejections"] == 21
    assert four["poison"]["delivery_count_max"] == 20
    assert any("delivery limit" in n for n in four["notes"]), four["notes"]
    assert three["counts"]["lost"] == 0, three["anomalies"]
    assert three["counts"]["left_in_queue"] == 2
    assert three["drain"]["poison_looping"] is True
    assert three["poison"]["rejections"] > 21 * 2
    for r in (four, three):
        assert r["counts"]["unique"] == 2 * 250 - 2, "everything else arrived"
        assert r["spec"]["poison_ids"] == ["0:125", "1:125"]


def test_dead_letter_target_keeps_the_poison_on_4(on: Any) -> None:
    r = on("4", "kombu", queue_type="quorum", confirms=True, poison=2, dead_letter=True)
    c = r["counts"]
    assert (c["lost"], c["dead_lettered"]) == (0, 2), r["anomalies"]
    assert r["poison"]["dead_reasons"] == {"delivery_limit": 2}
    assert r["verdict"]["valid"]


def test_a_celery_task_that_kills_its_worker_is_dropped_at_the_limit_on_4(on: Any) -> None:
    """acks_late + task_reject_on_worker_lost: the killed pool process's task goes back
    to the queue each time, until the quorum queue's limit drops it."""
    r = on(
        "4",
        "celery",
        queue_type="quorum",
        poison=1,
        producers=2,
        messages=100,
        stack_options={"acks_late": True, "reject_on_worker_lost": True},
    )
    assert r["counts"]["lost"] == 1, r["anomalies"]
    assert r["poison"]["most_rejections"] == 21
    assert r["counts"]["unique"] == 199


MIRRORED_ON_BOTH = f"""
name = "mirrored-on-both"
[[experiments]]
id = "1"
title = "Mirroring on 3.10 and 4.0"
question = "q"
protocol = "p"
[[experiments.cells]]
stack = "pika"
queue = "mirrored"
confirms = true
producers = 2
messages = 50
docker_image = ["mqcompare/rabbitmq:local", "{IMAGE_4}"]
"""


def test_a_matrix_runs_a_cell_per_image_and_skips_mirroring_on_4(
    containers: dict[str, DockerBroker], tmp_path: Path
) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text(MIRRORED_ON_BOTH)
    out = tmp_path / "m"
    done = subprocess.run(
        [sys.executable, "-m", "mqcompare.cli", "matrix", "--preset", str(preset),
         "--broker", "docker", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    doc = json.loads((out / "results.json").read_text())
    ran = {r["cell"]: r["environment"]["rabbitmq"] for r in doc["results"]}
    assert [v[:4] for v in ran.values()] == ["3.10"], ran
    (skipped,) = doc["skipped"]
    assert "removed in RabbitMQ 4.0" in skipped["why"]
    assert skipped["cell"] not in ran
    assert "removed in RabbitMQ 4.0" in done.stdout
