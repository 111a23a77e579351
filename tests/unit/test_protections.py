"""The broker's protections as faults: their grammar, and what the checker makes of the
journals of a run they struck (hand-built journals, no broker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqcompare.brokers.erlang import binary as _binary
from mqcompare.brokers.erlang import vhost_of
from mqcompare.checker import check_files
from mqcompare.errors import BadInput
from mqcompare.faults.kind import Fault
from mqcompare.faults.plan import parse_fault
from mqcompare.report import fault_text
from mqcompare.spec import RunSpec
from tests.journals import dlv, fail, inv, ok, write


def test_alarm_and_queue_delete_grammar() -> None:
    assert parse_fault("alarm@1s:5s") == Fault("alarm", 1.0, 5.0)
    assert parse_fault("alarm@1s:5s:disk") == Fault("alarm", 1.0, 5.0, "disk")
    assert str(parse_fault("alarm@1:5:memory")) == "alarm@1s:5s:memory"
    assert parse_fault("queue-delete@2s") == Fault("queue-delete", 2.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alarm@1s", "an alarm needs its duration"),
        ("alarm@1s:memory", "an alarm needs its duration"),
        ("alarm@1s:5s:cpu", "unknown alarm resource 'cpu'; allowed: memory, disk"),
        ("queue-delete@1s:2s", "queue-delete takes no down time"),
    ],
)
def test_bad_protection_faults(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as info:
        parse_fault(text)
    assert info.value.flag == "--fault"


def test_consumer_timeout_must_not_be_negative() -> None:
    with pytest.raises(BadInput, match=r"^--consumer-timeout: .*at least 0") as info:
        RunSpec(stack="pika", mode="connection-per-thread", consumer_timeout_s=-1)
    assert info.value.flag == "--consumer-timeout"


def test_vhost_and_erlang_binaries() -> None:
    assert vhost_of("amqp://guest:pw@127.0.0.1:5672/%2F") == "/"
    assert vhost_of("amqp://h:1/app;amqp://h:2/app") == "app"
    assert vhost_of("amqp://h:1") == "/"
    assert _binary('a"b\\c') == '<<"a\\"b\\\\c"/utf8>>'


def _alarm(tmp: Path, producer: list[dict[str, Any]], down: float, up: float) -> dict[str, Any]:
    write(tmp / "producer.jsonl", "producer", producer)
    write(
        tmp / "runner.jsonl",
        "runner",
        [
            {"ev": "fault", "kind": "alarm", "phase": "begin", "t": down - 0.01, "n": 0, "at": 1},
            {"ev": "fault", "kind": "alarm", "phase": "down", "t": down, "n": 0},
            {"ev": "fault", "kind": "alarm", "phase": "up", "t": up, "n": 0},
            {"ev": "fault", "kind": "alarm", "phase": "end", "t": up, "n": 0},
        ],
    )
    result = check_files([tmp / "producer.jsonl", tmp / "runner.jsonl"])
    (span,) = result["faults"]
    return span


def test_a_publish_that_waits_out_the_alarm_hung(tmp_path: Path) -> None:
    # one ok a tick after the alarm (its confirm was in flight), then nothing until it clears
    records = [inv(0, 0, 100.0), ok(0, 0, 100.9), inv(0, 1, 100.9), ok(0, 1, 101.02)]
    records += [inv(0, 2, 101.03), ok(0, 2, 104.05), inv(0, 3, 104.05), ok(0, 3, 104.1)]
    span = _alarm(tmp_path, records, down=101.0, up=104.0)
    assert span["hit"]
    b = span["blocked"]
    assert b["publish"] == "hung"
    assert b["stalled_s"] == pytest.approx(3.03)
    assert b["resumed_s"] == pytest.approx(4.05)
    assert (b["returned"], b["raised"]) == (1, 0)
    assert "publishers stalled 3.03 s, publish hung" in fault_text(span)


def test_a_publish_that_raises_during_the_alarm(tmp_path: Path) -> None:
    records = [inv(0, 0, 100.0), ok(0, 0, 100.5), inv(0, 1, 100.5), fail(0, 1, 102.0, "Blocked")]
    records += [inv(0, 1, 102.1), ok(0, 1, 104.5)]
    b = _alarm(tmp_path, records, down=101.0, up=104.0)["blocked"]
    assert (b["publish"], b["raised"]) == ("raised", 1)


def test_a_publish_that_keeps_returning_during_the_alarm(tmp_path: Path) -> None:
    records = []
    for s in range(40):  # one every 0.1 s, straight through the alarm (into the buffers)
        records += [inv(0, s, 100.0 + s * 0.1), ok(0, s, 100.0 + s * 0.1 + 0.01)]
    b = _alarm(tmp_path, records, down=101.0, up=103.0)["blocked"]
    assert b["publish"] == "returned"
    assert b["stalled_s"] < 0.2
    assert b["returned"] == 20


@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=50))
def test_the_stall_never_exceeds_the_alarm_and_what_follows(oks: list[float]) -> None:
    from array import array

    from mqcompare.faults.protections import blocked

    span = {"down_s": 2.0, "up_s": 5.0, "end_s": 5.0}
    b = blocked(span, array("d", oks), array("d"), 0.0)
    after = [t for t in sorted(oks) if t > 5.0]
    limit = (after[0] if after else 5.0) - 2.0
    assert 0.0 <= b["stalled_s"] <= limit + 0.0005  # rounded to the millisecond
    assert b["returned"] == sum(1 for t in oks if 2.0 < t < 5.0)


def test_lost_messages_of_a_deleted_queue_are_split_by_when_they_were_sent(
    tmp_path: Path,
) -> None:
    producer = [
        inv(0, 0, 100.0), ok(0, 0, 100.01),  # delivered
        inv(0, 1, 100.99), ok(0, 1, 101.2),  # routed to the queue, confirmed after: went with it
        inv(0, 2, 101.3), ok(0, 2, 101.31),  # no queue existed: dropped, confirmed
        inv(0, 3, 101.4), fail(0, 3, 101.41, "UnroutableError: 312 NO_ROUTE"),
        inv(0, 3, 101.6), ok(0, 3, 101.61),  # returned, sent again once the queue was back
    ]  # fmt: skip
    write(tmp_path / "producer.jsonl", "producer", producer)
    write(tmp_path / "consumer.jsonl", "consumer", [dlv(0, 0, 100.02), dlv(0, 3, 101.62)])
    write(
        tmp_path / "runner.jsonl",
        "runner",
        [
            {"ev": "fault", "kind": "queue-delete", "phase": "begin", "t": 100.98, "n": 0},
            {"ev": "fault", "kind": "queue-delete", "phase": "down", "t": 101.0, "n": 0},
            {"ev": "fault", "kind": "queue-delete", "phase": "end", "t": 101.05, "n": 0},
            {"ev": "fault", "kind": "queue-delete", "phase": "up", "t": 101.5, "n": 0},
        ],
    )
    result = check_files(sorted(tmp_path.glob("*.jsonl")))
    assert result["counts"]["lost"] == 2
    assert result["errors"] == {"UnroutableError: 312 NO_ROUTE": 1}
    (span,) = result["faults"]
    assert span["lost"] == {"with_the_queue": 1, "while_gone": 1, "after": 0}
    assert "1 sent before it was deleted (went with it), 1 sent while no queue existed" in (
        fault_text(span)
    )
