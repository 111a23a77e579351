"""The fault registry and the nemesis, with fakes (no broker, no process): each kind's
grammar comes from its entry; a broker offers a kind by its capability; a fault on a
cluster strikes the nodes its target names, at once, with one down and one up; the
nemesis runs a plan in order and journals what each fault observed."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mqcompare.brokers.base import BrokerControl
from mqcompare.errors import BadInput, InfrastructureError
from mqcompare.faults.kind import NODE_TARGETS, Context, Fault, FaultKind, Param
from mqcompare.faults.nemesis import FaultRunner
from mqcompare.faults.plan import check_nodes, parse_fault, require
from mqcompare.faults.registry import KINDS
from mqcompare.faults.strike import refusal
from mqcompare.journal import JournalWriter


class Node:
    """A fake node that can be restarted, killed and paused: it logs down, then up."""

    def __init__(self, label: str, struck: list[str]) -> None:
        self.label, self.struck = label, struck

    def _down_up(self, what: str, down: float, log: Any) -> None:
        self.struck.append(f"{what} {self.label}")
        log.down(time.time())
        time.sleep(down)
        log.up(time.time())

    def restart(self, down: float, log: Any) -> None:
        self._down_up("restart", down, log)

    def kill(self, down: float, log: Any) -> None:
        self._down_up("kill", down, log)

    def pause(self, down: float, log: Any) -> None:
        self._down_up("pause", down, log)


class OneNode(BrokerControl, Node):
    url = "amqp://guest:guest@127.0.0.1:1/"

    def __init__(self) -> None:
        Node.__init__(self, "node1", [])


class Cluster(BrokerControl):
    url = "amqp://guest:guest@127.0.0.2:1/"

    def __init__(self, n: int = 3, leader: int = 1) -> None:
        self.struck: list[str] = []
        self.nodes = [Node(f"node{i + 1}", self.struck) for i in range(n)]
        self.addresses = tuple(f"127.0.0.{i + 1}" for i in range(n))
        self._leader = leader

    def members(self) -> list[object]:
        return list(self.nodes)

    def nodes_for(self, target: str, queue: str) -> list[int]:
        if target == "all":
            return list(range(len(self.nodes)))
        if target.startswith("node"):
            return [int(target[4:]) - 1]
        return [self._leader]


class Log:
    """A PhaseLog that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def down(self, t: float, **detail: Any) -> None:
        self.events.append(("down", detail))

    def up(self, t: float) -> None:
        self.events.append(("up", None))

    def note(self, text: str) -> None:
        self.events.append(("note", text))

    def watch_up(self, condition: Any, timeout: float, missing: str) -> None:
        self.events.append(("watch", missing))


def test_every_kind_parses_its_own_example_and_prints_back() -> None:
    for kind in KINDS.values():
        example = kind.example.split("[")[0]  # the grammar's optional parts left out
        if kind.down == "required" and example.count(":") == 0:
            example += ":2s"
        fault = parse_fault(example)
        assert fault.kind == kind.name
        assert parse_fault(str(fault)) == fault


@pytest.mark.parametrize("name", [k.name for k in KINDS.values() if k.down == "none"])
def test_a_kind_without_down_time_refuses_one(name: str) -> None:
    with pytest.raises(BadInput, match=f"^--fault: {name} takes no down time"):
        parse_fault(f"{name}@1s:2s")


@pytest.mark.parametrize("name", [k.name for k in KINDS.values() if k.down == "required"])
def test_a_kind_that_needs_a_duration_says_so(name: str) -> None:
    with pytest.raises(BadInput, match="needs its duration"):
        parse_fault(f"{name}@1s")


@pytest.mark.parametrize("name", [k.name for k in KINDS.values() if k.targets and not k.nodes])
def test_a_kind_with_its_own_target_words_names_them(name: str) -> None:
    kind = KINDS[name]
    assert parse_fault(f"{name}@1s:2s:{kind.targets[-1]}").target == kind.targets[-1]
    with pytest.raises(BadInput, match=", ".join(kind.targets)):
        parse_fault(f"{name}@1s:2s:nowhere")


def test_node_targets_are_checked_against_the_run_s_nodes() -> None:
    check_nodes(parse_fault("kill@1s:1s:node3"), 3)
    with pytest.raises(BadInput, match=r"node1\.\.node1"):
        check_nodes(parse_fault("kill@1s:1s:node3"), 1)
    with pytest.raises(BadInput, match="no follower"):
        check_nodes(parse_fault("restart@1s:follower"), 1)
    with pytest.raises(BadInput, match="cluster of 3"):
        check_nodes(parse_fault("partition@1s:2s"), 1)
    with pytest.raises(BadInput, match="takes no target"):
        parse_fault("consumer-kill@1s:2s:leader")


def test_a_broker_offers_a_kind_by_having_its_capability() -> None:
    class Url(BrokerControl):
        url = "amqp://guest:secret@example.org:5672/"

    assert refusal(KINDS["restart"], OneNode()) == ""
    assert refusal(KINDS["restart"], Cluster()) == "", "every node of it can be restarted"
    said = refusal(KINDS["restart"], Url())
    assert said.startswith("--fault restart: the broker amqp://guest:***@example.org")
    assert "secret" not in said
    assert refusal(KINDS["drop"], OneNode()), "the fake node evaluates nothing"
    assert refusal(KINDS["consumer-kill"], Url()) == "", "the consuming side is the run's own"
    with pytest.raises(InfrastructureError, match="cannot be partitioned"):
        require(OneNode(), ["restart", "partition"])


def test_a_fault_on_one_broker_strikes_it_without_naming_a_node() -> None:
    broker, log = OneNode(), Log()
    KINDS["kill"].perform(Fault("kill", 0.0, 0.01), Context(broker, "q"), log)
    assert broker.struck == ["kill node1"]
    assert [e[0] for e in log.events] == ["down", "up"]


def test_a_fault_on_all_nodes_is_down_at_the_first_and_up_at_the_last() -> None:
    broker, log = Cluster(3), Log()
    KINDS["restart"].perform(Fault("restart", 0.0, 0.05, "all"), Context(broker, "q"), log)
    assert sorted(broker.struck) == ["restart node1", "restart node2", "restart node3"]
    phases = [e[0] for e in log.events]
    assert phases == ["note", "down", "up"], "one down, one up for the three nodes"
    assert log.events[0][1] == "target all: node1, node2, node3"
    assert log.events[1][1]["node"] == "node1, node2, node3"


def test_a_node_fault_strikes_the_queue_s_leader_by_default() -> None:
    broker, log = Cluster(3, leader=2), Log()
    KINDS["pause"].perform(Fault("pause", 0.0, 0.01), Context(broker, "q"), log)
    assert broker.struck == ["pause node3"]


def test_the_nemesis_runs_a_plan_in_order_and_journals_each_phase(tmp_path: Path) -> None:
    broker = OneNode()
    journal = JournalWriter(tmp_path / "runner.jsonl", "runner", "r1")
    plan = (parse_fault("restart@0.05s:0.05s"), parse_fault("kill@0.01s:0.05s"))
    events: list[str] = []
    runner = FaultRunner(plan, Context(broker, "q"), journal, on_event=events.append)
    runner.start()
    runner.start_clock(time.time())
    runner.join(timeout=10)
    journal.close()
    assert not runner.is_alive() and runner.errors == []
    assert broker.struck == ["restart node1", "kill node1"]
    records = [json.loads(line) for line in (tmp_path / "runner.jsonl").read_text().splitlines()]
    phases = [(r["n"], r["phase"]) for r in records if r.get("ev") == "fault"]
    assert phases == [(0, "begin"), (0, "down"), (0, "up"), (0, "end"),
                      (1, "begin"), (1, "down"), (1, "up"), (1, "end")]  # fmt: skip
    ends = [r["t"] for r in records if r.get("phase") == "end"]
    second = next(r for r in records if r.get("n") == 1 and r["phase"] == "begin")
    assert second["t"] >= ends[0], "a fault due earlier waits for the one before to end"
    assert len(events) == 2 and events[0].startswith("restart@0.05s:0.05s: launched")


def test_a_fault_that_fails_is_journaled_with_its_error(tmp_path: Path) -> None:
    journal = JournalWriter(tmp_path / "runner.jsonl", "runner", "r1")
    runner = FaultRunner((parse_fault("drop@0s"),), Context(OneNode(), "q"), journal)
    runner.start()
    runner.start_clock(time.time())
    runner.join(timeout=10)
    journal.close()
    assert runner.errors and "cannot be made to drop clients" in runner.errors[0]
    end = json.loads((tmp_path / "runner.jsonl").read_text().splitlines()[-1])
    assert end["phase"] == "end" and "cannot be made to drop clients" in end["error"]


class Process:
    def __init__(self, pid: int) -> None:
        self.name, self._pid, self.killed, self.started = f"consumer-{pid}", pid, False, time.time()

    @property
    def pid(self) -> int:
        return self._pid

    def alive(self) -> bool:
        return not self.killed

    def ready(self) -> bool:
        return True

    def kill(self) -> None:
        self.killed = True


class Consumers:
    """The consuming side as its faults see it, with fake processes."""

    def __init__(self, busy_dir: Path) -> None:
        self.lock = threading.Lock()
        self.busy_dir = busy_dir
        self.now: Process | None = Process(1000)
        self.started = 0

    def current(self) -> Process | None:
        return self.now

    def forget(self) -> None:
        self.now = None

    def replace(self) -> Process:
        self.started += 1
        self.now = Process(2000 + self.started)
        return self.now


def test_consumer_kill_kills_the_consumer_and_starts_another_down_later(tmp_path: Path) -> None:
    side, log = Consumers(tmp_path), Log()
    victim = side.now
    started = time.time()
    KINDS["consumer-kill"].perform(
        Fault("consumer-kill", 0.0, 0.2), Context(OneNode(), "q", side), log
    )
    assert victim is not None and victim.killed
    assert side.started == 1 and side.now is not None and side.now.started - started >= 0.2
    down = log.events[0]
    assert down[0] == "down" and down[1]["pid"] == 1000 and "held" not in down[1]
    assert log.events[-1][0] == "up"


def test_consumer_kill_with_no_consumer_strikes_nothing(tmp_path: Path) -> None:
    side, log = Consumers(tmp_path), Log()
    side.now = None
    KINDS["worker-crash"].perform(Fault("worker-crash", 0.0), Context(OneNode(), "q", side), log)
    assert log.events == [("note", "no consumer was running: none was killed")]
    assert side.started == 0


def _ms(text: str) -> str:
    if not text.endswith("ms") or not text[:-2].isdigit():
        raise ValueError(f"{text!r} is not milliseconds, e.g. 200ms")
    return text


def test_a_kind_s_own_parameters_come_between_down_and_target(monkeypatch: Any) -> None:
    """The contract a new kind extends the grammar by: Params, parsed by the kind."""
    kind = FaultKind(
        "slow", "slow@1s:5s:MS[:TARGET]", "a slow link", "broker", lambda *_: None,
        down="required", targets=NODE_TARGETS, nodes=True, params=(Param("MS", _ms),),
    )  # fmt: skip
    monkeypatch.setitem(KINDS, "slow", kind)
    fault = parse_fault("slow@1s:5s:200ms:leader")
    assert (fault.down, fault.params, fault.target) == (5.0, ("200ms",), "leader")
    assert str(fault) == "slow@1s:5s:200ms:leader"
    assert parse_fault("slow@1s:5s:200ms").target == ""
    with pytest.raises(BadInput, match="MS: '2s' is not milliseconds"):
        parse_fault("slow@1s:5s:2s")
    with pytest.raises(BadInput, match="needs its MS"):
        parse_fault("slow@1s:5s")
    with pytest.raises(BadInput, match="more parts"):
        parse_fault("slow@1s:5s:200ms:leader:again")


def test_what_the_machine_lacks_for_a_kind_refuses_the_run(monkeypatch: Any) -> None:
    needy = dataclasses.replace(KINDS["kill"], unmet=lambda: "tc is not installed")
    monkeypatch.setitem(KINDS, "kill", needy)
    with pytest.raises(InfrastructureError, match=r"^--fault kill: tc is not installed$"):
        require(OneNode(), ["kill"])


def test_the_guardian_runs_a_fault_s_undo_commands_when_its_owner_dies(tmp_path: Path) -> None:
    from mqcompare.brokers.guardian import Guardian

    guardian = Guardian.start()
    mark = tmp_path / "undone"
    guardian.tell("fault-1", undo=[["touch", str(mark)]])
    guardian.tell("fault-2", undo=[["touch", str(tmp_path / "released")]])
    guardian.release("fault-2", last=False)
    assert guardian.proc.stdin is not None
    guardian.proc.stdin.close()  # as the kernel does for an owner that died
    guardian.proc.wait(timeout=20)
    assert mark.exists() and not (tmp_path / "released").exists()


def test_link_faults_parse_their_delay_and_share() -> None:
    """delay's MS (ms or s, with an optional ~JITTER) and loss's PCT, normalised; reset
    takes no down time."""
    from mqcompare.faults.link import delay_ms

    fault = parse_fault("delay@1s:4s:0.2s~50ms:node2")
    assert (fault.params, fault.target, delay_ms(fault)) == (("200ms~50ms",), "node2", (200, 50))
    assert str(parse_fault("delay@1s:4s:200ms")) == "delay@1s:4s:200ms"
    assert parse_fault("loss@6s:3s:20").params == ("20%",)
    for bad, says in [
        ("delay@1s:4s:0ms", "above 0 ms"),
        ("delay@1s:4s:fast", "is not a delay"),
        ("loss@1s:2s:0%", "from 1% to 100%"),
        ("loss@1s:2s:12.5%", "from 1% to 100%"),
        ("loss@1s:2s:many", "is not a share"),
        ("reset@1s:2s", "reset takes no down time"),
        ("blackhole@1s", "needs its duration"),
    ]:
        with pytest.raises(BadInput, match=says):
            parse_fault(bad)
