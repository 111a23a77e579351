"""Producers as asyncio tasks of one event loop (a mode with `tasks`), with a confirm window.

Each producer keeps up to the session's `window` messages in flight: message s is handed
to its own attempt task, which journals `invoke`, awaits the stack's publish (which returns
when *that* message is confirmed), and journals `ok`, `fail` (NotSent: a nack, a return,
never sent) or `info` (the outcome is open: the connection died with it unconfirmed).
A failed message is published again by its attempt task, backing off, until it is sent
or its retry budget is spent, exactly as the thread loop in produce.py does; window 1 is
therefore that loop's confirm-per-message, and a larger window only pipelines it."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Awaitable

from mqcompare import placement
from mqcompare.backoff import FIRST_BACKOFF_S, next_backoff
from mqcompare.envelope import encode
from mqcompare.journal import JournalWriter, invoke_line, ok_line
from mqcompare.spec import RunSpec
from mqcompare.stacks import AsyncPublisher, AsyncSession, NotSent

POLL_S = 0.1  # how often a waiting producer looks at `stopping` (set by signal handlers)


async def _wait(stopping: threading.Event, seconds: float) -> bool:
    """Sleep `seconds` unless stopping is set first; whether it was."""
    end = time.monotonic() + seconds
    while not stopping.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, POLL_S))
    return True


class Producer:
    def __init__(
        self,
        p: int,
        spec: RunSpec,
        publisher: AsyncPublisher,
        journal: JournalWriter,
        window: int,
        deadline: float,
        stopping: threading.Event,
    ) -> None:
        self.p, self.spec, self.publisher, self.journal = p, spec, publisher, journal
        self.deadline, self.stopping = deadline, stopping
        self.slots = asyncio.Semaphore(window)
        self.in_flight: set[asyncio.Task[None]] = set()

    def over(self) -> bool:
        return self.stopping.is_set() or time.monotonic() > self.deadline

    async def run(self) -> None:
        interval = 1.0 / self.spec.rate if self.spec.rate else 0.0
        began = time.monotonic()
        try:
            for s in range(self.spec.messages):
                if interval:  # paced: message s is due at began + s * interval
                    due = began + s * interval - time.monotonic()
                    if due > 0 and await _wait(self.stopping, due):
                        break
                await self.slots.acquire()  # the window: wait for a confirm to free a slot
                if self.over():
                    self.slots.release()
                    break
                task = asyncio.create_task(self.attempts(s))
                self.in_flight.add(task)
                task.add_done_callback(self.in_flight.discard)
            while self.in_flight:
                await asyncio.wait(set(self.in_flight))
        finally:  # also when cancelled: each message in flight gets its `info`
            left = set(self.in_flight)
            for task in left:
                task.cancel()
            if left:
                await asyncio.wait(left, timeout=5)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.publisher.close(), timeout=5)

    async def attempts(self, s: int) -> None:
        p, journal, clock = self.p, self.journal, time.time
        budget_end = 0.0
        backoff = FIRST_BACKOFF_S
        try:
            while True:
                t = clock()
                journal.append(invoke_line(p, s, t))
                try:
                    await self.publisher.publish(p, s, encode(p, s, t))
                except NotSent as exc:
                    journal.fail(p, s, exc.err)
                except asyncio.CancelledError:  # given up at the deadline, unconfirmed
                    journal.info(p, s, "Cancelled")
                    raise
                except Exception as exc:
                    journal.info(p, s, type(exc).__name__)
                else:
                    journal.append(ok_line(p, s, clock()))
                    return
                now = time.monotonic()
                budget_end = budget_end or now + self.spec.retry_budget_s
                if self.over() or now + backoff > min(budget_end, self.deadline):
                    return  # budget spent: the last attempt's record is the outcome
                if await _wait(self.stopping, backoff):
                    return
                backoff = next_backoff(backoff)
        finally:
            self.slots.release()


async def _main(
    spec: RunSpec,
    opening: Awaitable[AsyncSession],
    journal: JournalWriter,
    deadline: float,
    stopping: threading.Event,
) -> None:
    session = await opening
    try:

        async def one(p: int) -> None:
            placement.set_producer(p)  # this task's sockets leave from p's home node
            try:
                publisher = await session.publisher(p)
                await Producer(
                    p, spec, publisher, journal, session.window, deadline, stopping
                ).run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one producer must not take the others down
                print(f"producer {p}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

        producers = [
            asyncio.create_task(one(p), name=f"producer-{p}") for p in range(spec.producers)
        ]
        stuck = set(producers)
        while stuck and not stopping.is_set() and time.monotonic() < deadline + 1:
            _, stuck = await asyncio.wait(stuck, timeout=POLL_S)
        if stuck:
            # stopped (SIGTERM), or a publish the library never ends (a robust connection
            # waiting for the broker): cancelled, each message in flight journaled `info`
            if not stopping.is_set():
                print(f"gave up on stuck producers: {len(stuck)}", file=sys.stderr, flush=True)
            for task in stuck:
                task.cancel()
            await asyncio.wait(stuck, timeout=5)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.close(), timeout=5)


def run(
    spec: RunSpec,
    opening: Awaitable[AsyncSession],
    journal: JournalWriter,
    deadline: float,
    stopping: threading.Event,
) -> None:
    """Every producer as a task; `opening` makes the mode's session (the stack's factory)."""
    asyncio.run(_main(spec, opening, journal, deadline, stopping))
