"""How every pika client of a run connects: one place, so producers, consumer and admin
use the same timeouts and nothing can wait forever."""

from __future__ import annotations

import pika

from mqcompare.stacks import client_heartbeat

# A publish during a resource alarm, or a dead peer, must end in an error, not a hang.
HEARTBEAT_S = client_heartbeat()  # None: pika's own (it takes the broker's proposal)
BLOCKED_TIMEOUT_S = 30
SOCKET_TIMEOUT_S = 3


def parameters(url: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    if HEARTBEAT_S is not None:
        params.heartbeat = HEARTBEAT_S
    params.blocked_connection_timeout = BLOCKED_TIMEOUT_S
    params.socket_timeout = SOCKET_TIMEOUT_S
    params.stack_timeout = SOCKET_TIMEOUT_S * 2
    params.connection_attempts = 1
    return params


def connect(url: str) -> pika.BlockingConnection:
    """`url` may list a cluster's nodes, `;`-separated: pika tries them in order."""
    return pika.BlockingConnection([parameters(u) for u in url.split(";")])
