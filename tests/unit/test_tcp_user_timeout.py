"""kombu's and celery's TCP_USER_TIMEOUT option: the `why:` line they give for what an alarm
cost them without confirms names the timeout the run's connections had (and is absent when
they had none), and a run or cell that set it says so in its label."""

from __future__ import annotations

from typing import Any

from mqcompare.report import headline
from mqcompare.stacks import options_text
from shared_clients.pyamqp import blocked_loss


def result(lost: int = 5, confirms: bool = False, **options: int) -> dict[str, Any]:
    return {
        "spec": {"confirms": confirms, "stack_options": options},
        "counts": {"lost": lost},
        "faults": [{"kind": "alarm", "hit": True}],
    }


def test_py_amqps_default_is_named_with_its_source() -> None:
    (line,) = blocked_loss(result())
    assert "py-amqp sets TCP_USER_TIMEOUT to 1 s" in line and "PR 114" in line


def test_a_runs_own_timeout_is_named_as_the_runs() -> None:
    (line,) = blocked_loss(result(tcp_user_timeout_ms=5000))
    assert "the run set TCP_USER_TIMEOUT to 5 s" in line


def test_no_line_without_a_timeout_a_loss_or_with_confirms() -> None:
    assert blocked_loss(result(tcp_user_timeout_ms=0)) == []
    assert blocked_loss(result(lost=0)) == []
    assert blocked_loss(result(confirms=True)) == []
    missed = result()
    missed["faults"] = [{"kind": "alarm", "hit": False}]
    assert blocked_loss(missed) == []


def test_a_timeout_away_from_py_amqps_is_named_in_labels() -> None:
    assert options_text("kombu", {"tcp_user_timeout_ms": 0}) == ", TCP_USER_TIMEOUT 0 ms"
    assert options_text("celery", {"tcp_user_timeout_ms": 1000, "concurrency": 4}) == ""
    assert options_text("pika", {}) == ""
    assert options_text("a-stack-from-elsewhere", {"tcp_user_timeout_ms": 0}) == ""
    spec = {"stack": "celery", "mode": "shared-app", "producers": 1, "messages": 2}
    spec["stack_options"] = {"tcp_user_timeout_ms": 5000, "acks_late": True}
    assert "acks_late, TCP_USER_TIMEOUT 5000 ms, 1 x 2" in headline({"spec": spec})
