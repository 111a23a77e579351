"""The Stack protocol and the name -> "module:Class" table, imported lazily so that a
missing client library breaks only its own stack. The core never imports a client.

A stack is small: for each mode it opens what that mode shares (a `Session`, made in
the producer process before producers start), hands each producer a `Publisher`
that publishes one message at a time, and says what it does on error by raising
`NotSent` (definitely not sent: journaled `fail`) or anything else (outcome open:
journaled `info`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mqcompare.errors import BadInput, InfrastructureError

STACKS = {
    "pika": "scenarios_pika.stack:PikaStack",
    "kombu": "scenarios_kombu.stack:KombuStack",
    "celery": "scenarios_celery.stack:CeleryStack",
}
# Queue administration and the counting consumer, by client library.
ADMINS = {
    "pika": "scenarios_pika.admin:PikaAdmin",
    "kombu": "scenarios_kombu.admin:KombuAdmin",
}
CONSUMERS = {
    "pika": "consumer.pika_client",
    "kombu": "consumer.kombu_client",
}

RetryHook = Callable[[int, int, BaseException], None]
"""What a stack that retries by itself calls just before it publishes the same message
again: the core journals the failed attempt (`info`) and the new one (`invoke`)."""


class NotSent(Exception):
    """The library says the message was definitely not sent."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause

    @property
    def err(self) -> str:
        return type(self.cause).__name__


@dataclass(frozen=True)
class Mode:
    name: str
    help: str
    processes: bool = False  # producers are OS processes (forked from the producer process)


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


class Stack(Protocol):
    name: str
    library: str
    modes: dict[str, Mode]
    default_mode: str

    def session(self, spec: Any, url: str) -> Session: ...

    def options(self, spec: Any) -> dict[str, Any]:
        """The stack's own settings this spec implies, recorded in the result."""


class QueueAdmin(Protocol):
    def declare(self, queue: str) -> None: ...

    def depth(self, queue: str) -> int:
        """Messages ready in the queue; raises if the broker cannot be asked now."""

    def delete(self, queue: str) -> None: ...

    def close(self) -> None: ...


def _load(table: dict[str, str], name: str, flag: str) -> Any:
    target = table.get(name)
    if target is None:
        raise BadInput(flag, f"unknown {flag.strip('-')} {name!r}; allowed: {', '.join(table)}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InfrastructureError(
            f"{flag} {name}: cannot import {module_name} ({exc}); pip install mqcompare[{name}]"
        ) from None
    return getattr(module, attr) if attr else module


def load_stack(name: str) -> Stack:
    return _load(STACKS, name, "--stack")()


def load_admin(library: str, url: str) -> QueueAdmin:
    return _load(ADMINS, library, "--consumer")(url)


def resolve_mode(stack: Stack, mode: str | None) -> Mode:
    if not mode:
        return stack.modes[stack.default_mode]
    if mode not in stack.modes:
        raise BadInput(
            "--mode", f"{stack.name} has no mode {mode!r}; allowed: {', '.join(stack.modes)}"
        )
    return stack.modes[mode]
