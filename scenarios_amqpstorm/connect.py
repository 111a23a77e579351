"""How every amqpstorm client of a run connects: one place, so producers, consumer and
admin use the same timeouts and nothing can wait forever."""

from __future__ import annotations

from urllib.parse import urlsplit

import amqpstorm
from amqpstorm import AMQPConnectionError, UriConnection

from mqcompare.stacks import client_heartbeat

# amqpstorm's own heartbeat is 60 s; a run's --heartbeat reaches it like every client's
HEARTBEAT_S = client_heartbeat()
SOCKET_TIMEOUT_S = 3  # amqpstorm's default is 10 s: a dead node must be noticed sooner
# how long a channel waits for a broker's reply, a publisher confirm among them (60 s is
# amqpstorm's default; a confirm held by an alarm must end in an error within a run)
RPC_TIMEOUT_S = 30


def _uri(url: str) -> str:
    """The URL with amqpstorm's connection options in its query, as amqpstorm takes them."""
    options = [f"timeout={SOCKET_TIMEOUT_S}"]
    if HEARTBEAT_S is not None:
        options.append(f"heartbeat={HEARTBEAT_S}")
    parts = urlsplit(url)  # an empty path is the default virtual host, "/", to amqpstorm
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{'&'.join(options)}"


def connect(url: str) -> UriConnection:
    """`url` may list a cluster's nodes, `;`-separated: tried in order, the first that
    opens is used (amqpstorm takes one host)."""
    failure: AMQPConnectionError | None = None
    for one in url.split(";"):
        try:
            return UriConnection(_uri(one))
        except AMQPConnectionError as exc:
            failure = exc
    assert failure is not None
    raise failure


def channel(conn: amqpstorm.Connection, confirms: bool) -> amqpstorm.Channel:
    ch = conn.channel(rpc_timeout=RPC_TIMEOUT_S)
    if confirms:
        ch.confirm_deliveries()
    return ch
