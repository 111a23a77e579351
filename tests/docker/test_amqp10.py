"""RabbitMQ's AMQP 1.0 client on a real RabbitMQ 4.0 container: every publish settled by the
broker (accepted is ok), a counting consumer that accepts or releases, a broker restart that
loses nothing accepted, and a RabbitMQ 3.10 broker refused in one line."""

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
from tests.faults.common import PACED, TOTAL, assert_no_loss, the_fault

pytestmark = [pytest.mark.broker, pytest.mark.docker]


@pytest.fixture
def on_4(containers: dict[str, DockerBroker], tmp_path: Path) -> Any:
    def _run(**kw: Any) -> dict[str, Any]:
        broker = containers["4"]
        broker.heal()
        spec = run_spec("amqp10", broker="docker", **kw)
        out = tmp_path / spec.run_id
        result = dict(execute(spec, out, broker=broker, say=lambda _m: None))
        result["_dir"] = str(out)
        return result

    return _run


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_every_accepted_message_is_delivered_once(on_4: Any, queue_type: str) -> None:
    r = on_4(queue_type=queue_type, producers=4, messages=250)
    c = r["counts"]
    assert c["attempted"] == c["acknowledged"] == c["unique"] == 1000
    assert r["verdict"] == {"valid": True, "exactly_once": True}
    assert r["spec"]["confirms"] is True, "AMQP 1.0 settles every publish"
    spec = json.loads(Path(r["_dir"], "spec.json").read_text())
    assert spec["queue_type"] == queue_type
    if queue_type == "quorum":  # what the broker made of it (asked only off the default)
        assert spec["queue_seen"]["type"] == "quorum"
    assert r["environment"]["rabbitmq"].startswith("4.")
    assert r["environment"]["libraries"]["rabbitmq-amqp-python-client"] != "not installed"


def test_a_restart_loses_no_accepted_message(on_4: Any) -> None:
    r = on_4(faults=["restart@1s:3s"], **PACED)
    f = the_fault(r, "restart")
    assert f["up_s"] - f["down_s"] >= 3.0
    assert_no_loss(r, TOTAL)
    assert r["errors"], "the producers saw the restart"


def test_a_killed_consumer_that_accepts_after_loses_nothing(on_4: Any) -> None:
    r = on_4(faults=["consumer-kill@1s"], work_ms=2.0, **PACED)
    the_fault(r, "consumer-kill")
    assert_no_loss(r, TOTAL)
    assert r["consumer_starts"] == 2


def test_an_older_broker_is_refused_in_one_line(containers: dict[str, DockerBroker]) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{containers['3'].port}/"
    done = subprocess.run(
        [sys.executable, "-m", "mqcompare.cli", "run", "--stack", "amqp10", "--broker", url,
         "--messages", "10"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "amqp10 needs RabbitMQ 4.0 or newer" in line and "3.10" in line
    assert "guest:guest" not in done.stderr
