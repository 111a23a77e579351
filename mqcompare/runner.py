"""One run: broker -> queue -> consumer -> producers -> faults -> drain -> check.

Every process the runner starts (consumer, producer process, broker node) is
stopped by it, by the pid it started, on success, on failure and on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mqcompare.broker import BrokerControl, open_broker
from mqcompare.checker import check_files
from mqcompare.errors import BadInput
from mqcompare.faults import FaultRunner, FaultTargets
from mqcompare.journal import JournalWriter, journal_files
from mqcompare.progress import JournalTail
from mqcompare.spec import RunSpec
from mqcompare.stacks import QueueAdmin, Stack, load_admin, load_stack

URL_ENV = "MQCOMPARE_URL"
POLL_S = 0.2
QUIET_S = 1.0  # no new delivery for this long, and an empty queue: drained
STOP_GRACE_S = 5.0
STACK_FAULTS = {"consumer-kill"}  # faults any stack's consumer side can take


def worker_children(pid: int) -> list[int]:
    """The child processes of `pid` (a celery worker's pool), from /proc."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Child:
    """A process this run started, in its own process group, with its output in a file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        url: str,
        env_extra: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        env = dict(os.environ)
        env.update(env_extra or {})
        env[URL_ENV] = url  # the URL (and its password) goes by environment, not argv
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

    def dump_stacks(self) -> None:
        """Ask the process to print every thread's stack (faulthandler on SIGUSR1)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGUSR1)
        time.sleep(0.5)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, grace: float = STOP_GRACE_S) -> int:
        """SIGTERM the group, SIGKILL what is left after `grace` seconds; the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
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
    allowed = {"restart", "kill", "drop"} | STACK_FAULTS | set(getattr(stack, "faults", ()))
    for fault in spec.faults:
        if fault.kind not in allowed:
            raise BadInput(
                "--fault",
                f"{fault.kind} is not a fault the {spec.stack} stack can "
                f"take; allowed: {', '.join(sorted(allowed))}",
            )
    return stack


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
        self.consumer_lock = threading.Lock()
        self.producer: Child | None = None
        self.stalled = False
        self.stack = stack
        self.library = spec.consumer or stack.library

    # -- consumer ------------------------------------------------------------------------
    def start_consumer(self) -> None:
        n = self.consumers_started
        self.consumers_started += 1
        if hasattr(self.stack, "consumer_argv"):  # the stack brings its own consumer (a worker)
            self.consumer = Child(
                f"worker-{n}",
                self.stack.consumer_argv(self.spec, n),
                self.out / f"worker-{n}.log",
                self.broker.url,
                {"MQCOMPARE_RUN_DIR": str(self.out)},
            )
            return
        argv = [
            sys.executable,
            "-m",
            "consumer",
            "--queue",
            self.spec.queue,
            "--journal",
            str(self.journal_dir / f"consumer-{n}.jsonl"),
            "--run-id",
            self.spec.run_id,
            "--ack",
            self.spec.ack,
            "--prefetch",
            str(self.spec.prefetch),
            "--library",
            self.library,
            "--work-ms",
            str(self.spec.stack_options.get("consumer_work_ms", 0)),
        ]
        self.consumer = Child(
            f"consumer-{n}", argv, self.out / f"consumer-{n}.log", self.broker.url
        )

    def kill_worker_child(self, _fault: object) -> None:
        """SIGKILL one pool process of the worker, the way the OOM killer would."""
        with self.consumer_lock:
            pids = worker_children(self.consumer.pid) if self.consumer else []
            if not pids:
                raise RuntimeError("the worker has no pool process to kill")
            os.kill(pids[0], signal.SIGKILL)

    def kill_consumer(self, down: float) -> None:
        with self.consumer_lock:
            if self.consumer is not None:
                self.consumer.kill()
            time.sleep(down)
            self.start_consumer()

    # -- the run -----------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        spec, out = self.spec, self.out
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        admin = self.admin
        runner_journal = JournalWriter(self.journal_dir / "runner.jsonl", "runner", spec.run_id)
        faults = FaultRunner(
            spec.faults,
            self.broker,
            FaultTargets(
                self.kill_consumer,
                {
                    "worker-kill": self.kill_worker_child,
                    "worker-crash": lambda fault: self.kill_consumer(fault.down),
                },
            ),
            runner_journal,
            on_event=self.say,
        )
        tail = JournalTail(self.journal_dir)
        started = time.time()
        interrupted = False
        drain: dict[str, Any] = {"complete": False}
        try:
            admin.declare(spec.queue)
            self.start_consumer()
            faults.start()
            self.producer = Child(
                "producers",
                [sys.executable, "-m", "mqcompare.produce", str(out)],
                out / "producers.log",
                self.broker.url,
            )
            self._watch_producers(tail, faults)
            while faults.is_alive():  # the drain waits for the last fault
                self._tick(tail, faults, "faults")
            drain = self._drain(admin, tail, faults)
        except KeyboardInterrupt:
            interrupted = True
            self.say("interrupted: stopping producers, consumer and faults")
        finally:
            faults.stop.set()
            producer_code = self.producer.stop(grace=2.0) if self.producer else None
            with self.consumer_lock:
                if self.consumer is not None:
                    self.consumer.stop()
            faults.join(timeout=30)
            runner_journal.close()
            with contextlib.suppress(Exception):
                admin.delete(spec.queue)
            with contextlib.suppress(Exception):
                admin.close()
            excerpt = self.broker.log_excerpt(since=started)
            if excerpt:
                (out / "broker.log").write_text(excerpt)

        result = check_files(journal_files(out))
        result["spec"] = json.loads((out / "spec.json").read_text())
        result["duration_s"] = round(time.time() - started, 3)
        result["broker"] = self.broker.describe()
        result["drain"] = drain
        result["consumer_starts"] = self.consumers_started
        result["producer_exit"] = producer_code
        result["producers_stalled"] = self.stalled
        result["fault_errors"] = faults.errors
        result["interrupted"] = interrupted
        explain = getattr(self.stack, "explain", None)
        result["notes"] = explain(result) if explain else []
        (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        if interrupted:
            raise KeyboardInterrupt
        return result

    def _tick(self, tail: JournalTail, faults: FaultRunner, phase: str) -> None:
        time.sleep(POLL_S)
        counts = tail.poll()
        if tail.first_invoke is not None:
            faults.start_clock(tail.first_invoke)
        with self.consumer_lock:
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

    def _drain(self, admin: Any, tail: JournalTail, faults: FaultRunner) -> dict[str, Any]:
        deadline = time.monotonic() + self.spec.drain_timeout_s
        depth: int | None = None
        while time.monotonic() < deadline:
            self._tick(tail, faults, "draining")
            try:
                depth = admin.depth(self.spec.queue)
            except Exception:
                depth = None  # broker busy restarting; ask again
                with contextlib.suppress(Exception):
                    admin.close()
                continue
            if depth == 0 and tail.quiet_for() >= QUIET_S:
                return {"complete": True, "left_in_queue": 0}
        self.say(
            f"queue {self.spec.queue} did not drain within {self.spec.drain_timeout_s:g} s "
            f"({depth if depth is not None else 'unknown'} messages still queued); "
            f"checking what was delivered"
        )
        return {"complete": False, "left_in_queue": depth}


def execute(
    spec: RunSpec,
    out: Path,
    broker: BrokerControl | None = None,
    say: Callable[[str], None] = print,
    show: Callable[[dict[str, Any]], None] = lambda _c: None,
) -> dict[str, Any]:
    """Run `spec`, writing the run directory `out`; the result (also in out/result.json)."""
    stack = validate(spec)
    library = spec.consumer or stack.library  # of the counting consumer and queue admin
    own_broker = broker is None
    broker = broker or open_broker(spec.broker)
    try:
        broker.require([f.kind for f in spec.faults])
        broker.check_reachable()
        admin = load_admin(library, broker.url)  # refused credentials: exit 3 here
        out.mkdir(parents=True, exist_ok=True)
        options = {**stack.options(spec), **spec.stack_options}
        spec_data = spec.to_json() | {"stack_options": options, "broker": broker.display_url}
        (out / "spec.json").write_text(json.dumps(spec_data, indent=2) + "\n")
        return Run(spec, stack, out, broker, admin, say, show).execute()
    finally:
        if own_broker:
            broker.close()
