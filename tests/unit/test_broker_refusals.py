"""What a run may ask of each kind of broker, refused before any broker starts: a stack
that does not speak the broker's protocol, RabbitMQ's settings on Redis and Redis's on
RabbitMQ, each one line naming the flag (exit 2)."""

from __future__ import annotations

from typing import Any

import pytest

from mqcompare.brokers.factory import broker_kind
from mqcompare.errors import BadInput
from mqcompare.faults.plan import parse_fault
from mqcompare.runner import validate
from mqcompare.spec import RunSpec
from mqcompare.stacks import load_stack


def spec(stack: str, **kw: Any) -> RunSpec:
    kw["faults"] = tuple(parse_fault(f) for f in kw.get("faults", ()))
    return RunSpec(stack=stack, mode=load_stack(stack).default_mode, **kw)


@pytest.mark.parametrize("stack", ["pika", "aio-pika"])
def test_an_amqp_only_stack_refuses_redis(stack: str) -> None:
    with pytest.raises(BadInput) as err:
        validate(spec(stack, broker="redis"))
    assert err.value.flag == "--broker"
    assert "celery" in str(err.value) and "dramatiq" in str(err.value)


def test_a_counting_consumer_must_speak_it_too() -> None:
    with pytest.raises(BadInput, match="pika speaks amqp only"):
        validate(spec("kombu", broker="redis://127.0.0.1:1/0", consumer="pika"))


@pytest.mark.parametrize("stack", ["celery", "dramatiq", "kombu"])
def test_the_task_stacks_run_on_redis(stack: str) -> None:
    validate(spec(stack, broker="redis", visibility_timeout_s=5.0, redis_persistence="none"))


@pytest.mark.parametrize(
    ("flag", "fields"),
    [
        ("--confirms", {"confirms": True}),
        ("--mandatory", {"mandatory": True}),
        ("--queue", {"queue_type": "quorum"}),
        ("--dead-letter", {"dead_letter": True}),
        ("--poison", {"poison": 2}),
        ("--consumer-timeout", {"consumer_timeout_s": 5.0}),
        ("--cluster", {"cluster": 3}),
    ],
)
def test_rabbitmq_settings_are_refused_on_redis(flag: str, fields: dict[str, Any]) -> None:
    with pytest.raises(BadInput) as err:
        validate(spec("kombu", broker="redis", **fields))
    assert err.value.flag == flag and "not on Redis" in str(err.value)


@pytest.mark.parametrize(
    ("flag", "fields"),
    [
        ("--visibility-timeout", {"visibility_timeout_s": 5.0}),
        ("--redis-persistence", {"redis_persistence": "aof-always"}),
    ],
)
def test_redis_settings_are_refused_on_rabbitmq(flag: str, fields: dict[str, Any]) -> None:
    with pytest.raises(BadInput) as err:
        validate(spec("celery", broker="local", **fields))
    assert err.value.flag == flag and "--broker redis" in str(err.value)


def test_the_kind_is_known_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    assert broker_kind("redis").protocol == broker_kind("redis://h:1/0").protocol == "redis"
    assert broker_kind("local").protocol == broker_kind("amqp://h/").protocol == "amqp"
    monkeypatch.setenv("MQCOMPARE_BROKER_URL", "redis://h:1/0")
    assert broker_kind("auto").protocol == "redis"
