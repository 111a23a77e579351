"""The checker against hand-built histories: empty, sane, pathological, and a reference
model over random histories (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqcompare.checker import NoJournal, check_dirs, check_files
from mqcompare.journal import JournalError
from mqcompare.report import fault_text
from mqcompare.spans import faults_missed
from tests.journals import dlv, fail, header, info, inv, ok, write


def test_empty_history(tmp_path: Path) -> None:
    write(tmp_path / "journal" / "producer.jsonl", "producer", [])
    result = check_dirs([tmp_path])
    assert all(v == 0 for v in result["counts"].values())
    assert result["verdict"] == {"valid": True, "exactly_once": True}
    assert result["throughput"] == {"publish_per_s": 0.0, "deliver_per_s": 0.0}


def test_sane_history(tmp_path: Path) -> None:
    write(
        tmp_path / "journal" / "producer.jsonl",
        "producer",
        [r for s in range(3) for r in (inv(0, s, 10 + s), ok(0, s, 10.5 + s))],
    )
    write(
        tmp_path / "journal" / "consumer-0.jsonl",
        "consumer",
        [dlv(0, s, 11 + s, sent=10 + s) for s in range(3)],
    )
    result = check_dirs([tmp_path])
    c = result["counts"]
    assert (c["attempted"], c["acknowledged"], c["delivered"], c["unique"]) == (3, 3, 3, 3)
    assert c["lost"] == c["duplicated"] == c["recovered"] == c["unexpected"] == 0
    assert result["verdict"] == {"valid": True, "exactly_once": True}
    assert result["latency_ms"]["p50"] == pytest.approx(1000.0)
    assert result["throughput"]["publish_per_s"] == pytest.approx(3 / 2.5, rel=0.01)


def test_pathological_history(tmp_path: Path) -> None:
    """One of every anomaly, each on its own id."""
    producer = [
        inv(0, 0, 1),
        ok(0, 0, 1.1),  # lost: acked, never delivered
        inv(0, 1, 2),
        ok(0, 1, 2.1),  # duplicated, twice redelivered
        inv(0, 2, 3),
        info(0, 2, 3.1),  # recovered after an unknown outcome
        inv(0, 3, 4),
        fail(0, 3, 4.1),
        inv(0, 3, 5),
        fail(0, 3, 5.1),  # failed, retried
        inv(0, 4, 6),
        info(0, 4, 6.1),
        inv(0, 4, 7),  # unknown: last attempt had no outcome
        inv(0, 5, 8),
        fail(0, 5, 8.1),
        inv(0, 5, 9),
        ok(0, 5, 9.1),  # retried, then acked
        inv(0, 6, 10),
        fail(0, 6, 10.1),  # failed, yet delivered: recovered
    ]
    consumer = [
        dlv(0, 5, 9.5),
        dlv(0, 1, 9.6),
        dlv(0, 1, 9.7, redelivered=True),
        dlv(0, 1, 9.8, redelivered=True),
        dlv(0, 2, 9.9),
        dlv(0, 6, 10.2),
        dlv(7, 7, 10.3),  # unexpected: never attempted
    ]
    write(tmp_path / "journal" / "producer.jsonl", "producer", producer)
    write(tmp_path / "journal" / "consumer-0.jsonl", "consumer", consumer)
    result = check_dirs([tmp_path])
    c = result["counts"]
    assert c == {
        "attempted": 7,
        "acknowledged": 3,
        "failed": 2,
        "unknown": 2,
        "delivered": 7,
        "unique": 5,
        "lost": 1,
        "recovered": 2,
        "unexpected": 1,
        "duplicated": 1,
        "extra_deliveries": 2,
        "redelivered": 2,
        "not_delivered_unacknowledged": 2,
        "reordered": 2,
        "torn_lines": 0,
        "rejected": 0,
        "dead_lettered": 0,
        "left_in_queue": 0,
    }
    assert "poison" not in result
    assert result["verdict"] == {"valid": False, "exactly_once": False}
    assert result["errors"] == {"ConnectionRefused": 4, "StreamLostError": 2}
    assert result["anomalies"]["lost"] == ["0:0"]
    assert result["anomalies"]["unexpected"] == ["7:7"]
    assert result["anomalies"]["recovered"] == ["0:2", "0:6"]


def test_poison_rejections_and_the_dead_letter_queue(tmp_path: Path) -> None:
    """Rejected poison messages the broker dropped are lost; those found in the dead-letter
    queue (a `dead` record) are dead-lettered, not lost; rejects are counted per id."""
    producer = [x for s in range(4) for x in (inv(0, s, s), ok(0, s, s + 0.1))]
    rejects = [
        {"ev": "reject", "p": 0, "s": 1, "t": 5.0 + k, "redelivered": k > 0, "count": k or None}
        for k in range(21)
    ]
    rejects += [{"ev": "reject", "p": 0, "s": 2, "t": 6.0, "redelivered": False, "count": None}]
    consumer = [dlv(0, 0, 4.0), dlv(0, 3, 4.1), *rejects]
    runner = [{"ev": "dead", "p": 0, "s": 2, "t": 30.0, "reason": "rejected", "count": 1}]
    write(tmp_path / "journal" / "producer.jsonl", "producer", producer)
    write(tmp_path / "journal" / "consumer-0.jsonl", "consumer", consumer)
    write(tmp_path / "journal" / "runner.jsonl", "runner", runner)
    result = check_dirs([tmp_path])
    c = result["counts"]
    assert (c["lost"], c["dead_lettered"], c["rejected"]) == (1, 1, 22)
    assert result["anomalies"]["lost"] == ["0:1"]
    assert result["anomalies"]["dead_lettered"] == ["0:2"]
    assert result["poison"] == {
        "ids": 2,
        "rejections": 22,
        "most_rejections": 21,
        "delivery_count_max": 20,
        "lost": 1,
        "dead_reasons": {"rejected": 1},
    }
    assert result["verdict"]["valid"] is False


def test_reordered_counts_first_deliveries_across_consumer_journals(tmp_path: Path) -> None:
    write(
        tmp_path / "a" / "producer.jsonl",
        "producer",
        [r for s in range(4) for r in (inv(1, s, s), ok(1, s, s + 0.1))],
    )
    # consumer-1 delivers 1:2 before consumer-0 delivers 1:1 and then 1:3
    write(
        tmp_path / "a" / "consumer-0.jsonl", "consumer", [dlv(1, 0, 5), dlv(1, 1, 7), dlv(1, 3, 8)]
    )
    write(tmp_path / "a" / "consumer-1.jsonl", "consumer", [dlv(1, 2, 6), dlv(1, 1, 9)])
    c = check_dirs([tmp_path / "a"])["counts"]
    assert c["reordered"] == 1  # only 1:1, first delivered at t=7 after 1:2 at t=6
    assert c["duplicated"] == 1


def test_torn_last_line_is_counted_not_fatal(tmp_path: Path) -> None:
    write(
        tmp_path / "producer.jsonl",
        "producer",
        [inv(0, 0, 1), ok(0, 0, 2)],
        torn=b'{"ev":"invoke","p":0,"s',
    )
    write(tmp_path / "consumer.jsonl", "consumer", [dlv(0, 0, 3)])
    result = check_dirs([tmp_path])
    assert result["counts"]["torn_lines"] == 1
    assert result["counts"]["attempted"] == 1


def test_last_line_without_newline_but_complete_is_a_record(tmp_path: Path) -> None:
    write(tmp_path / "producer.jsonl", "producer", [inv(0, 0, 1)], torn=orjson.dumps(ok(0, 0, 2)))
    c = check_dirs([tmp_path])["counts"]
    assert (c["acknowledged"], c["torn_lines"], c["lost"]) == (1, 0, 1)


def test_bad_line_in_the_middle_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "producer.jsonl"
    path.write_bytes(
        orjson.dumps(header("producer"))
        + b"\n"
        + orjson.dumps(inv(0, 0, 1))
        + b"\n{broken\n"
        + orjson.dumps(ok(0, 0, 2))
        + b"\n"
    )
    with pytest.raises(JournalError, match=r"producer.jsonl: line 3"):
        check_dirs([tmp_path])


def test_missing_field_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "producer.jsonl", "producer", [inv(0, 0, 1), {"ev": "ok", "p": 0, "t": 2}])
    with pytest.raises(JournalError, match=r"line 3: bad 'ok' record"):
        check_dirs([tmp_path])


def test_missing_header_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_bytes(orjson.dumps(inv(0, 0, 1)) + b"\n")
    with pytest.raises(JournalError, match="line 1: expected a header"):
        check_dirs([tmp_path])


def test_directory_without_journal(tmp_path: Path) -> None:
    with pytest.raises(NoJournal):
        check_dirs([tmp_path])
    with pytest.raises(NoJournal):
        check_dirs([tmp_path / "missing"])


def test_journals_of_several_machines_are_checked_together(tmp_path: Path) -> None:
    write(tmp_path / "m1" / "journal" / "producer.jsonl", "producer", [inv(0, 0, 1), ok(0, 0, 2)])
    write(tmp_path / "m2" / "journal" / "producer.jsonl", "producer", [inv(1, 0, 1), ok(1, 0, 2)])
    write(tmp_path / "m3" / "journal" / "consumer.jsonl", "consumer", [dlv(0, 0, 3), dlv(1, 0, 3)])
    alone = check_dirs([tmp_path / "m1"])
    together = check_dirs([tmp_path / "m1", tmp_path / "m2", tmp_path / "m3"])
    assert alone["counts"]["lost"] == 1
    assert together["counts"]["lost"] == 0 and together["counts"]["unique"] == 2


def fault(kind: str, phase: str, t: float, n: int = 0, **extra: object) -> dict[str, object]:
    return {"ev": "fault", "kind": kind, "phase": phase, "t": t, "n": n, **extra}


def publishing(tmp_path: Path, start: float, end: float, step: float = 0.5) -> None:
    """One producer publishing from `start` to `end`, one message per `step`."""
    records, t, s = [], start, 0
    while t <= end + 1e-9:
        records += [inv(0, s, t), ok(0, s, t + 0.01)]
        t, s = t + step, s + 1
    write(tmp_path / "producer.jsonl", "producer", records)


def test_a_fault_that_went_down_while_publishing_hit(tmp_path: Path) -> None:
    publishing(tmp_path, 100.0, 105.0)
    runner = [
        fault("restart", "begin", 101.0, at=1.0),
        fault("restart", "down", 101.08),
        fault("restart", "up", 103.4),
        fault("restart", "end", 103.5),
    ]
    write(tmp_path / "runner.jsonl", "runner", runner)
    result = check_dirs([tmp_path])
    assert result["windows"]["publishing"] == [0.0, 5.01]
    assert result["faults"] == [
        {
            "kind": "restart",
            "target": "broker",
            "at_s": 1.0,
            "begin_s": 1.0,
            "down_s": 1.08,
            "up_s": 3.4,
            "end_s": 3.5,
            "hit": True,
            "lag_s": 0.08,
            "noticed_s": None,  # no publish failed after it began
        }
    ]
    assert faults_missed(result | {"spec": {"faults": ["restart@1s:2s"]}}) == ""


def test_a_fault_is_noticed_at_the_first_publish_error_after_it_began(tmp_path: Path) -> None:
    records = [inv(0, 0, 100.0), info(0, 0, 100.5), inv(0, 0, 101.0), ok(0, 0, 101.1)]
    records += [inv(0, 1, 101.2), info(0, 1, 101.7), inv(0, 1, 101.8), ok(0, 1, 101.9)]
    write(tmp_path / "producer.jsonl", "producer", records)
    runner = [fault("kill", "begin", 101.15, at=1.0), fault("kill", "down", 101.2)]
    write(tmp_path / "runner.jsonl", "runner", runner)
    (span,) = check_dirs([tmp_path])["faults"]
    assert span["noticed_s"] == 1.7, "the error before the fault began is not its notice"
    assert span["noticed_by"] == {"0": 1.7}


def test_each_producer_s_first_notice_is_kept_apart(tmp_path: Path) -> None:
    """`noticed_by`: when each producer first raised after the fault began; a producer
    that never raised is left out."""
    records = [inv(0, 0, 101.0), info(0, 0, 102.0), inv(0, 0, 102.1), info(0, 0, 102.4)]
    records += [inv(1, 0, 101.0), info(1, 0, 103.5), inv(2, 0, 101.0), ok(2, 0, 101.1)]
    write(tmp_path / "producer.jsonl", "producer", records)
    runner = [fault("blackhole", "begin", 101.5, at=0.5), fault("blackhole", "down", 101.6)]
    write(tmp_path / "runner.jsonl", "runner", runner)
    (span,) = check_dirs([tmp_path])["faults"]
    assert span["noticed_s"] == 1.0
    assert span["noticed_by"] == {"0": 1.0, "1": 2.5}
    assert "; first publish error 1.00 s (2 producers, 1.00-2.50 s)" in fault_text(span)


def test_a_fault_that_went_down_after_publishing_ended_missed(tmp_path: Path) -> None:
    """The issue's first run: the node stopped after the last producer had finished."""
    publishing(tmp_path, 100.0, 102.5)
    write(
        tmp_path / "runner.jsonl",
        "runner",
        [
            fault("restart", "begin", 101.0, 0, at=1.0),
            fault("restart", "down", 102.6, 0),
            fault("restart", "up", 104.0, 0),
            fault("restart", "end", 104.0, 0),
            fault("restart", "begin", 104.0, 1, at=4.0),
            fault("restart", "down", 104.1, 1),
            fault("restart", "up", 105.6, 1),
            fault("restart", "end", 105.6, 1),
        ],
    )
    result = check_dirs([tmp_path])
    first, second = result["faults"]
    assert not first["hit"] and not second["hit"]
    assert first["why"] == "missed publishing: down at 2.60 s, publishing ended at 2.51 s"
    assert second["lag_s"] == 0.1  # due when the first ended (4.0 s), down at 4.1 s
    spec = {"faults": ["restart@1s:2s", "restart@4s:2s"]}
    assert faults_missed(result | {"spec": spec}) == "restart@1s, restart@4s missed"


def test_a_fault_that_struck_nothing_missed(tmp_path: Path) -> None:
    publishing(tmp_path, 100.0, 105.0)
    write(
        tmp_path / "runner.jsonl",
        "runner",
        [
            fault("drop", "begin", 101.0, at=1.0),
            fault("drop", "note", 101.01, text="no client connection was open"),
            fault("drop", "end", 101.02),
            fault("kill", "begin", 102.0, 1, at=2.0),
            fault("kill", "end", 102.5, 1, error="no pid file"),
        ],
    )
    drop, kill = check_dirs([tmp_path])["faults"]
    assert (drop["hit"], drop["why"]) == (False, "missed: no client connection was open")
    assert drop["notes"] == ["no client connection was open"]
    assert (kill["hit"], kill["why"]) == (False, "missed: no pid file")


def test_an_instant_fault_hits_inside_the_window(tmp_path: Path) -> None:
    publishing(tmp_path, 100.0, 105.0)
    write(
        tmp_path / "runner.jsonl",
        "runner",
        [
            fault("drop", "begin", 102.0, at=2.0),
            fault("drop", "down", 102.01, struck="11 connections"),
            fault("drop", "up", 102.01),
            fault("drop", "end", 102.02),
        ],
    )
    (drop,) = check_dirs([tmp_path])["faults"]
    assert drop["hit"] and drop["struck"] == "11 connections"
    assert drop["down_s"] == drop["up_s"] == 2.01


def test_consumer_faults_are_judged_against_delivering(tmp_path: Path) -> None:
    """With --consume after, a consumer killed while producers publish strikes nothing."""
    publishing(tmp_path, 100.0, 103.0)
    write(tmp_path / "consumer-1.jsonl", "consumer", [dlv(0, s, 104.0 + s / 10) for s in range(7)])
    write(
        tmp_path / "runner.jsonl",
        "runner",
        [
            fault("consumer-kill", "begin", 101.0, 0, at=1.0),
            fault("consumer-kill", "down", 101.05, 0),
            fault("consumer-kill", "up", 101.9, 0),
            fault("consumer-kill", "end", 101.9, 0),
            fault("consumer-kill", "begin", 104.2, 1, at=4.2),
            fault("consumer-kill", "down", 104.25, 1),
            fault("consumer-kill", "end", 104.3, 1),
        ],
    )
    result = check_dirs([tmp_path])
    before, during = result["faults"]
    assert result["windows"]["delivering"] == [4.0, 4.6]
    assert before["target"] == "consumer"
    assert before["why"] == "missed delivering: back at 1.90 s, delivering began at 4.00 s"
    assert during["hit"]


def test_a_worker_kill_of_an_idle_process_missed(tmp_path: Path) -> None:
    publishing(tmp_path, 100.0, 103.0)
    write(tmp_path / "worker-1.jsonl", "consumer", [dlv(0, s, 100.5 + s / 2) for s in range(6)])
    write(
        tmp_path / "runner.jsonl",
        "runner",
        [
            fault("worker-kill", "begin", 101.0, 0, at=1.0),
            fault("worker-kill", "down", 101.01, 0, struck="pool process 7", idle=True),
            fault("worker-kill", "end", 101.3, 0),
            fault("worker-kill", "begin", 102.0, 1, at=2.0),
            fault("worker-kill", "down", 102.01, 1, struck="pool process 8 running task 0:3"),
            fault("worker-kill", "end", 102.3, 1),
        ],
    )
    idle, busy = check_dirs([tmp_path])["faults"]
    assert (idle["hit"], idle["why"]) == (False, "missed: it struck a process that held no message")
    assert busy["hit"] and busy["struck"] == "pool process 8 running task 0:3"


def test_a_consumer_killed_while_processing_hit_even_as_its_last_delivery(
    tmp_path: Path,
) -> None:
    """With auto acks the killed consumer's last delivery is the last of the run (what it
    held is lost): its kill lands just after the delivering window, yet it was seen
    processing a message when it went down."""
    publishing(tmp_path, 100.0, 100.5)
    write(tmp_path / "consumer-0.jsonl", "consumer", [dlv(0, s, 100.1 + s / 10) for s in range(9)])
    write(
        tmp_path / "runner.jsonl",
        "runner",
        [
            fault("consumer-kill", "begin", 100.9, at=0.9),
            fault(
                "consumer-kill", "down", 100.903, struck="consumer-0 processing 0:9", held=["0:9"]
            ),
            fault("consumer-kill", "up", 101.1),
            fault("consumer-kill", "end", 101.1),
        ],
    )
    result = check_dirs([tmp_path])
    (kill,) = result["faults"]
    assert result["windows"]["delivering"][1] < kill["down_s"]
    assert kill["hit"] and kill["held"] == ["0:9"]


def test_journals_without_phases_or_n_still_pair_and_say_nothing_was_seen(
    tmp_path: Path,
) -> None:
    """A journal from before the down/up phases: begin and end pair by order; with
    nothing observed the fault is not known to have hit. Unknown phases are ignored."""
    publishing(tmp_path, 100.0, 101.0)
    write(
        tmp_path / "runner.jsonl",
        "runner",
        [
            {"ev": "fault", "kind": "restart", "phase": "begin", "t": 100.5},
            {"ev": "fault", "kind": "restart", "phase": "wobble", "t": 100.6},
            {"ev": "fault", "kind": "restart", "phase": "end", "t": 103.5},
        ],
    )
    (span,) = check_dirs([tmp_path])["faults"]
    assert (span["begin_s"], span["end_s"], span["at_s"]) == (0.5, 3.5, None)
    assert (span["hit"], span["why"]) == (False, "missed: nothing went down")


def test_a_planned_fault_that_never_began_is_missed() -> None:
    result = {"spec": {"faults": ["restart@1s:1s", "kill@9s"]}, "faults": [{"hit": True}]}
    assert faults_missed(result) == "kill@9s (never launched) missed"


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0, 10),
    st.floats(0, 10),
    st.floats(0, 10),
    st.floats(0, 5),
)
def test_hit_is_an_overlap_of_the_down_and_publishing_windows(
    tmp_path_factory: pytest.TempPathFactory, start: float, length: float, down: float, dur: float
) -> None:
    d = tmp_path_factory.mktemp("w")
    base = 1000.0
    # the first publish defines 0; publishing then runs from `start` to `start + length`
    write(
        d / "producer.jsonl",
        "producer",
        [inv(0, 0, base), ok(0, 0, base), inv(0, 1, base + start), ok(0, 1, base + start + length)],
    )
    write(
        d / "runner.jsonl",
        "runner",
        [
            fault("kill", "begin", base + down),
            fault("kill", "down", base + down),
            fault("kill", "up", base + down + dur),
            fault("kill", "end", base + down + dur),
        ],
    )
    (span,) = check_dirs([d])["faults"]
    end = round(start + length, 3)
    assert span["hit"] == (round(down, 3) <= end)


# -- a reference model over random histories --------------------------------------------

event = st.sampled_from(
    ["invoke", "ok", "fail", "info", "deliver", "redeliver", "reject", "dead", "left"]
)
history = st.lists(st.tuples(event, st.integers(0, 2), st.integers(0, 5)), max_size=60)


def reference(events: list[tuple[str, int, int]]) -> dict[str, int]:
    """The words of docs/architecture.md, computed the slow and obvious way."""
    attempted = {(p, s) for e, p, s in events if e == "invoke"}
    acked = {(p, s) for e, p, s in events if e == "ok"}
    delivered = [(p, s) for e, p, s in events if e in ("deliver", "redeliver")]
    unique = set(delivered)
    dead = {(p, s) for e, p, s in events if e == "dead"} - unique
    left = {(p, s) for e, p, s in events if e == "left"} - unique - dead

    def latest_attempt(key: tuple[int, int]) -> str | None:
        outcome = None
        for e, p, s in events:
            if (p, s) != key:
                continue
            if e == "invoke":
                outcome = None
            elif e in ("fail", "info"):
                outcome = e
        return outcome

    unacked = attempted - acked
    failed = {k for k in unacked if latest_attempt(k) == "fail"}
    first_delivered: dict[tuple[int, int], int] = {}  # an event's index is its time
    for i, (e, p, s) in enumerate(events):
        if e in ("deliver", "redeliver"):
            first_delivered.setdefault((p, s), i)
    reordered, highest = 0, {}
    for p, s in sorted(first_delivered, key=first_delivered.__getitem__):
        if s < highest.get(p, -1):
            reordered += 1  # after a later message of its producer
        highest[p] = max(s, highest.get(p, -1))
    return {
        "attempted": len(attempted),
        "acknowledged": len(acked),
        "failed": len(failed),
        "unknown": len(unacked - failed),
        "delivered": len(delivered),
        "unique": len(unique),
        "lost": len(acked - unique - dead - left),
        "recovered": len(unacked & unique),
        "unexpected": len(unique - attempted),
        "duplicated": len({k for k in attempted if delivered.count(k) > 1}),
        "extra_deliveries": len(delivered) - len(unique),
        "redelivered": sum(1 for e, _, _ in events if e == "redeliver"),
        "not_delivered_unacknowledged": len(unacked - unique),
        "rejected": sum(1 for e, _, _ in events if e == "reject"),
        "dead_lettered": len(dead),
        "left_in_queue": len(left),
        "reordered": reordered,
    }


@settings(max_examples=150, deadline=None)
@given(history, st.booleans())
def test_counts_match_the_reference_model(
    tmp_path_factory: pytest.TempPathFactory,
    events: list[tuple[str, int, int]],
    split_consumers: bool,
) -> None:
    d = tmp_path_factory.mktemp("h")
    producer, consumers = [], [[], []]
    for i, (e, p, s) in enumerate(events):
        t = float(i)
        if e in ("deliver", "redeliver"):
            which = consumers[i % 2 if split_consumers else 0]
            which.append(dlv(p, s, t, redelivered=e == "redeliver"))
        elif e == "reject":
            which = consumers[i % 2 if split_consumers else 0]
            which.append({"ev": "reject", "p": p, "s": s, "t": t, "redelivered": False})
        elif e == "dead":
            producer.append({"ev": "dead", "p": p, "s": s, "t": t, "reason": "delivery_limit"})
        elif e == "left":
            producer.append({"ev": "left", "p": p, "s": s, "t": t, "count": None})
        else:
            producer.append({"invoke": inv, "ok": ok, "fail": fail, "info": info}[e](p, s, t))
    files = [
        write(d / "producer.jsonl", "producer", producer),
        write(d / "consumer-0.jsonl", "consumer", consumers[0]),
        write(d / "consumer-1.jsonl", "consumer", consumers[1]),
    ]
    result = check_files(files)
    got = {k: v for k, v in result["counts"].items() if k != "torn_lines"}
    assert got == reference(events)
    assert result["verdict"]["valid"] == (got["lost"] == 0 and got["unexpected"] == 0)


def test_a_slow_link_s_rate_is_counted_while_it_was_slow(tmp_path: Path) -> None:
    """A delay's span carries the publish rate while the link was delayed, and a claim
    comparing cells for speed uses it, not the run's rate (whose first burst, before the
    rules were in place, can outweigh the whole window)."""
    from mqcompare.matrix.claims import median_rate

    records = [
        r for s in range(100) for r in (inv(0, s, 100.0 + s / 1000), ok(0, s, 100.001 + s / 1000))
    ]
    records += [
        r
        for s in range(100, 110)
        for r in (inv(0, s, 100.1 + (s - 100) / 10), ok(0, s, 100.2 + (s - 100) / 10))
    ]
    write(tmp_path / "producer.jsonl", "producer", records)
    runner = [
        fault("delay", "begin", 100.0, at=0.0),
        fault("delay", "down", 100.1),
        fault("delay", "up", 101.1),
        fault("delay", "end", 101.1),
    ]
    write(tmp_path / "runner.jsonl", "runner", runner)
    result = check_dirs([tmp_path])
    (span,) = result["faults"]
    assert span["publish_per_s"] == 10.0, "10 confirmed in the second the link was slow"
    assert result["throughput"]["publish_per_s"] > 50, "the run's own rate, first burst and all"
    assert median_rate([result]) == 10.0


def test_ids_far_apart_and_negative_are_counted_as_ids(tmp_path: Path) -> None:
    """Ids become one integer each for the set arithmetic: however large or negative
    (another tool's journal), each stays itself."""
    ids = [(0, 0), (0, 2**40), (-5, 3), (2**20, 1)]
    write(
        tmp_path / "producer.jsonl",
        "producer",
        [r for p, s in ids for r in (inv(p, s, 1), ok(p, s, 2))],
    )
    write(
        tmp_path / "consumer-0.jsonl",
        "consumer",
        [dlv(p, s, 3) for p, s in ids[1:]] + [dlv(7, 7, 4)],
    )
    result = check_dirs([tmp_path])
    c = result["counts"]
    assert (c["lost"], c["unexpected"], c["unique"]) == (1, 1, 4)
    assert result["anomalies"]["lost"] == ["0:0"]
    assert result["anomalies"]["unexpected"] == ["7:7"]
