"""How kombu's clients connect: shared_clients.kombu_client, which celery's use too (its
broker client is kombu)."""

from shared_clients.kombu_client import (
    CONFIRM_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    HEARTBEAT_S,
    connection,
    release_all,
    retry_policy,
    tcp_user_timeout_ms,
    transport_options,
)

__all__ = [
    "CONFIRM_TIMEOUT_S",
    "CONNECT_TIMEOUT_S",
    "HEARTBEAT_S",
    "connection",
    "release_all",
    "retry_policy",
    "tcp_user_timeout_ms",
    "transport_options",
]
