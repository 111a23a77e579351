"""Poison messages without a broker: which ids, how a queue's arguments name the dead-letter
target, how a taken message is recognised, when the drain stops waiting, and the refusal
of mirroring on RabbitMQ 4."""

from __future__ import annotations

import orjson
import pytest

from mqcompare.envelope import encode
from mqcompare.errors import BadInput, NotOnThisBroker
from mqcompare.poison import death, message_key, still_looping
from mqcompare.runner import refuse_mirroring
from mqcompare.spec import RunSpec


def test_poison_ids_spread_over_producers_and_time() -> None:
    spec = RunSpec(stack="pika", producers=4, messages=600, poison=6)
    assert spec.poison_ids == [(0, 150), (1, 150), (2, 150), (3, 150), (0, 450), (1, 450)]
    assert spec.to_json()["poison_ids"][0] == "0:150"
    assert len(set(RunSpec(stack="pika", producers=3, messages=5, poison=15).poison_ids)) == 15
    with pytest.raises(BadInput, match="--poison: 16 is more than the run's 15 messages"):
        RunSpec(stack="pika", producers=3, messages=5, poison=16)


def test_dead_letter_target_is_in_every_clients_declaration() -> None:
    spec = RunSpec(stack="pika", queue_type="quorum", dead_letter=True)
    assert spec.queue_arguments == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{spec.queue}.dead",
    }


def test_a_taken_message_is_known_by_id_envelope_or_task_arguments() -> None:
    assert message_key({"message_id": "3:17"}, b"") == (3, 17)
    assert message_key({}, encode(2, 5, 1.0)) == (2, 5)
    dramatiq_body = orjson.dumps({"queue_name": "q", "args": [4, 9, 1.5], "kwargs": {}})
    assert message_key({"message_id": "a-uuid"}, dramatiq_body) == (4, 9)
    assert message_key({}, b"not ours") is None


def test_death_reads_the_newest_x_death_and_the_delivery_count() -> None:
    props = {"headers": {"x-death": [{"reason": "delivery_limit", "count": 1}],
                         "x-delivery-count": 20}}  # fmt: skip
    assert death(props) == ("delivery_limit", 20)
    assert death({}) == ("unknown", None)


def test_the_drain_stops_only_for_poison_failed_beyond_any_default_limit() -> None:
    spec = RunSpec(stack="pika", poison=2)
    asked: list[int] = []

    def held() -> int:
        asked.append(1)
        return 1

    assert not still_looping(spec, 1, held, quiet_s=10.0, rejects=44)  # 22 each: a limit's
    assert not still_looping(spec, 1, held, quiet_s=1.0, rejects=500)  # not quiet yet
    assert not asked, "the broker is asked only when the rest says so"
    assert still_looping(spec, 1, held, quiet_s=10.0, rejects=500)
    assert not still_looping(spec, 3, held, quiet_s=10.0, rejects=500)  # more than poison
    assert not still_looping(RunSpec(stack="pika"), 0, held, quiet_s=99.0, rejects=0)


def test_mirroring_is_refused_on_4_and_kept_on_3() -> None:
    refuse_mirroring({"rabbitmq": "3.10.8"})
    refuse_mirroring({"error": "cannot ask"})  # unknown: not refused here
    removed = r"removed in RabbitMQ 4\.0 and this broker is 4\.0\.5"
    with pytest.raises(NotOnThisBroker, match=removed):
        refuse_mirroring({"rabbitmq": "4.0.5"})
