"""kombu's and celery's connections carry the run's TCP_USER_TIMEOUT (py-amqp's 1 s unless
the run sets it): read back from the connected socket, on the session's private node."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from mqcompare.brokers.node import LocalNode
from scenarios_celery.app import make_app
from scenarios_kombu.connect import connection
from tests.conftest import run_spec

pytestmark = pytest.mark.broker

SETTINGS = [({}, 1000), ({"tcp_user_timeout_ms": 0}, 0), ({"tcp_user_timeout_ms": 5000}, 5000)]


def user_timeout(conn: Any) -> int:
    conn.connect()
    sock = conn.connection.transport.sock
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))


@pytest.mark.parametrize(("options", "ms"), SETTINGS)
def test_a_kombu_connection(node: LocalNode, options: dict[str, int], ms: int) -> None:
    conn = connection(node.url, run_spec("kombu", stack_options=options))
    try:
        assert user_timeout(conn) == ms
    finally:
        conn.release()


@pytest.mark.parametrize(("options", "ms"), SETTINGS)
def test_a_celery_apps_connection(node: LocalNode, options: dict[str, int], ms: int) -> None:
    app = make_app(run_spec("celery", stack_options=options), node.url)
    with app.connection_for_write() as conn:
        assert user_timeout(conn) == ms
