"""The broker's own protections and an operator's hand, as faults: a resource alarm raised
and cleared, the run's queue deleted, and the delivery acknowledgement timeout set for a
run; and what only the broker knows of the run's queue (its unacknowledged messages).
Each is an Erlang expression evaluated on a node, so a private node, a cluster's node and
a container (through `rabbitmqctl eval`) do them alike."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from mqcompare.errors import InfrastructureError
from mqcompare.observe import PhaseLog, sleep_until

Evaluate = Callable[[str], str]
"""Evaluate one Erlang expression on a node and return its printed value."""

QUEUE_BACK_TIMEOUT_S = 30.0

# RabbitMQ 3.10 reads the consumer timeout when a channel opens and checks it on the
# channel's tick (every minute by default): a run that sets a timeout of seconds also
# ticks every second, or the channel would not notice for up to a minute
DEFAULT_TICK_MS = 60_000
FAST_TICK_MS = 1_000


def vhost_of(url: str) -> str:
    path = urlsplit(url.split(";")[0]).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def _binary(text: str) -> str:
    """An Erlang binary literal of `text` (queue and vhost names are plain here, but a
    quote or backslash must not end the literal)."""
    return '<<"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"/utf8>>'


def _queue_ref(vhost: str, queue: str) -> str:
    return f"rabbit_misc:r({_binary(vhost)}, queue, {_binary(queue)})"


def count_unacked(evaluate: Evaluate, url: str, queue: str) -> int:
    """Messages of `queue`, and of the queues a stack names after it (dramatiq's `Q.DQ`),
    delivered to a consumer and not acknowledged yet: a passive declare counts only the
    ready ones, and a consumer that works on what it holds says nothing for a while."""
    prefix = queue + "."
    answer = evaluate(
        "lists:sum([U || [{name, {resource, _, queue, N}}, {messages_unacknowledged, U}] <- "
        f"rabbit_amqqueue:info_all({_binary(vhost_of(url))}, [name, messages_unacknowledged]), "
        f"is_integer(U), (N =:= {_binary(queue)}) orelse "
        f"(binary:longest_common_prefix([N, {_binary(prefix)}]) =:= {len(prefix.encode())})])."
    )
    if not answer.isdigit():
        raise InfrastructureError(f"unacknowledged messages of {queue}: unexpected {answer!r}")
    return int(answer)


def raise_alarm(evaluate: Evaluate, resource: str, down: float, log: PhaseLog) -> None:
    """The node's `resource` alarm, as RabbitMQ's memory or disk monitor raises it: every
    publishing connection of the cluster is blocked. `down` when the node lists the alarm,
    cleared `down` seconds later, `up` when it no longer lists it (the node's clock)."""
    alarm = f"{{resource_limit, {resource}, node()}}"
    listed = f"resource_limit,{resource},"

    def alarms_after(call: str) -> tuple[bool, float]:
        answer = evaluate(
            f"{call}, {{rabbit_alarm:get_alarms(), os:system_time(microsecond)}}."
        ).replace(" ", "")
        m = re.fullmatch(r"\{(.*),(\d+)\}", answer, flags=re.S)
        if m is None:
            raise InfrastructureError(f"alarm: unexpected answer {answer!r}")
        return listed in m.group(1), int(m.group(2)) / 1e6

    on, t_down = alarms_after(f"rabbit_alarm:set_alarm({{{alarm}, []}})")
    if not on:
        raise InfrastructureError(f"alarm: the node did not list its {resource} alarm")
    log.down(t_down, struck=f"{resource} alarm")
    try:
        sleep_until(t_down + down)
    finally:  # never leave a node that blocks every publisher behind
        on, t_up = alarms_after(f"rabbit_alarm:clear_alarm({alarm})")
    if on:
        raise InfrastructureError(f"alarm: the node still lists its {resource} alarm")
    log.up(t_up)


def clear_alarms(evaluate: Evaluate) -> None:
    """Clear both alarms mqcompare raises (after an interrupted fault)."""
    evaluate("[rabbit_alarm:clear_alarm({resource_limit, R, node()}) || R <- [memory, disk]], ok.")


def delete_queue(evaluate: Evaluate, url: str, queue: str, log: PhaseLog) -> None:
    """Delete the run's queue, as an operator or a redeploy would: its ready messages go
    with it and its consumers are cancelled. `down` when it is gone (with how many ready
    messages it held), `up` when some client has declared it again."""
    ref = _queue_ref(vhost_of(url), queue)
    # the node's clock when the deletion returned (the host's clock: the node runs here or
    # in a container of this host), not when its answer reached us: a message confirmed
    # in between went with the queue
    answer = evaluate(
        f"case rabbit_amqqueue:lookup({ref}) of "
        f'{{ok, Q}} -> {{rabbit_amqqueue:delete(Q, false, false, <<"mqcompare">>), '
        f"os:system_time(microsecond)}}; _ -> absent end."
    )
    if answer == "absent":
        log.note("the queue did not exist: nothing was deleted")
        return
    m = re.fullmatch(r"\{\{ok,(\d+)\},(\d+)\}", answer.replace(" ", ""))
    if m is None:
        raise InfrastructureError(f"queue-delete: unexpected answer {answer!r}")
    held, t_down = int(m.group(1)), int(m.group(2)) / 1e6
    log.down(t_down, struck=f"queue with {held} ready message{'s' if held != 1 else ''}")
    exists = f"case rabbit_amqqueue:lookup({ref}) of {{ok, _}} -> true; _ -> false end."

    def declared_again() -> bool:
        try:
            return evaluate(exists) == "true"
        except InfrastructureError:
            return False

    log.watch_up(
        declared_again,
        QUEUE_BACK_TIMEOUT_S,
        f"no client declared the queue again within {QUEUE_BACK_TIMEOUT_S:g} s",
    )


def set_consumer_timeout(evaluate: Evaluate, seconds: float) -> Callable[[], None]:
    """Set the node's delivery acknowledgement timeout for channels opened from now on;
    returns what puts the node's own values back."""
    before = evaluate(
        "{application:get_env(rabbit, consumer_timeout, undefined), "
        f"application:get_env(rabbit, channel_tick_interval, {DEFAULT_TICK_MS})}}."
    )
    m = re.fullmatch(r"\{(\w+),\s*(\d+)\}", before.replace(" ", ""))
    if m is None:
        raise InfrastructureError(f"--consumer-timeout: unexpected answer {before!r}")
    timeout_ms = max(1, round(seconds * 1000))
    tick_ms = min(FAST_TICK_MS, max(100, timeout_ms // 2))
    evaluate(
        f"application:set_env(rabbit, consumer_timeout, {timeout_ms}), "
        f"application:set_env(rabbit, channel_tick_interval, {tick_ms})."
    )
    old_timeout, old_tick = m.groups()
    restore_timeout = (
        "application:unset_env(rabbit, consumer_timeout)"
        if old_timeout == "undefined"
        else f"application:set_env(rabbit, consumer_timeout, {old_timeout})"
    )

    def restore() -> None:
        evaluate(
            f"{restore_timeout}, application:set_env(rabbit, channel_tick_interval, {old_tick})."
        )

    return restore


def notes(result: dict[str, Any], blocked_publish: str) -> list[str]:
    """`why:` lines for what the broker's protections and a deleted queue did in a run,
    each from the page or user issue that says so; `blocked_publish` is the stack's own
    word on what bounds a publish on a blocked connection."""
    spec, c = result["spec"], result["counts"]
    hit = {f["kind"]: f for f in result.get("faults", []) if f.get("hit")}
    lines = []
    if "alarm" in hit:
        lines.append(
            "a memory or disk alarm blocks every connection that publishes, on every node, "
            "until it clears; consumers go on (RabbitMQ docs, Memory and Disk Alarms); "
            f"here: {blocked_publish}"
        )
    if "queue-delete" in hit:
        lost = hit["queue-delete"].get("lost") or {}
        if lost.get("while_gone"):
            lines.append(
                "a message no queue takes is dropped, and with confirms it is confirmed all the "
                "same, unless it is published mandatory (RabbitMQ docs, Publishers: "
                "unroutable message handling)"
            )
        returned = [e for e in result.get("errors", {}) if e.endswith("312 NO_ROUTE")]
        if returned:
            lines.append(
                "published mandatory, a message no queue took came back (Basic.Return, 312 "
                "NO_ROUTE) and was journaled failed, then sent again"
            )
        if lost.get("with_the_queue"):
            lines.append(
                "a queue's messages go with it when it is deleted, those on their way to it "
                "too: they were confirmed, and mandatory cannot bring them back"
            )
    timeout = spec.get("consumer_timeout_s") or 0
    if timeout and (c.get("redelivered") or c.get("duplicated")):
        lines.append(
            f"the broker closed the channel of a consumer that held a delivery unacked longer "
            f"than {timeout:g} s (PRECONDITION_FAILED, RabbitMQ docs, Consumers: delivery "
            "acknowledgement timeout); what it held was delivered again (celery issue 6760)"
        )
    return lines
