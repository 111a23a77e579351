"""Poison messages (--poison) and the run's dead-letter queue (--dead-letter): the ids
every consumer fails, what the broker made of them, and the `why:` lines that say so.

RabbitMQ 4.0 gave quorum queues a delivery limit of 20 by default: a message delivered
more often is dropped, or dead-lettered where the queue has a target ("Poison Message
Handling", https://www.rabbitmq.com/docs/quorum-queues#poison-message-handling). A
classic queue has no such limit: a message rejected with requeue comes back for ever."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import orjson

from mqcompare.admin import QueueAdmin
from mqcompare.envelope import decode
from mqcompare.journal import JournalWriter
from mqcompare.result import RunResult

DOCS = "https://www.rabbitmq.com/docs/quorum-queues#poison-message-handling"
# the drain gives up on poison messages that still loop once nothing else is left for
# this long: enough for a quorum queue's delivery limit (20 redeliveries, milliseconds)
LOOPING_S = 5.0
DELIVERY_LIMIT = 20  # a quorum queue's default delivery-limit since RabbitMQ 4.0


def message_key(props: dict[str, Any], body: bytes) -> tuple[int, int] | None:
    """The (producer, seq) of a message taken from a queue: its message_id "P:S" (what
    the stacks set, but dramatiq), else the body's envelope, else a task's arguments
    (dramatiq's body: {"args": [p, s, sent], ...}); None for a message not of the run."""
    p, _, s = str(props.get("message_id", "")).partition(":")
    if p.isdigit() and s.isdigit():
        return int(p), int(s)
    with contextlib.suppress(ValueError):
        p_, s_, _sent = decode(body)
        return p_, s_
    with contextlib.suppress(orjson.JSONDecodeError, TypeError, ValueError, KeyError):
        args = orjson.loads(body)["args"]
        return int(args[0]), int(args[1])
    return None


def death(props: dict[str, Any]) -> tuple[str, int | None]:
    """Why the broker dead-lettered a message and its delivery count, from its headers
    (x-death's newest entry; a quorum queue also sets x-delivery-count)."""
    headers = props.get("headers") or {}
    deaths = headers.get("x-death") or []
    newest = deaths[0] if deaths and isinstance(deaths[0], dict) else {}
    count = headers.get("x-delivery-count")
    return str(newest.get("reason", "unknown")), count if isinstance(count, int) else None


def journal_taken(admin: QueueAdmin, queue: str, journal: JournalWriter, dead: bool) -> int:
    """Take every message of `queue`: the dead-letter queue (`dead`, a `dead` record
    each) or the run's own once its consumers stopped (a `left` record each); how many."""
    taken = 0
    while (message := admin.take(queue)) is not None:
        props, body = message
        key = message_key(props, body)
        if key is None:
            continue
        reason, count = death(props)
        if dead:
            journal.dead(*key, reason, count)
        else:
            journal.left(*key, count)
        taken += 1
    return taken


def still_looping(
    spec: Any, depth: int, held: Callable[[], int | None], quiet_s: float, rejects: int
) -> bool:
    """Only poison messages are left (`held`: what consumers hold unacknowledged, asked
    only then), nothing else was delivered for a while, and they were failed more often
    than any default delivery limit lets a message be: they come back for ever (a
    classic queue, or a quorum queue without a delivery limit). The drain stops there."""
    if not spec.poison or quiet_s < LOOPING_S:
        return False
    if rejects <= (DELIVERY_LIMIT + 2) * spec.poison:
        return False
    return depth + (held() or 0) <= spec.poison


def poison_notes(result: RunResult) -> list[str]:
    """`why:` lines for a run with poison messages."""
    spec, c = result["spec"], result["counts"]
    poison = result.get("poison")
    if not spec.get("poison") or poison is None:
        return []
    n = poison["ids"]
    where = f"a {spec.get('queue_type', 'classic')} queue on RabbitMQ " + str(
        result.get("environment", {}).get("rabbitmq", "?")
    )
    lines = [
        f"{n} poison message(s) were rejected with requeue {poison['rejections']:,} times in "
        f"all (at most {poison['most_rejections']:,} for one) on {where}"
    ]
    dead = c.get("dead_lettered", 0)
    if dead:
        reasons = ", ".join(f"{k} {v}" for k, v in poison["dead_reasons"].items())
        lines.append(f"{dead} went to the dead-letter queue ({reasons}), not lost ({DOCS})")
    looping = result["drain"].get("poison_looping")
    dropped = 0 if looping else poison["lost"]
    most = poison["most_rejections"]
    if dropped and most == DELIVERY_LIMIT + 1:
        lines.append(
            f"the broker dropped {dropped} after delivering each {most} times: a quorum "
            f"queue's delivery limit ({DELIVERY_LIMIT} by default since RabbitMQ 4.0), with no "
            f"dead-letter target and no error to anyone ({DOCS})"
        )
    elif dropped:
        lines.append(
            f"{dropped} were gone after at most {most:,} deliveries, not at a delivery limit: "
            "the consuming side settled them instead of sending them back, or the queue was "
            "deleted while they were in it"
        )
    if looping:
        lines.append(
            f"{c.get('left_in_queue', 0)} were still being redelivered when the drain gave up, "
            "and were taken from the queue at the end: a classic queue (or a quorum queue "
            "without a delivery limit) requeues a rejected message for ever, and every "
            "consumer spends its time on them"
        )
    return lines
