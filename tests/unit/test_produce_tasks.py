"""The asyncio producer loop's window and journaling, against a scripted publisher (pure
logic: no broker; the real thing is in tests/contract and tests/faults)."""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mqcompare.journal import JournalWriter
from mqcompare.produce_tasks import Producer
from mqcompare.spec import RunSpec
from mqcompare.stacks import NotSent


class Scripted:
    """Confirms each message after a tick; raises what `outcomes` says for an attempt."""

    def __init__(self, outcomes: dict[tuple[int, int], list[BaseException]] | None = None):
        self.outcomes = outcomes or {}
        self.in_flight = 0
        self.most = 0
        self.closed = False

    async def publish(self, p: int, s: int, body: bytes) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            planned = self.outcomes.get((p, s))
            if planned:
                raise planned.pop(0)
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        self.closed = True


def produce(tmp: Path, publisher: Scripted, messages: int, window: int, **spec: object) -> list:
    run_spec = RunSpec(stack="aio-pika", mode="channel-per-producer", messages=messages, **spec)
    path = tmp / f"producer-{time.monotonic_ns()}.jsonl"
    with JournalWriter(path, "producer", run_spec.run_id) as journal:
        producer = Producer(
            0, run_spec, publisher, journal, window, time.monotonic() + 30, threading.Event()
        )
        asyncio.run(producer.run())
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


@settings(max_examples=25, deadline=None)
@given(window=st.integers(1, 30), messages=st.integers(1, 60))
def test_the_window_bounds_what_is_in_flight(window: int, messages: int) -> None:
    publisher = Scripted()
    with tempfile.TemporaryDirectory() as tmp:
        records = produce(Path(tmp), publisher, messages, window)
    assert publisher.most == min(window, messages)
    oks = [r["s"] for r in records if r["ev"] == "ok"]
    assert sorted(oks) == list(range(messages))  # each message its own `ok`, once
    assert publisher.closed


def test_each_message_is_journaled_by_its_own_outcome_and_retried(tmp_path: Path) -> None:
    publisher = Scripted(
        {(0, 2): [NotSent(ConnectionError("closed"))], (0, 5): [TimeoutError(), TimeoutError()]}
    )
    records = produce(tmp_path, publisher, 8, 4)
    by_id = {s: [r["ev"] for r in records if r["s"] == s] for s in range(8)}
    assert by_id[2] == ["invoke", "fail", "invoke", "ok"]
    assert by_id[5] == ["invoke", "info", "invoke", "info", "invoke", "ok"]
    assert [r.get("err") for r in records if r["ev"] == "fail"] == ["ConnectionError"]
    assert all(by_id[s] == ["invoke", "ok"] for s in (0, 1, 3, 4, 6, 7))


def test_a_spent_retry_budget_leaves_the_last_attempt_as_the_outcome(tmp_path: Path) -> None:
    publisher = Scripted({(0, 0): [TimeoutError()] * 50})
    records = produce(tmp_path, publisher, 2, 2, retry_budget_s=0.0)
    assert [r["ev"] for r in records if r["s"] == 0] == ["invoke", "info"]
    assert [r["ev"] for r in records if r["s"] == 1] == ["invoke", "ok"]


def test_messages_in_flight_when_cancelled_are_journaled_open(tmp_path: Path) -> None:
    class Hanging(Scripted):
        async def publish(self, p: int, s: int, body: bytes) -> None:
            await asyncio.sleep(3600)  # a confirm that never comes

    spec = RunSpec(stack="aio-pika", mode="channel-per-producer", messages=10)
    path = tmp_path / "producer.jsonl"

    async def main() -> None:
        with JournalWriter(path, "producer", spec.run_id) as journal:
            producer = Producer(
                0, spec, Hanging(), journal, 3, time.monotonic() + 30, threading.Event()
            )
            task = asyncio.create_task(producer.run())
            await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.wait([task])

    asyncio.run(main())
    records = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert [(r["ev"], r["s"]) for r in records if r["ev"] == "invoke"] == [
        ("invoke", 0),
        ("invoke", 1),
        ("invoke", 2),
    ]
    assert sorted(r["s"] for r in records if r["ev"] == "info") == [0, 1, 2]


def test_a_stop_cancels_what_is_in_flight_and_journals_it_open(tmp_path: Path) -> None:
    """SIGTERM (the runner stopping stalled producers) sets `stopping`: publishes awaiting a
    confirm that never comes are cancelled at once, each journaled `info`."""
    from mqcompare.produce_tasks import run

    class Hanging(Scripted):
        async def publish(self, p: int, s: int, body: bytes) -> None:
            await asyncio.sleep(3600)

    class Session:
        window = 4

        async def publisher(self, p: int) -> Hanging:
            return Hanging()

        async def close(self) -> None:
            pass

    async def opening() -> Session:
        return Session()

    spec = RunSpec(stack="aio-pika", mode="channel-per-producer", producers=2, messages=10)
    stopping = threading.Event()
    threading.Timer(0.3, stopping.set).start()
    path = tmp_path / "producer.jsonl"
    started = time.monotonic()
    with JournalWriter(path, "producer", spec.run_id) as journal:
        run(spec, opening(), journal, time.monotonic() + 60, stopping)
    assert time.monotonic() - started < 5
    records = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    invoked = {(r["p"], r["s"]) for r in records if r["ev"] == "invoke"}
    assert invoked == {(p, s) for p in (0, 1) for s in range(4)}
    assert {(r["p"], r["s"]) for r in records if r["ev"] == "info"} == invoked
