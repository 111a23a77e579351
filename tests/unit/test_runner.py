"""The run's phases that need no process, with fakes: what is refused before anything
starts, how the broker is prepared, and how the run's result is judged and written."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mqcompare.brokers.base import BrokerControl
from mqcompare.brokers.external import ExternalBroker
from mqcompare.errors import BadInput, InfrastructureError
from mqcompare.faults.plan import parse_fault
from mqcompare.result import Drain
from mqcompare.runner import Ended, Run, _prepare, validate
from mqcompare.spec import RunSpec
from mqcompare.stacks import load_stack
from tests.journals import dlv, inv, ok, write


class Broker(BrokerControl):
    url = "amqp://guest:guest@127.0.0.1:1/"

    def __init__(self, nodes: int = 1) -> None:
        self.addresses = tuple(f"127.0.0.{i}" for i in range(1, nodes + 1)) if nodes > 1 else ()
        self.policies: list[tuple[str, str]] = []
        self.healed = False

    def heal(self) -> None:
        self.healed = True

    def set_policy(self, name: str, pattern: str, definition: dict[str, object]) -> None:
        self.policies.append((name, pattern))

    def restart(self, down: float, log: Any) -> None:  # a capability: restart faults pass
        raise AssertionError("not struck here")


def spec(**kw: Any) -> RunSpec:
    kw["faults"] = tuple(parse_fault(f) for f in kw.get("faults", ()))
    return RunSpec(**{"stack": "pika", "mode": "connection-per-thread", **kw})


@pytest.mark.parametrize(
    ("fields", "flag"),
    [
        ({"mode": "sideways"}, "--mode"),
        ({"faults": ["worker-kill@1s"]}, "--fault"),
        ({"stack": "celery", "mode": "shared-app", "ack": "auto"}, "--ack"),
        ({"stack_options": {"confirm_window": 5}}, "--confirm-window"),
        ({"consumer": "celery"}, "--consumer"),
    ],
)
def test_what_a_stack_cannot_run_is_refused_before_any_broker(
    fields: dict[str, Any], flag: str
) -> None:
    with pytest.raises(BadInput) as info:
        validate(spec(**fields))
    assert info.value.flag == flag


def test_the_broker_is_prepared_as_the_spec_says() -> None:
    broker = Broker()
    assert _prepare(spec(queue_type="mirrored", faults=["restart@1s"]), broker) is None
    assert broker.healed
    assert broker.policies and broker.policies[0][1].startswith("^mqcompare\\.")


def test_a_broker_that_cannot_do_what_the_spec_asks_is_refused() -> None:
    with pytest.raises(InfrastructureError, match="--cluster 3: the broker given"):
        _prepare(spec(cluster=3), Broker(nodes=1))
    with pytest.raises(InfrastructureError, match=r"^--fault drop: the broker"):
        _prepare(spec(faults=["drop@1s"]), Broker())
    external = ExternalBroker("amqp://guest:secret@example.org:5672/")
    with pytest.raises(InfrastructureError, match=r"^--consumer-timeout: .*--broker local") as e:
        _prepare(spec(consumer_timeout_s=2.0), _Healthy(external))
    assert "secret" not in str(e.value)


class _Healthy(ExternalBroker):
    """An external broker that needs no network to be healed."""

    def __init__(self, other: ExternalBroker) -> None:
        self.url = other.url

    def heal(self) -> None:
        pass


def test_the_result_is_judged_from_the_journals_with_what_only_the_run_knew(
    tmp_path: Path,
) -> None:
    s = spec(producers=1, messages=3)
    (tmp_path / "spec.json").write_text(json.dumps(s.to_json()))
    published = [inv(0, 0, 1.0), ok(0, 0, 1.1), inv(0, 1, 1.2), ok(0, 1, 1.3), inv(0, 2, 1.4)]
    write(tmp_path / "journal" / "producer.jsonl", "producer", published)
    write(tmp_path / "journal" / "consumer-0.jsonl", "consumer", [dlv(0, 0, 1.5)])
    run = Run(s, load_stack("pika"), tmp_path, Broker(), None, print, print)  # type: ignore[arg-type]
    run.environment = {"rabbitmq": "3.10.8"}
    ended = Ended(drain=Drain(complete=True, left_in_queue=0, unacked=0), producer_exit=0)
    faults = SimpleNamespace(errors=["restart@1s: boom"])
    result = run._judge(0.0, faults, ended)  # type: ignore[arg-type]
    assert result["counts"]["lost"] == 1 and result["counts"]["unknown"] == 1
    assert not result["verdict"]["valid"]
    assert result["spec"]["stack"] == "pika" and result["environment"]["rabbitmq"] == "3.10.8"
    assert result["fault_errors"] == ["restart@1s: boom"] and result["producer_exit"] == 0
    assert result["drain"]["complete"] and result["interrupted"] is False
    assert json.loads((tmp_path / "result.json").read_text()) == result
