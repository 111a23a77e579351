"""What mqcompare asks of a RabbitMQ node in Erlang: each is an expression evaluated on a
node, so a private node, a cluster's node and a container (through `rabbitmqctl eval`) do
them alike. Faults built on them live in `mqcompare/faults/`."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mqcompare.errors import InfrastructureError

Evaluate = Callable[[str], str]
"""Evaluate one Erlang expression on a node and return its printed value."""

# RabbitMQ 3.10 reads the consumer timeout when a channel opens and checks it on the
# channel's tick (every minute by default): a run that sets a timeout of seconds also
# ticks every second, or the channel would not notice for up to a minute
DEFAULT_TICK_MS = 60_000
FAST_TICK_MS = 1_000

# Close every client connection. Each connection's reader handles the shutdown
# synchronously (it sends Connection.Close and answers), so when this returns the broker
# has closed them all; a client that never answers (an idle blocking client) keeps its
# socket until the broker's close timeout, which is not the fault's business.
# A connection that ends by itself meanwhile makes its close call exit: each is caught, so
# one such race cannot fail the whole fault (seen: {'EXIT',{normal,{gen_server,call,...}}}).
DROP_EXPR = """Cs = rabbit_networking:connections(),
[catch rabbit_networking:close_connection(C, "mqcompare: drop fault") || C <- Cs],
length(Cs)."""


def erl_call_path() -> str | None:
    """erl_call (Debian's erlang-base ships it), if installed: it evaluates on a node in
    a few milliseconds, where `rabbitmqctl eval` first boots an Erlang VM of its own."""
    found = shutil.which("erl_call")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/erlang/lib").glob("erl_interface-*/bin/erl_call")):
        return str(candidate)
    return None


def erl_call_argv(erl_call: str, address: str, timeout: float, cookie: str = "") -> list[str]:
    """erl_call evaluating the expression on its stdin on the node at `address`
    (host:distribution port), which must end in ".\n"."""
    argv = [erl_call, "-address", address, "-r", "-timeout", str(max(1, int(timeout)))]
    return [*argv, *(["-c", cookie] if cookie else []), "-e"]


def erl_call_value(node: str, expr: str, code: int | None, out: bytes, err: bytes) -> str:
    """The value an erl_call (or `rabbitmqctl eval`) printed; InfrastructureError naming
    `node` if it failed."""
    text = out.decode(errors="replace").strip()
    if code != 0 or text.startswith(("{error", "{badrpc")):
        detail = (err.decode(errors="replace").strip() or text).splitlines()
        raise InfrastructureError(f"{node} failed {expr!r}: {detail[-1] if detail else code}")
    m = re.fullmatch(r"\{ok,\s*(.*)\}", text, flags=re.S)  # erl_call's answer
    return m.group(1).strip() if m else text


def erl_call(node: str, address: str, expr: str, timeout: float, cookie: str) -> str:
    """Evaluate `expr` on the node at `address` with erl_call (which must be installed)."""
    argv = erl_call_argv(erl_call_path() or "erl_call", address, timeout, cookie)
    try:
        done = subprocess.run(
            argv, input=expr.encode() + b"\n", capture_output=True, timeout=timeout + 5
        )
    except subprocess.TimeoutExpired:
        raise InfrastructureError(f"{node} did not answer {expr!r} within {timeout:g} s") from None
    return erl_call_value(node, expr, done.returncode, done.stdout, done.stderr)


def vhost_of(url: str) -> str:
    path = urlsplit(url.split(";")[0]).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def binary(text: str) -> str:
    """An Erlang binary literal of `text` (queue and vhost names are plain here, but a
    quote or backslash must not end the literal)."""
    return '<<"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"/utf8>>'


def queue_ref(vhost: str, queue: str) -> str:
    return f"rabbit_misc:r({binary(vhost)}, queue, {binary(queue)})"


def drop_connections(evaluate: Evaluate) -> int:
    """Close every client connection of a node; how many it had."""
    answer = evaluate(DROP_EXPR)
    if not answer.isdigit():
        raise InfrastructureError(f"drop: unexpected answer {answer!r}")
    return int(answer)


def count_unacked(evaluate: Evaluate, url: str, queue: str) -> int:
    """Messages of `queue`, and of the queues a stack names after it (dramatiq's `Q.DQ`),
    delivered to a consumer and not acknowledged yet: a passive declare counts only the
    ready ones, and a consumer that works on what it holds says nothing for a while."""
    prefix = queue + "."
    answer = evaluate(
        "lists:sum([U || [{name, {resource, _, queue, N}}, {messages_unacknowledged, U}] <- "
        f"rabbit_amqqueue:info_all({binary(vhost_of(url))}, [name, messages_unacknowledged]), "
        f"is_integer(U), (N =:= {binary(queue)}) orelse "
        f"(binary:longest_common_prefix([N, {binary(prefix)}]) =:= {len(prefix.encode())})])."
    )
    if not answer.isdigit():
        raise InfrastructureError(f"unacknowledged messages of {queue}: unexpected {answer!r}")
    return int(answer)


def running_alarms_cleared(evaluate: Evaluate) -> bool:
    """Whether the node's RabbitMQ application runs; if it does, both alarms mqcompare
    raises are cleared (one left by an interrupted fault) in the same call, which is made
    before every run."""
    try:
        answer = evaluate(
            "case rabbit:is_running() of true -> [catch rabbit_alarm:clear_alarm("
            "{resource_limit, R, node()}) || R <- [memory, disk]], true; _ -> false end."
        )
    except InfrastructureError:
        return False
    return answer == "true"


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
