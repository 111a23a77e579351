"""The Stack contract and the one name table. Everything the core asks of a stack is here.

A stack is a folder, `scenarios_<name>/`, with the same files in each:
  stack.py     the Stack: its modes, the faults it adds, its options, its consumer side,
               how it explains a loss and labels its ack policy. Imports no client
               library, so reports, presets and `--help` read it anywhere.
  connect.py   how its clients connect (timeouts, retry policy)
  publish.py   one Session factory per mode (named by the Mode), and its Publishers
  admin.py     `HOOKS`: how the run's queues differ from the one queue the core
               declares, counts and deletes (mqcompare.admin)
  consumer.py  `consume(url, queue, arguments, prefetch, ack, handle, stop)` for the
               counting consumer, or the worker it launches

A broker URL may list a cluster's nodes, `;`-separated, in the order a client should try
them (kombu's failover syntax): every stack's connect accepts such a list, and where a
producer opens a connection of its own, it asks `producer_url(url, p)` for its list (it
starts at the producer's home node; mqcompare.placement).

For each mode a stack opens what that mode shares (a `Session`, made in the producer
process before producers start) and hands each producer a `Publisher` that publishes one
message at a time, raising `NotSent` when the library says it definitely did not send
it (journaled `fail`) or anything else when the outcome is open (journaled `info`).

A mode whose producers are asyncio tasks (`Mode.tasks`) has a coroutine as its factory,
and its session and publishers are the `AsyncSession` and `AsyncPublisher` below: the
core then runs every producer as a task of one event loop, and keeps up to the session's
`window` messages of each producer in flight, each journaled by its own outcome."""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mqcompare.errors import BadInput, InfrastructureError
from mqcompare.placement import producer_url as producer_url  # for the stacks' publish.py
from mqcompare.result import RunResult

STACKS = {
    "pika": "scenarios_pika.stack:PikaStack",
    "kombu": "scenarios_kombu.stack:KombuStack",
    "celery": "scenarios_celery.stack:CeleryStack",
    "aio-pika": "scenarios_aiopika.stack:AioPikaStack",
    "dramatiq": "scenarios_dramatiq.stack:DramatiqStack",
    "amqpstorm": "scenarios_amqpstorm.stack:AmqpstormStack",
    "taskiq": "scenarios_taskiq.stack:TaskiqStack",
    "amqp10": "scenarios_amqp10.stack:Amqp10Stack",
}

URL_ENV = "MQCOMPARE_URL"  # every child gets the broker URL (and its password) this way
RUN_DIR_ENV = "MQCOMPARE_RUN_DIR"  # and the run directory (spec.json, journal/)
# the producer process starts (imports its client library) while the consumer boots, and
# publishes once this file exists: the run creates it when the consumer consumes
GO_ENV = "MQCOMPARE_GO_FILE"
# the heartbeat of every client that sends them (pika, aio-pika, dramatiq through pika):
# a dead peer is noticed in seconds (kombu's clients send none, its default); a run's
# --heartbeat reaches its children by this variable
CLIENT_HEARTBEAT_S = 10
HEARTBEAT_ENV = "MQCOMPARE_HEARTBEAT"


def client_heartbeat() -> int | None:
    """The heartbeat this process's clients propose, in whole seconds; None: the library's
    own default (a run's --heartbeat 0)."""
    seconds = float(os.environ.get(HEARTBEAT_ENV, CLIENT_HEARTBEAT_S))
    return max(1, round(seconds)) if seconds > 0 else None


RetryHook = Callable[[int, int, BaseException], None]
"""What a stack that retries by itself calls just before it publishes the same message
again: the core journals the failed attempt (`info`) and the new one (`invoke`)."""


class NotSent(Exception):
    """The library says the message was definitely not sent."""

    def __init__(self, cause: BaseException, reply: str = "") -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause
        self.reply = reply  # what the broker said, e.g. "312 NO_ROUTE" for a return

    @property
    def err(self) -> str:
        name = type(self.cause).__name__
        return f"{name}: {self.reply}" if self.reply else name


class Publisher(Protocol):
    retries_itself: bool  # True: the library retries inside publish(); the core must not

    def publish(self, p: int, s: int, body: bytes) -> None:
        """Publish one message; return when the library says it is sent (confirmed, with
        confirms on); raise NotSent or another exception otherwise."""

    def reset(self) -> None:
        """After an error: drop what broke so that the next publish reconnects."""

    def close(self) -> None: ...


class Session(Protocol):
    def publisher(self, p: int, on_retry: RetryHook) -> Publisher:
        """The publisher producer p uses; called in that producer's thread or process."""

    def close(self) -> None: ...


class AsyncPublisher(Protocol):
    async def publish(self, p: int, s: int, body: bytes) -> None:
        """As Publisher.publish; several may be in flight at once (up to the window), and
        a failed one must leave the publisher able to publish again (reopen lazily)."""

    async def close(self) -> None: ...


class AsyncSession(Protocol):
    window: int  # most messages of one producer in flight (awaiting their confirms) at once

    async def publisher(self, p: int) -> AsyncPublisher: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Mode:
    name: str
    help: str
    session: str  # "function" in the stack's publish.py: (spec, url) -> Session
    processes: bool = False  # producers are OS processes (forked from the producer process)
    tasks: bool = False  # producers are asyncio tasks: an AsyncSession, made by a coroutine


def mode_table(*modes: Mode) -> dict[str, Mode]:
    return {m.name: m for m in modes}


@dataclass(frozen=True)
class StackOption:
    """A setting only some stacks have: one CLI flag, one preset key, recorded in
    spec.json's stack_options under `key`."""

    key: str  # the preset key and the stack_options key
    flag: str  # "--concurrency", or "--acks-late/--no-acks-late" for a switch
    help: str
    default: Any  # bool, int or str: also the type a given value must have
    choices: tuple[str, ...] = ()
    minimum: int = 1  # the smallest whole number an int option takes
    # how a run's headline and a cell's setting name a value other than the default
    # ("TCP_USER_TIMEOUT {} ms"); "": never named there
    label: str = ""

    def value(self, stack_options: dict[str, Any]) -> Any:
        """Its value in a spec's stack_options, else its default."""
        return stack_options.get(self.key, self.default)

    @property
    def switch(self) -> bool:
        return isinstance(self.default, bool)

    @property
    def name(self) -> str:
        """The flag's first spelling: what an error names."""
        return self.flag.split("/")[0]

    def parse(self, value: Any, by_key: bool = False) -> Any:
        """`value` (a CLI string, or a TOML value) as this option's type; BadInput naming the
        flag (or, for a preset, the key) if not."""
        flag = self.key if by_key else self.name
        if self.switch:
            if not isinstance(value, bool):
                raise BadInput(flag, f"must be true or false, got {value!r}")
            return value
        if isinstance(self.default, int):
            try:
                number = int(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None or number < self.minimum:
                raise BadInput(
                    flag, f"must be a whole number of at least {self.minimum}, got {value!r}"
                )
            return number
        if self.choices and value not in self.choices:
            raise BadInput(flag, f"{value!r}; allowed: {', '.join(self.choices)}")
        return str(value)


CONFIRM_WINDOW = StackOption(
    "confirm_window",
    "--confirm-window",
    "most unconfirmed messages per producer (needs --confirms); 1 awaits each confirm",
    1,
)
"""The option of every stack that can pipeline publisher confirms (one key, one meaning:
reports chart and compare cells by it)."""


class Stack:
    """What the core may ask of a stack. A stack subclasses it in its `stack.py`, sets the
    attributes, and overrides the hooks whose default does not fit."""

    name: str
    library: str  # the client library it is about (recorded; named when it is missing)
    # every distribution its clients run on, the library first: each result records their
    # versions (environment.libraries); () means the library alone
    libraries: tuple[str, ...] = ()
    modes: dict[str, Mode]
    default_mode: str
    faults: tuple[str, ...] = ()  # faults it adds to the broker's and consumer-kill
    options: tuple[StackOption, ...] = ()
    # the brokers' protocols its library speaks (a broker kind's `protocol`): on Redis, its
    # admin.py says where the library keeps a queue (`REDIS`)
    protocols: tuple[str, ...] = ("amqp",)
    # what its library speaks each protocol through, when that is a library of its own
    transport_libraries: dict[str, tuple[str, ...]] = {}  # noqa: RUF012 - read-only
    # Its consumer side: False, the counting consumer (`python -m consumer`) with this
    # stack's consumer.py, acking as --ack says; True, a worker its consumer.py runs,
    # which acks as the stack's options say (--ack and --consumer do not apply).
    worker: bool = False
    # True: its consumer process stops its own child processes on SIGTERM, and a child
    # that gets a SIGTERM of its own exits at once (dramatiq): the run signals the leader
    stops_its_own_processes: bool = False
    # where its library says one connection may be shared by threads ("": it does not say
    # so): its shared-unsafe mode then tests that claim, not advice against sharing
    thread_safe: str = ""
    # the lowest RabbitMQ major version its protocol needs (0: any); an older broker is
    # refused in one line (exit 2; a matrix skips the cell, saying why)
    min_rabbitmq: int = 0
    # True: its protocol has the broker settle every publish (AMQP 1.0), so its runs are
    # always with confirms, whatever --confirms says
    always_confirms: bool = False
    # "": it publishes `mandatory` when --mandatory asks; else why it cannot (exit 2)
    no_mandatory: str = ""
    # what becomes of its publish on a connection the broker blocked (a resource alarm),
    # as the run configures it: what bounds the wait, if anything
    blocked_publish: str = "nothing bounds the wait: a publish returns once the alarm clears"

    @property
    def distributions(self) -> list[str]:
        return self.distributions_on("amqp")

    def distributions_on(self, protocol: str) -> list[str]:
        """The distributions its clients run on when they speak `protocol`."""
        extra = self.transport_libraries.get(protocol, ())
        return list(dict.fromkeys((self.library, *self.libraries, *extra)))

    @property
    def package(self) -> str:
        return type(self).__module__.rpartition(".")[0]

    def _import(self, module: str) -> Any:
        name = f"{self.package}.{module}"
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            raise InfrastructureError(
                f"--stack {self.name}: cannot import {name} ({exc}); pip install {self.library}"
            ) from None

    def session(self, spec: Any, url: str) -> Session:
        factory = getattr(self._import("publish"), self.modes[spec.mode].session)
        session: Session = factory(spec, url)
        return session

    def load(self) -> None:
        """Import its client library now (a producer process, while the consumer boots)."""
        self._import("publish")

    def holds_until_journaled(self, spec: Any) -> bool:
        """True when the broker holds every message it delivered unacknowledged until the
        consumer side has journaled it, and nothing of the run's queue is kept elsewhere
        (a delay queue's retries, a message taken off on receipt): an empty queue with
        nothing unacknowledged then means every delivery is on disk, and the drain ends
        on the broker's word instead of waiting for a quiet while. The counting consumer
        journals, then acks, under --ack after; under --ack before it acks, then journals,
        in the same callback (the drain's settle covers that moment, and a consumer that is
        stopped finishes the message in hand). Under --ack auto the broker forgets what it
        sends, and a consumer may hold much it has not journaled."""
        return not self.worker and spec.ack in ("after", "before")

    def admin(self, broker: Any) -> Any:
        """The run's queue administration: the broker's, with this stack's hooks (its
        admin.py: `HOOKS` on RabbitMQ, `REDIS` on Redis); exit 3 here for an unreachable
        broker or refused credentials."""
        return broker.open_admin(self._import("admin"))

    def settings(self, spec: Any) -> dict[str, Any]:
        """What the run's spec.json records as stack_options: the library's version and
        every setting of this stack the spec implies, defaults resolved."""
        return dict(self._import("publish").settings(spec))

    def consumer_argv(self, spec: Any, n: int, journal: Path) -> list[str]:
        """The command of consumer process n: the counting consumer with this stack's
        consumer.py (`consume`), journaling to `journal`; or the worker its consumer.py
        launches (`worker_argv`), whose processes journal into the run's journal/."""
        if self.worker:
            argv: list[str] = self._import("consumer").worker_argv(spec, n)
            return argv
        return [
            sys.executable,
            "-m",
            "consumer",
            "--client",
            f"{load_stack(spec.consumer).package if spec.consumer else self.package}.consumer",
            "--queue",
            spec.queue,
            "--queue-args",
            json.dumps(spec.queue_arguments),
            "--journal",
            str(journal),
            "--run-id",
            spec.run_id,
            "--ack",
            spec.ack,
            "--prefetch",
            str(spec.prefetch),
            "--work-ms",
            str(spec.work_ms),
            "--poison",
            ",".join(f"{p}:{s}" for p, s in spec.poison_ids),
            "--visibility-timeout",
            str(spec.visibility_timeout_s),
        ]

    def check(self, spec: Any) -> None:
        """BadInput for a combination of settings this stack cannot run (after each flag
        was checked on its own)."""

    def explain(self, result: RunResult) -> list[str]:
        """`why:` lines for what the result found, in the words of the library's docs."""
        return []

    def ack_policy(self, spec: dict[str, Any]) -> str:
        """How the consumer side acks, as a recorded spec.json says: "ack after"..."""
        return f"ack {spec.get('ack', 'after')}"

    def option(self, stack_options: dict[str, Any], key: str) -> Any:
        """Option `key`'s value in a spec's stack_options, else its declared default."""
        return next(o for o in self.options if o.key == key).value(stack_options)

    def option_values(self, given: dict[str, Any], by_key: bool = False) -> dict[str, Any]:
        """The options this stack takes out of `given` (flag or preset values), parsed."""
        return {o.key: o.parse(given[o.key], by_key) for o in self.options if o.key in given}


@functools.cache
def load_stack(name: str) -> Stack:
    target = STACKS.get(name)
    if target is None:
        raise BadInput("--stack", f"unknown stack {name!r}; allowed: {', '.join(STACKS)}")
    module_name, _, attr = target.partition(":")
    stack: Stack = getattr(importlib.import_module(module_name), attr)()
    return stack


def all_stacks() -> list[Stack]:
    return [load_stack(name) for name in STACKS]


def counting_consumers() -> list[str]:
    """The stacks whose consumer.py the counting consumer can use (--consumer)."""
    return [s.name for s in all_stacks() if not s.worker]


def all_options() -> dict[str, tuple[StackOption, list[str]]]:
    """Every stack option by key, with the stacks that take it; one key, one meaning."""
    found: dict[str, tuple[StackOption, list[str]]] = {}
    for stack in all_stacks():
        for option in stack.options:
            seen = found.get(option.key)
            if seen is not None and seen[0] != option:
                raise RuntimeError(f"stack option {option.key} is declared twice, differently")
            found.setdefault(option.key, (option, []))[1].append(stack.name)
    return found


def only_takers(key: str) -> str:
    """ "only celery takes it": for an option given to a stack that does not take it."""
    takers = all_options()[key][1]
    return f"only {' and '.join(takers)} {'takes' if len(takers) == 1 else 'take'} it"


def options_text(stack: str, stack_options: dict[str, Any]) -> str:
    """', TCP_USER_TIMEOUT 0 ms': the options a run set away from their defaults that its
    stack names in labels ('' for none, or a stack this installation does not know)."""
    if stack not in STACKS:
        return ""
    return "".join(
        ", " + o.label.format(stack_options[o.key])
        for o in load_stack(stack).options
        if o.label and o.key in stack_options and stack_options[o.key] != o.default
    )


def ack_policy(spec: dict[str, Any]) -> str:
    """A recorded spec's ack policy, in its stack's words; a stack this installation does
    not know (a journal from elsewhere) by its --ack."""
    if spec.get("stack") in STACKS:
        return load_stack(str(spec["stack"])).ack_policy(spec)
    return Stack.ack_policy(Stack(), spec)


def resolve_mode(stack: Stack, mode: str | None) -> Mode:
    if not mode:
        return stack.modes[stack.default_mode]
    if mode not in stack.modes:
        raise BadInput(
            "--mode", f"{stack.name} has no mode {mode!r}; allowed: {', '.join(stack.modes)}"
        )
    return stack.modes[mode]
