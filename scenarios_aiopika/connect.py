"""How every aio-pika client of a run connects: one place for the timeouts, so that
nothing waits forever, and for the cluster's node lists."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractRobustConnection
from yarl import URL

HEARTBEAT_S = 10  # as the pika stack: a dead peer is noticed in seconds
CONNECT_TIMEOUT_S = 5
RECONNECT_INTERVAL_S = 1.0  # connect_robust's pause between attempts (its default is 5 s)


def _with_heartbeat(url: str) -> str:
    return str(URL(url).update_query(heartbeat=HEARTBEAT_S))


async def connect(url: str) -> AbstractConnection:
    """`url` may list a cluster's nodes, `;`-separated: tried in order."""
    failure: BaseException | None = None
    for one in url.split(";"):
        try:
            return await aio_pika.connect(_with_heartbeat(one), timeout=CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
            failure = exc
    assert failure is not None
    raise failure


async def connect_robust(url: str) -> AbstractRobustConnection:
    """connect_robust to the first node of the list that answers; it then reconnects to
    that node only (a robust connection keeps the URL it was made with)."""
    failure: BaseException | None = None
    for one in url.split(";"):
        try:
            return await aio_pika.connect_robust(
                _with_heartbeat(one),
                timeout=CONNECT_TIMEOUT_S,
                reconnect_interval=RECONNECT_INTERVAL_S,
            )
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
            failure = exc
    assert failure is not None
    raise failure
