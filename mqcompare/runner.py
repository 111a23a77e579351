"""One run: broker -> queue -> consumer -> producers -> faults -> drain -> check.

Every process the runner starts (consumer, producer process, broker node) is
stopped by it, by the pid it started, on success, on failure and on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mqcompare.admin import QueueAdmin
from mqcompare.brokers.base import BrokerControl
from mqcompare.brokers.factory import broker_kind, open_broker
from mqcompare.checker import check_files
from mqcompare.consumer_state import BUSY_ENV, READY_ENV
from mqcompare.environment import environment, major_version
from mqcompare.errors import BadInput, BrokerNotBack, InfrastructureError, NotOnThisBroker
from mqcompare.faults.kind import Context
from mqcompare.faults.nemesis import FaultRunner
from mqcompare.faults.plan import require
from mqcompare.faults.registry import KINDS
from mqcompare.files import write_json
from mqcompare.handover import Handover
from mqcompare.journal import JournalWriter, journal_files
from mqcompare.notes import run_notes
from mqcompare.observe import wait_for
from mqcompare.orphan import PARENT_ENV
from mqcompare.placement import PLACEMENT_ENV, rotate
from mqcompare.placement import describe as describe_placement
from mqcompare.poison import LOOPING_S, journal_taken, poison_notes, still_looping
from mqcompare.progress import JournalTail
from mqcompare.result import Drain, RunResult, idle_text
from mqcompare.spec import RunSpec
from mqcompare.stacks import (
    CONFIRM_WINDOW,
    GO_ENV,
    HEARTBEAT_ENV,
    RUN_DIR_ENV,
    URL_ENV,
    Stack,
    all_stacks,
    load_stack,
)
from mqcompare.units import redact_url

POLL_S = 0.1  # how often a run looks at its journals, producers, consumer and queue
QUIET_S = 1.0  # no new delivery for this long, and an empty queue: drained
# where the broker holds each message until it is journaled (Stack.holds_until_journaled),
# an empty queue, nothing held and this long without a delivery: drained (the moment
# lets publishes that were never confirmed reach the queue)
SETTLE_S = 0.1
MIN_WAIT_S = 0.005
STOP_GRACE_S = 5.0
DUMP_TIMEOUT_S = 0.5  # a process's thread stacks reach its log within this
READY_TIMEOUT_S = 60.0  # a consumer must consume within this of its start

Report = Callable[[RunResult | None, BaseException | None], None]
"""What a run deferred to a Handover hands over when it ends: its result or its error."""


class Child:
    """A process this run started, in its own process group, with its output in a file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        url: str,
        env_extra: dict[str, str] | None = None,
        ready_file: Path | None = None,
        placed: dict[str, Any] | None = None,
        term_leader_only: bool = False,
    ) -> None:
        self.name = name
        self.log = log
        self.ready_file = ready_file
        self.term_leader_only = term_leader_only
        env = dict(os.environ)
        env.update(env_extra or {})
        env[URL_ENV] = url  # the URL (and its password) goes by environment, not argv
        env[PARENT_ENV] = str(os.getpid())  # so it can tell, from its first moment, we died
        if ready_file is not None:
            env[READY_ENV] = str(ready_file)
        if placed is not None:  # on a cluster: its home node, see mqcompare.placement
            env[PLACEMENT_ENV] = json.dumps(placed)
            if argv[1:2] == ["-m"] and argv[2] != "mqcompare.produce":
                argv = [argv[0], "-m", "mqcompare.placed", *argv[2:]]
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ready(self) -> bool:
        """It said it consumes (consumer_state.mark_ready)."""
        return self.ready_file is not None and self.ready_file.exists()

    def dump_stacks(self) -> None:
        """Ask the process to print every thread's stack (faulthandler on SIGUSR1), and
        wait until its log has them: the signal handler writes them at once, in C, even
        while every thread is stuck."""
        before = self._logged()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGUSR1)
        if wait_for(lambda: self._logged() > before, DUMP_TIMEOUT_S) is not None:
            wait_for(self._log_still, DUMP_TIMEOUT_S)

    def _logged(self) -> int:
        with contextlib.suppress(OSError):
            return self.log.stat().st_size
        return 0

    def _log_still(self) -> bool:
        """The log did not grow for a moment (the last thread's stack is written)."""
        size = self._logged()
        time.sleep(0.02)
        return self._logged() == size

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, grace: float = STOP_GRACE_S) -> int:
        """SIGTERM the group, SIGKILL what is left after `grace` seconds; the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if self.term_leader_only:  # it stops its own processes (Stack attribute)
                    os.kill(self.proc.pid, signal.SIGTERM)
                else:
                    os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        # forked producers may outlive their parent; the group holds them all
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait()


def validate(spec: RunSpec) -> Stack:
    """The spec's stack; BadInput for what it cannot do, before any broker is touched."""
    stack = load_stack(spec.stack)
    if spec.mode not in stack.modes:
        raise BadInput(
            "--mode", f"{spec.stack} has no mode {spec.mode!r}; allowed: {', '.join(stack.modes)}"
        )
    if stack.worker and (spec.ack != "after" or spec.consumer):
        # the worker is the consumer: it acks as the stack's own options say
        flag = "--ack" if spec.ack != "after" else "--consumer"
        flags = ", ".join(o.flag for o in stack.options)
        raise BadInput(flag, f"the {stack.name} worker is the consumer; use {flags}")
    if spec.poison and not stack.worker and spec.ack != "after":
        raise BadInput("--poison", "a poison message is rejected with requeue: use --ack after")
    if spec.consumer:
        counting = [s.name for s in all_stacks() if not s.worker]
        if spec.consumer not in counting:
            raise BadInput("--consumer", f"{spec.consumer!r}; allowed: {', '.join(counting)}")
    allowed = {k.name for k in KINDS.values() if not k.stack_offers} | set(stack.faults)
    for fault in spec.faults:
        if fault.kind not in allowed:
            raise BadInput(
                "--fault",
                f"{fault.kind} is not a fault the {spec.stack} stack can "
                f"take; allowed: {', '.join(sorted(allowed))}",
            )
    window = CONFIRM_WINDOW.value(spec.stack_options)
    if window > 1 and not spec.confirms:  # the shared option's own rule, for every stack
        raise BadInput(CONFIRM_WINDOW.name, f"{window} needs --confirms (a window of confirms)")
    if spec.mandatory and stack.no_mandatory:
        raise BadInput("--mandatory", f"the {stack.name} stack cannot: {stack.no_mandatory}")
    _check_broker(spec, stack)
    stack.check(spec)
    return stack


def _check_broker(spec: RunSpec, stack: Stack) -> None:
    """BadInput for a stack that does not speak the broker's protocol, or a setting the
    broker has no use for (confirms on Redis, a visibility timeout on RabbitMQ)."""
    kind = broker_kind(spec.broker)
    for name in dict.fromkeys(n for n in (spec.stack, spec.consumer) if n):
        speaker = load_stack(name)
        if kind.protocol not in speaker.protocols:
            speakers = [s.name for s in all_stacks() if kind.protocol in s.protocols]
            raise BadInput(
                "--broker",
                f"{redact_url(spec.broker)}: {name} speaks {', '.join(speaker.protocols)} only; "
                f"on {kind.protocol}: {', '.join(speakers)}",
            )
    kind.refuse(spec)


@dataclass
class Ended:
    """How the run's phases ended."""

    drain: Drain = field(default_factory=lambda: Drain(complete=False))
    interrupted: bool = False
    aborted: BrokerNotBack | None = None
    producer_exit: int | None = None

    @property
    def as_planned(self) -> bool:
        """Neither interrupted nor stopped for a broker that did not come back."""
        return not self.interrupted and self.aborted is None


class Run:
    def __init__(
        self,
        spec: RunSpec,
        stack: Stack,
        out: Path,
        broker: BrokerControl,
        admin: QueueAdmin,
        say: Callable[[str], None],
        show: Callable[[dict[str, Any]], None],
    ) -> None:
        self.admin = admin
        self.spec = spec
        self.out = out
        self.broker = broker
        self.say = say
        self.show = show
        self.journal_dir = out / "journal"
        self.consumer: Child | None = None
        self.consumers_started = 0
        self.lock = threading.Lock()
        self.producer: Child | None = None
        self.stalled = False
        self.stack = stack
        self.busy_dir = out / "busy"
        self.placement: dict[str, Any] | None = None  # on a cluster: each client's home node
        self.environment: dict[str, Any] = {}  # what it ran on (mqcompare.environment)
        self.looping = False  # the drain gave up on poison messages redelivered for ever
        # called once the consumer consumes, just before the first publish (a matrix: the
        # previous run has ended; the faults' clock starts after it)
        self.before_go: Callable[[], None] | None = None

    # -- consumer ------------------------------------------------------------------------
    def start_consumer(self) -> None:
        if self.consumer is not None and self.consumer.alive():
            # two consumers at once would be a runner bug, and the older one a leftover
            raise RuntimeError(f"{self.consumer.name} still runs: no second one is started")
        n = self.consumers_started
        self.consumers_started += 1
        (self.out / "ready").mkdir(exist_ok=True)
        # a counting consumer journals to its own file; a worker's processes each to theirs
        name = f"{'worker' if self.stack.worker else 'consumer'}-{n}"
        url, placed = self.broker.url, None
        if self.placement is not None:
            home = self.placement["consumer"]
            url, placed = rotate(url, home), self.placement | {"home": home}
        self.consumer = Child(
            name,
            self.stack.consumer_argv(self.spec, n, self.journal_dir / f"{name}.jsonl"),
            self.out / f"{name}.log",
            url,
            {
                BUSY_ENV: str(self.busy_dir),
                RUN_DIR_ENV: str(self.out),
                HEARTBEAT_ENV: f"{self.spec.heartbeat_s:g}",
            },
            ready_file=self.out / "ready" / name,
            placed=placed,
            term_leader_only=self.stack.stops_its_own_processes,
        )

    def _await_consumer(self) -> None:
        """Wait until the consumer consumes, so that publishing (and the fault clock, which
        starts at the first publish) never races a consumer or worker still booting."""
        consumer = self.consumer
        assert consumer is not None
        seen = wait_for(lambda: consumer.ready() or not consumer.alive(), READY_TIMEOUT_S)
        if seen is None or not consumer.ready():
            raise InfrastructureError(
                f"{consumer.name} was not consuming {READY_TIMEOUT_S:g} s after it started; "
                f"see {self.out / (consumer.name + '.log')}"
            )

    # -- the consuming side, as its faults see it (faults.kind.Consumers) ---------------
    def current(self) -> Child | None:
        return self.consumer

    def forget(self) -> None:
        self.consumer = None

    def replace(self) -> Child:
        self.start_consumer()
        assert self.consumer is not None
        return self.consumer

    # -- the run -----------------------------------------------------------------------
    def execute(
        self, handover: Handover[RunResult] | None = None, report: Report | None = None
    ) -> RunResult | None:
        """The run's phases (docs/architecture.md, "A run"): consumer, producers and the
        fault plan, the drain; then everything stopped, and the journals judged. With a
        `handover` (a matrix's runs back to back), a run whose phases ended as planned
        ends in its thread: `report` gets the result (None is returned)."""
        spec = self.spec
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        runner_journal = JournalWriter(self.journal_dir / "runner.jsonl", "runner", spec.run_id)
        faults = FaultRunner(
            spec.faults, Context(self.broker, spec.queue, self), runner_journal, on_event=self.say
        )
        started = time.time()
        ended = Ended()
        try:
            ended.drain = self._phases(faults, JournalTail(self.journal_dir))
        except KeyboardInterrupt:
            ended.interrupted = True
            self.say("interrupted: stopping producers, consumer and faults")
        except BrokerNotBack as exc:
            ended.aborted = exc
            self.say(f"the broker did not come back: stopping the run ({exc})")
        except BaseException:  # a run that failed: stopped, its journals kept, not judged
            self._stop_producers(faults)
            self._stop_consumer(faults, runner_journal)
            self._keep_broker_logs(started, ended.aborted)
            raise
        ended.producer_exit = self._stop_producers(faults)
        if handover is not None and report is not None and ended.as_planned:
            handover.defer(lambda: self._end(started, faults, runner_journal, ended), report)
            return None
        result = self._end(started, faults, runner_journal, ended)
        if ended.interrupted:
            raise KeyboardInterrupt
        if ended.aborted is not None:
            raise BrokerNotBack(
                f"{ended.aborted}; the run was stopped (its journals are kept; the node's boot "
                f"output is in {self.out / 'broker-boot.out'})"
            )
        return result

    def _end(
        self, started: float, faults: FaultRunner, runner_journal: JournalWriter, ended: Ended
    ) -> RunResult:
        """The consumer stopped, the queues deleted, the broker's log kept; the result."""
        self._stop_consumer(faults, runner_journal)
        self._keep_broker_logs(started, ended.aborted)
        return self._judge(started, faults, ended)

    def _phases(self, faults: FaultRunner, tail: JournalTail) -> Drain:
        """Producers (booting), consumer (during), fault plan, producers go, consumer
        (after), last fault, drain."""
        go = self.out / "go"
        placed = None
        if self.placement is not None:
            placed = self.placement | {"home": self.placement["producers"][0]}
        # the producer process imports its library while the consumer boots; it publishes
        # once `go` exists
        self.producer = Child(
            "producers",
            [sys.executable, "-m", "mqcompare.produce", str(self.out)],
            self.out / "producers.log",
            self.broker.url,
            {HEARTBEAT_ENV: f"{self.spec.heartbeat_s:g}", GO_ENV: str(go)},
            placed=placed,
        )
        if self.spec.consume == "during":
            self.start_consumer()
            self._await_consumer()  # "during" from the first message on
        if self.before_go is not None:
            self.before_go()
        faults.start()
        go.touch()
        self._watch_producers(tail, faults)
        if self.spec.consume == "after":  # the queue is read now (a consumer that a fault
            with self.lock:  # took down is the fault's to start again, not this)
                self.start_consumer()
        while faults.is_alive():  # the drain waits for the last fault
            self._tick(tail, faults, "faults")
        return self._drain(self.admin, tail, faults)

    def _stop_producers(self, faults: FaultRunner) -> int | None:
        """Stop the fault plan and the producers; the producers' exit code."""
        faults.stop.set()
        return self.producer.stop(grace=2.0) if self.producer else None

    def _stop_consumer(self, faults: FaultRunner, runner_journal: JournalWriter) -> None:
        """Stop the consumer and what is left of the faults, delete the run's queues. The
        consumer is given its time to close its connections: one dropped makes the broker
        log a warning, and tells a dropped producer from it no more."""
        with self.lock:
            if self.consumer is not None:
                self.consumer.stop()
        faults.join(timeout=30)
        # what became of poison messages, read before the queues go (a broker left down
        # by a fault has nothing to say)
        with contextlib.suppress(Exception):
            if self.spec.dead_letter:
                journal_taken(self.admin, self.spec.dead_queue, runner_journal, dead=True)
            if self.looping:
                journal_taken(self.admin, self.spec.queue, runner_journal, dead=False)
        if self.spec.dead_letter:
            with contextlib.suppress(Exception):
                self.admin.delete(self.spec.dead_queue)
        runner_journal.close()
        with contextlib.suppress(Exception):
            self.admin.delete(self.spec.queue)
        with contextlib.suppress(Exception):
            self.admin.close()

    def _keep_broker_logs(self, started: float, aborted: BrokerNotBack | None) -> None:
        excerpt = self.broker.log_excerpt(since=started)
        if excerpt:
            (self.out / "broker.log").write_text(excerpt)
        if aborted is not None:
            (self.out / "broker-boot.out").write_text(self.broker.boot_output())

    def _judge(self, started: float, faults: FaultRunner, ended: Ended) -> RunResult:
        """The checker's result of the journals, with what only the run knew; result.json."""
        checked = check_files(journal_files(self.out))
        result = RunResult(
            **checked,
            spec=json.loads((self.out / "spec.json").read_text()),
            broker=self.broker.describe(),
            environment=self.environment,
            drain=ended.drain,
            consumer_starts=self.consumers_started,
            producer_exit=ended.producer_exit,
            producers_stalled=self.stalled,
            fault_errors=faults.errors,
            interrupted=ended.interrupted,
            aborted=str(ended.aborted) if ended.aborted else None,
            notes=[],
        )
        result["duration_s"] = round(time.time() - started, 3)  # the run's, not the journals'
        result["notes"] = (
            run_notes(result, self.stack.blocked_publish)
            + poison_notes(result)
            + self.stack.explain(result)
        )
        write_json(self.out / "result.json", result)
        return result

    def _tick(
        self, tail: JournalTail, faults: FaultRunner, phase: str, wait: float = POLL_S
    ) -> None:
        time.sleep(wait)
        if faults.fatal is not None:
            raise faults.fatal
        counts = tail.poll()
        if tail.first_invoke is not None:
            faults.start_clock(tail.first_invoke)
        with self.lock:
            if self.consumer is not None and not self.consumer.alive():
                self.say(
                    f"{self.consumer.name} exited on its own (code "
                    f"{self.consumer.proc.returncode}); starting another"
                )
                self.start_consumer()
        self.show(
            {
                "phase": phase,
                **counts,
                "faults": len(faults.fired),
                "faults_planned": len(self.spec.faults),
            }
        )

    def _watch_producers(self, tail: JournalTail, faults: FaultRunner) -> None:
        assert self.producer is not None
        while self.producer.alive():
            self._tick(tail, faults, "publishing")
            if tail.producers_quiet_for() > self.spec.stall_timeout_s and not faults.busy():
                self.stalled = True
                self.say(
                    f"producers journaled nothing for {self.spec.stall_timeout_s:g} s: "
                    f"they hang; stopping them (their stacks are in producers.log)"
                )
                self.producer.dump_stacks()
                self.producer.stop(grace=2.0)
        code = self.producer.proc.returncode
        if code != 0 and not self.stalled:
            log = (self.out / "producers.log").read_text(errors="replace").strip().splitlines()
            self.say(f"producer process exited with code {code}: {log[-1] if log else ''}")
        # nothing was ever published: start the fault clock now so the plan still runs
        faults.start_clock(tail.first_invoke or time.time())

    def _drain(self, admin: Any, tail: JournalTail, faults: FaultRunner) -> Drain:
        """Wait until the queue is empty and no consumer holds a message of it
        unacknowledged: then, where the broker holds each message until it is journaled,
        after a moment (SETTLE_S); elsewhere once nothing was delivered for a while (a
        consumer that works W ms on a message journals one every W ms, so a while is
        longer than that)."""
        deadline = time.monotonic() + self.spec.drain_timeout_s
        quiet_s = QUIET_S + self.spec.work_ms / 1000.0
        settle_s = quiet_s
        if self.stack.holds_until_journaled(self.spec):
            settle_s = SETTLE_S + self.spec.work_ms / 1000.0
        depth: int | None = None
        held: int | None = None
        wait = POLL_S
        while time.monotonic() < deadline:
            self._tick(tail, faults, "draining", wait)
            wait = POLL_S
            try:
                depth = admin.depth(self.spec.queue)
            except Exception:
                depth = None  # broker busy restarting; ask again
                with contextlib.suppress(Exception):
                    admin.close()
                continue
            quiet = tail.quiet_for() - quiet_s
            if still_looping(self.spec, depth, self._held, quiet, tail.rejects):
                self.say(
                    f"only poison messages are left in {self.spec.queue}, delivered and "
                    f"rejected again and again: the drain ends here"
                )
                self.looping = True
                return Drain(complete=False, left_in_queue=depth, poison_looping=True)
            if depth != 0 or tail.quiet_for() < settle_s:
                if depth == 0:  # look again when the quiet will have lasted, not a tick later
                    wait = min(POLL_S, max(MIN_WAIT_S, settle_s - tail.quiet_for()))
                continue
            if self.spec.poison and time.monotonic() - tail.last_reject < LOOPING_S:
                continue  # a poison message may be on its way back (a worker respawning)
            try:
                held = self._unacked()
            except InfrastructureError:
                continue  # no node answered: ask again
            # a broker that cannot say (None): the quiet alone decides
            if held == 0 or (held is None and tail.quiet_for() >= quiet_s):
                return Drain(complete=True, left_in_queue=0, unacked=held)
        left = "unknown" if depth is None else f"{depth:,}"
        holding = f", {held:,} held unacknowledged by a consumer" if held else ""
        idle = round(tail.quiet_for(), 1)
        self.say(
            f"queue {self.spec.queue} did not drain within {self.spec.drain_timeout_s:g} s "
            f"({left} messages still queued{holding}; {idle_text(idle)}); checking what "
            f"was delivered"
        )
        return Drain(complete=False, left_in_queue=depth, unacked=held, idle_s=idle)

    def _held(self) -> int | None:
        """What consumers hold unacknowledged, if the broker can say now."""
        try:
            return self._unacked()
        except InfrastructureError:
            return None

    def _unacked(self) -> int | None:
        """What consumers hold unacknowledged: off the queue's keys (Redis), or as the
        broker's nodes say (RabbitMQ)."""
        held = self.admin.held(self.spec.queue)
        return held if held is not None else self.broker.unacked(self.spec.queue)


MIRRORING = {"ha-mode": "exactly", "ha-params": 3, "ha-sync-mode": "automatic"}


def refuse_older(stack: Stack, versions: dict[str, str]) -> None:
    """NotOnThisBroker for a stack whose protocol this broker's version does not speak
    (RabbitMQ's AMQP 1.0 client needs RabbitMQ 4's native AMQP 1.0)."""
    version = versions.get("rabbitmq", "")
    if stack.min_rabbitmq and 0 < major_version(version) < stack.min_rabbitmq:
        raise NotOnThisBroker(
            "--stack",
            f"{stack.name} needs RabbitMQ {stack.min_rabbitmq}.0 or newer and this broker is "
            f"{version}; use --broker docker --docker-image mqcompare/rabbitmq:4.0",
        )


def refuse_mirroring(versions: dict[str, str]) -> None:
    """NotOnThisBroker for a broker without classic queue mirroring (RabbitMQ 4.0 removed
    it: https://www.rabbitmq.com/docs/3.13/ha, "Classic Queue Mirroring")."""
    version = versions.get("rabbitmq", "")
    if major_version(version) >= 4:
        raise NotOnThisBroker(
            "--queue",
            f"mirrored: classic queue mirroring was removed in RabbitMQ 4.0 and this broker "
            f"is {version}; use --queue quorum",
        )


def mirror_policy(spec: RunSpec) -> str:
    return f"mqcompare-ha-{spec.run_id}"


def place(spec: RunSpec, broker: BrokerControl) -> dict[str, Any]:
    """Each client's home node on a cluster, as --clients says: spread (producer p on node
    p mod N, the consumer on the last node), all on the queue's leader, or all on its
    followers (spread over them)."""
    n = len(broker.addresses)
    leader = None if spec.clients == "spread" else broker.leader(spec.queue)
    if spec.clients == "spread":
        homes, consumer = list(range(n)), n - 1
    elif leader is None:
        raise InfrastructureError(
            f"--clients {spec.clients}: no node could say which node leads {spec.queue}"
        )
    elif spec.clients == "leader":
        homes, consumer = [leader], leader
    else:
        homes = [i for i in range(n) if i != leader]
        consumer = homes[-1]
    producers = [homes[p % len(homes)] for p in range(spec.producers)]
    return describe_placement(list(broker.addresses), producers, consumer)


def run_environment(spec: RunSpec, stack: Stack, broker: BrokerControl) -> dict[str, Any]:
    """What the run ran on, asked of the broker before any fault touches it."""
    libraries = stack.distributions_on(broker.protocol)
    if spec.consumer:
        libraries += load_stack(spec.consumer).distributions_on(broker.protocol)
    return environment(broker.versions(), libraries)


def execute(
    spec: RunSpec,
    out: Path,
    broker: BrokerControl | None = None,
    say: Callable[[str], None] = print,
    show: Callable[[dict[str, Any]], None] = lambda _c: None,
) -> RunResult:
    """Run `spec`, writing the run directory `out`; the result (also in out/result.json)."""
    result = execute_back_to_back(spec, out, broker, say, show)
    assert result is not None
    return result


def execute_back_to_back(
    spec: RunSpec,
    out: Path,
    broker: BrokerControl | None,
    say: Callable[[str], None],
    show: Callable[[dict[str, Any]], None],
    handover: Handover[RunResult] | None = None,
    report: Report | None = None,
    before_go: Callable[[], None] | None = None,
) -> RunResult | None:
    """`execute`, in a matrix's sequence of runs on its brokers: `before_go` is called
    before the first publish (the previous run, ended meanwhile in the `handover`, is
    reported there); a run that ends as planned ends in the handover, `report` gets its
    result (None is returned); one interrupted or failed ends here."""
    assert handover is None or broker is not None, "a run's own broker closes with the run"
    stack = validate(spec)
    # the stack's settings import its client library: a missing one is exit 3 before
    # any broker boots
    options = {**stack.settings(spec), **spec.stack_options}
    own_broker = broker is None
    broker = broker or open_broker(
        spec.broker,
        spec.run_id,
        cluster=spec.cluster,
        handling=spec.partition_handling,
        persistence=spec.redis_persistence,
    )
    restore_timeout: Callable[[], None] | None = None
    try:
        restore_timeout = _prepare(spec, broker)
        admin = stack.admin(broker)  # refused credentials: exit 3 here
        out.mkdir(parents=True, exist_ok=True)
        spec_data = spec.to_json() | {
            "stack_options": options,
            "broker": broker.display_url,
            "broker_protocol": broker.protocol,
        }
        if spec.dead_letter:
            admin.declare(spec.dead_queue, {})
        admin.declare(spec.queue, spec.queue_arguments)
        if spec.queue_type != "classic" or broker.addresses:
            # what the broker says it made of the declaration, not only what was asked
            spec_data["queue_seen"] = broker.queue_seen(spec.queue)
        run = Run(spec, stack, out, broker, admin, say, show)
        run.environment = run_environment(spec, stack, broker)
        if broker.addresses:
            run.placement = place(spec, broker)
            spec_data["placement"] = {
                "producers": [f"node{h + 1}" for h in run.placement["producers"]],
                "consumer": f"node{run.placement['consumer'] + 1}",
                "nodes": broker.describe(),
            }
        write_json(out / "spec.json", spec_data)
        run.before_go = before_go
        return run.execute(handover, report)
    finally:
        if restore_timeout is not None:
            restore_timeout()
        if spec.queue_type == "mirrored":
            broker.clear_policy(mirror_policy(spec))
        if own_broker:
            broker.close()


def _prepare(spec: RunSpec, broker: BrokerControl) -> Callable[[], None] | None:
    """The broker ready for the run: the size asked, every fault possible, healed, the
    queue's mirroring policy and the consumer timeout set (what restores the timeout)."""
    nodes = len(broker.addresses) or 1
    if nodes != spec.cluster:
        raise InfrastructureError(
            f"--cluster {spec.cluster}: the broker given is {broker.describe()}"
        )
    require(broker, [f.kind for f in spec.faults])
    broker.heal()  # a fault of an earlier run may have left it down
    refuse_older(load_stack(spec.stack), broker.versions())
    if spec.queue_type == "mirrored":
        # Jepsen's setup: a classic queue mirrored by policy (gone in RabbitMQ 4)
        refuse_mirroring(broker.versions())
        broker.set_policy(mirror_policy(spec), f"^{re.escape(spec.queue)}$", MIRRORING)
    if not spec.consumer_timeout_s:
        return None
    # before any client opens a channel: the node reads it when a channel opens
    try:
        return broker.set_consumer_timeout(spec.consumer_timeout_s)
    except InfrastructureError as exc:
        raise InfrastructureError(
            f"--consumer-timeout: {exc}; use --broker local or --broker docker"
        ) from None
