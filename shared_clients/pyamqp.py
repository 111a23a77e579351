"""What py-amqp, the AMQP client under kombu and so under celery, does that a run must
know: its TCP_USER_TIMEOUT on every connection (a stack option of both stacks), and the
loss it causes on a connection the broker blocked. Imports no client library."""

from __future__ import annotations

from mqcompare.result import RunResult
from mqcompare.stacks import StackOption

PY_AMQP_TCP_USER_TIMEOUT_MS = 1000  # amqp/transport.py DEFAULT_SOCKET_SETTINGS

TCP_USER_TIMEOUT = StackOption(
    "tcp_user_timeout_ms",
    "--tcp-user-timeout-ms",
    "TCP_USER_TIMEOUT of every py-amqp connection, in ms: how long sent bytes may wait "
    "unacknowledged, a blocked broker's full buffers too (py-amqp's default 1000; 0: "
    "the kernel's own, none)",
    PY_AMQP_TCP_USER_TIMEOUT_MS,
    minimum=0,
    label="TCP_USER_TIMEOUT {} ms",
)
"""kombu's and celery's one setting (through py-amqp) that decides whether a blocked
connection is dropped by the kernel, and what its buffers held lost."""


def blocked_loss(result: RunResult) -> list[str]:
    """Why kombu (and celery, through it) lost what it published during an alarm: the
    `why:` line, when that happened and the connections had a TCP_USER_TIMEOUT."""
    alarmed = any(f["kind"] == "alarm" and f.get("hit") for f in result.get("faults", []))
    spec = result["spec"]
    ms = TCP_USER_TIMEOUT.value(spec.get("stack_options") or {})
    if not (alarmed and ms and result["counts"].get("lost") and not spec.get("confirms")):
        return []
    setting = (
        "py-amqp sets TCP_USER_TIMEOUT to 1 s on every connection (amqp/transport.py "
        "DEFAULT_SOCKET_SETTINGS; py-amqp PR 114, for a faster failover when a server dies)"
        if ms == PY_AMQP_TCP_USER_TIMEOUT_MS
        else f"the run set TCP_USER_TIMEOUT to {ms / 1000:g} s (--tcp-user-timeout-ms)"
    )
    return [
        f"{setting}: a blocked broker stops reading, the kernel drops the connection once "
        "sent bytes wait that long, and the messages publish had returned for, still in the "
        "sockets' buffers, are gone (BrokenPipeError on the next publish); a timeout longer "
        "than the alarm, or 0 (none), keeps the connection"
    ]
