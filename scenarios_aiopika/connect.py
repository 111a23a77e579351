"""How every aio-pika client of a run connects: one place for the timeouts, so that
nothing waits forever, and for the cluster's node lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractRobustConnection
from yarl import URL

from mqcompare.stacks import client_heartbeat

HEARTBEAT_S = client_heartbeat()  # None: aiormq's own (60 s)
CONNECT_TIMEOUT_S = 5
RECONNECT_INTERVAL_S = 1.0  # connect_robust's pause between attempts (its default is 5 s)

T = TypeVar("T")


def _with_heartbeat(url: str) -> str:
    if HEARTBEAT_S is None:
        return url
    return str(URL(url).update_query(heartbeat=HEARTBEAT_S))


async def _first_answering(url: str, opener: Callable[..., Awaitable[T]], **kw: Any) -> T:
    """`url` may list a cluster's nodes, `;`-separated: tried in order."""
    failure: BaseException | None = None
    for one in url.split(";"):
        try:
            return await opener(_with_heartbeat(one), timeout=CONNECT_TIMEOUT_S, **kw)
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
            failure = exc
    assert failure is not None
    raise failure


async def connect(url: str) -> AbstractConnection:
    return await _first_answering(url, aio_pika.connect)


async def connect_robust(url: str) -> AbstractRobustConnection:
    """connect_robust to the first node that answers; it then reconnects to that node
    only (a robust connection keeps the URL it was made with)."""
    return await _first_answering(
        url, aio_pika.connect_robust, reconnect_interval=RECONNECT_INTERVAL_S
    )
