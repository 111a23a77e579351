"""The producer process: `python -m mqcompare.produce RUN_DIR` (URL in MQCOMPARE_URL).

Runs spec.producers producers as threads or as forked processes, as the mode says;
each publishes spec.messages messages, journaling every attempt. Retrying is the
loop below: a new `invoke` per attempt, backing off, until the message is sent or
its retry budget is spent; what the stack says about each attempt is journaled as is."""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from mqcompare import placement, produce_tasks
from mqcompare.backoff import FIRST_BACKOFF_S, next_backoff
from mqcompare.envelope import encode
from mqcompare.journal import JournalWriter, invoke_line, ok_line
from mqcompare.orphan import watch_parent
from mqcompare.spec import RunSpec
from mqcompare.stacks import GO_ENV, URL_ENV, NotSent, Publisher, Session, load_stack

stopping = threading.Event()
GO_POLL_S = 0.005
JOIN_SLICE_S = 0.05  # how often a waiting main thread looks at `stopping`
# after a stop, how long producers get to finish the message in hand: one that has not by
# then is stuck inside its library (its journal holds every record it wrote)
STOPPED_MOMENT_S = 0.5


def produce(
    p: int, spec: RunSpec, publisher: Publisher, journal: JournalWriter, deadline: float
) -> None:
    """Publish messages 0..spec.messages-1 of producer p.

    The hot loop of every run, so its cost is kept to what the journal needs: one write
    per attempt (the previous message's `ok` goes with the next `invoke`), one clock
    reading shared by the `invoke` record and the body's send time."""
    publish, append, clock = publisher.publish, journal.append, time.time
    acked = b""  # the `ok` of the previous message, not yet written
    interval = 1.0 / spec.rate if spec.rate else 0.0
    began = time.monotonic()
    for s in range(spec.messages):
        if interval:  # paced: message s is due at began + s * interval
            due = began + s * interval - time.monotonic()
            if due > 0:
                if acked:  # a paced producer writes its `ok` before it waits
                    append(acked)
                    acked = b""
                if stopping.wait(due):
                    break
        if stopping.is_set() or time.monotonic() > deadline:
            break
        budget_end = 0.0
        backoff = FIRST_BACKOFF_S
        while True:
            t = clock()
            append(acked + invoke_line(p, s, t))
            acked = b""
            try:
                publish(p, s, encode(p, s, t))
            except NotSent as exc:
                journal.fail(p, s, exc.err)
            except Exception as exc:  # the stack left the outcome open
                journal.info(p, s, type(exc).__name__)
            else:
                acked = ok_line(p, s, clock())
                break
            if publisher.retries_itself:
                break  # the library spent its own retry budget already
            publisher.reset()
            now = time.monotonic()
            budget_end = budget_end or now + spec.retry_budget_s
            if stopping.is_set() or now + backoff > min(budget_end, deadline):
                break  # budget spent: the last attempt's record is the message's outcome
            stopping.wait(backoff)
            backoff = next_backoff(backoff)
    if acked:
        append(acked)
    publisher.close()


def _thread_main(
    p: int, spec: RunSpec, session: Session, journal: JournalWriter, deadline: float
) -> None:
    def on_retry(p: int, s: int, exc: BaseException) -> None:
        journal.info(p, s, type(exc).__name__)
        journal.invoke(p, s)

    try:
        placement.set_producer(p)  # on a cluster: this thread's sockets leave from p's node
        publisher = session.publisher(p, on_retry)
        produce(p, spec, publisher, journal, deadline)
    except BaseException as exc:  # a producer must not take the others down; it is reported
        print(f"producer {p}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


def _process_main(
    p: int, spec: RunSpec, session: Session, journal_dir: Path, deadline: float
) -> None:
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    journal = JournalWriter(journal_dir / f"producer-{p}.jsonl", "producer", spec.run_id)
    _thread_main(p, spec, session, journal, deadline)
    # closes only what this child opened itself: an abrupt exit can make the broker drop
    # what it had not read yet
    session.close()
    journal.close()


def run(run_dir: Path, url: str) -> int:
    spec = RunSpec.load(run_dir)
    stack = load_stack(spec.stack)
    mode = stack.modes[spec.mode]
    journal_dir = run_dir / "journal"
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    watch_parent(stopping.set)
    stack.load()
    go = os.environ.get(GO_ENV)
    while go and not os.path.exists(go):  # the consumer is still booting
        if stopping.wait(GO_POLL_S):
            return 0  # the run ended before it began
    limit = min(spec.publish_for_s or spec.publish_timeout_s, spec.publish_timeout_s)
    deadline = time.monotonic() + limit
    if mode.tasks:
        with JournalWriter(journal_dir / "producer.jsonl", "producer", spec.run_id) as journal:
            opening: Any = stack.session(spec, url)  # the mode's factory is a coroutine
            produce_tasks.run(spec, opening, journal, deadline, stopping)
        return 0
    session = stack.session(spec, url)
    try:
        if mode.processes:
            # fork on purpose: fork-shared exists to show what children do with a
            # connection inherited from their parent
            ctx = multiprocessing.get_context("fork")
            procs = [
                ctx.Process(target=_process_main, args=(p, spec, session, journal_dir, deadline))
                for p in range(spec.producers)
            ]
            for proc in procs:
                proc.start()
            _await_all(procs, deadline)
            hung = [proc for proc in procs if proc.is_alive()]
            for proc in hung:  # their journals hold every record they wrote
                proc.kill()
                proc.join()
            if hung:
                print(f"killed {len(hung)} stuck producer processes", file=sys.stderr, flush=True)
                return 4
        else:
            journal = JournalWriter(journal_dir / "producer.jsonl", "producer", spec.run_id)
            threads = [
                threading.Thread(
                    target=_thread_main,
                    args=(p, spec, session, journal, deadline),
                    name=f"producer-{p}",
                    daemon=True,
                )
                for p in range(spec.producers)
            ]
            for th in threads:
                th.start()
            # a thread stuck inside a client library (possible in the unsafe modes) must
            # not keep the run from ending: given up on at the deadline, or soon after a stop
            _await_all(threads, deadline)
            stuck = [th.name for th in threads if th.is_alive()]
            if stuck:
                print(
                    f"gave up on stuck producers: {', '.join(stuck)}", file=sys.stderr, flush=True
                )
                os._exit(4)
    finally:
        session.close()
    return 0


def _await_all(workers: Sequence[threading.Thread | BaseProcess], deadline: float) -> None:
    """Wait until every producer thread or process ended, the deadline (and a second) has
    passed, or STOPPED_MOMENT_S after the runner asked them to stop: a producer still
    publishing sees `stopping` between two messages, one stuck inside its library never
    does, and the runner would wait its whole grace for it."""
    stopped_at: float | None = None
    for w in workers:
        while w.is_alive():
            now = time.monotonic()
            if stopping.is_set():
                stopped_at = stopped_at or now
            end = stopped_at + STOPPED_MOMENT_S if stopped_at else deadline + 1.0
            if now >= end:
                return
            if stopping.is_set() and not isinstance(w, threading.Thread):
                w.terminate()  # a forked producer's handler sets its own `stopping`
            w.join(min(JOIN_SLICE_S, end - now))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # the runner sends SIGUSR1 when producers hang: every thread's stack goes to the log
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    url = os.environ.pop(URL_ENV, "")
    placement.install()
    try:
        return run(Path(args[0]), url)
    except NotSent as exc:
        print(f"producers could not start: {exc}", file=sys.stderr, flush=True)
        return 3


if __name__ == "__main__":
    sys.exit(main())
