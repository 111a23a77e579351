"""How the AMQP 1.0 clients of a run connect: one Environment per connection, recovery
left to the run (the core reconnects, as for pika), so that two reconnect loops never
race; `url` may list a cluster's nodes, `;`-separated."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from rabbitmq_amqp_python_client import Environment, RecoveryConfiguration

RECOVERY = RecoveryConfiguration(
    active_recovery=False, back_off_reconnect_interval=timedelta(seconds=1)
)


def _plain(url: str) -> str:
    """amqp://user:pass@host:port/ (the client reads no vhost path of 0.9.1's form)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/"


def connect(url: str) -> tuple[Any, Any]:
    """(environment, connection), dialled."""
    urls = [_plain(u) for u in url.split(";")]
    env = (
        Environment(uri=urls[0], recovery_configuration=RECOVERY)
        if len(urls) == 1
        else Environment(uris=urls, recovery_configuration=RECOVERY)
    )
    conn = env.connection()
    conn.dial()
    return env, conn


def close(env: Any) -> None:
    # the client raises BaseException subclasses on a dead link
    with contextlib.suppress(BaseException):
        env.close()
