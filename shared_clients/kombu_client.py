"""How every kombu client of a run connects (py-amqp transport), kombu's and celery's, and
the retry policy that gives kombu's own retries the same budget as the other stacks'."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable
from typing import Any

from kombu import Connection

from shared_clients.pyamqp import TCP_USER_TIMEOUT

CONNECT_TIMEOUT_S = 3
# A lost confirm must end in an error (journaled `info`), never a hang.
CONFIRM_TIMEOUT_S = 10.0
# kombu's default: no heartbeats (a blocking producer would not send them anyway).
HEARTBEAT_S = 0
# errback(exc, interval) is called with 0 after a failed publish and with at least this
# after a failed reconnect: that is how the journal tells the two apart.
INTERVAL_START_S = 0.1
INTERVAL_STEP_S = 0.2
INTERVAL_MAX_S = 1.0


def tcp_user_timeout_ms(spec: Any) -> int:
    """The socket's TCP_USER_TIMEOUT for the run: py-amqp's own unless the run sets it."""
    return int(TCP_USER_TIMEOUT.value(spec.stack_options))


def transport_options(spec: Any) -> dict[str, Any]:
    """What a run's connections are given: on py-amqp confirms and the TCP_USER_TIMEOUT;
    on Redis the visibility timeout, when the run sets one (each transport ignores the
    other's options)."""
    options: dict[str, Any] = {
        "confirm_publish": spec.confirms,
        "socket_settings": {socket.TCP_USER_TIMEOUT: tcp_user_timeout_ms(spec)},
    }
    return options | redis_options(spec.visibility_timeout_s)


def redis_options(visibility_timeout_s: float) -> dict[str, Any]:
    """kombu's Redis transport options for a visibility timeout (0: its own, 1 h)."""
    return {"visibility_timeout": visibility_timeout_s} if visibility_timeout_s else {}


def connection(url: str, spec: Any) -> Connection:
    return Connection(
        url,
        heartbeat=HEARTBEAT_S,
        connect_timeout=CONNECT_TIMEOUT_S,
        transport_options=transport_options(spec),
    )


def release_all(connections: Iterable[Connection]) -> None:
    """Close connections with the AMQP handshake, so the broker reads all they sent.

    A pooled connection's `release()` only hands it back to the pool, and
    kombu.pools.reset() then drops it without the handshake (`collect()`, meant for a
    forked child); so does a bare process exit. The broker logs "client unexpectedly
    closed TCP connection" and discards what it had not read yet: seen here, the last
    37 and 55 unconfirmed messages of a run, gone. `_close()` is kombu's "really close
    connection, even if part of a connection pool"."""
    for conn in list(connections):
        with contextlib.suppress(Exception):
            conn._close()


def retry_policy(budget_s: float) -> dict[str, Any]:
    """kombu's retry_policy whose sleeps add up to at least `budget_s` seconds."""
    slept, interval, retries = 0.0, INTERVAL_START_S, 0
    while slept < budget_s:
        slept += interval
        interval = min(interval + INTERVAL_STEP_S, INTERVAL_MAX_S)
        retries += 1
    return {
        "max_retries": retries,
        "interval_start": INTERVAL_START_S,
        "interval_step": INTERVAL_STEP_S,
        "interval_max": INTERVAL_MAX_S,
    }
