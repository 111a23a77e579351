"""What a result ran on: the broker's Connection.Start read off a socket, without a login;
the host and the libraries from this process."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from mqcompare.amqp import PROTOCOL_HEADER
from mqcompare.environment import (
    broker_label,
    broker_versions,
    environment,
    library_versions,
    server_properties,
)


def _shortstr(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw


def _longstr(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">I", len(raw)) + raw


def _table(entries: list[tuple[str, bytes]]) -> bytes:
    body = b"".join(_shortstr(name) + value for name, value in entries)
    return struct.pack(">I", len(body)) + body


def connection_start(version: str = "3.10.8", platform: str = "Erlang/OTP 25.2.3") -> bytes:
    """A Connection.Start frame as RabbitMQ sends it (a nested table, booleans, strings)."""
    capabilities = _table([("publisher_confirms", b"t\x01"), ("basic.nack", b"t\x01")])
    props = _table(
        [
            ("capabilities", b"F" + capabilities),
            ("cluster_name", b"S" + _longstr("mqc@vm")),
            ("platform", b"S" + _longstr(platform)),
            ("product", b"S" + _longstr("RabbitMQ")),
            ("version", b"S" + _longstr(version)),
            ("weight", b"I" + struct.pack(">i", -3)),
            ("list", b"A" + struct.pack(">I", 2) + b"t\x00"),
        ]
    )
    payload = struct.pack(">HHBB", 10, 10, 0, 9) + props + _longstr("PLAIN") + _longstr("en_US")
    return struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce"


@pytest.fixture
def fake_broker() -> Iterator[tuple[socket.socket, list[bytes]]]:
    """A loopback listener that answers the protocol header with `reply[0]`."""
    listener = socket.create_server(("127.0.0.1", 0))
    reply: list[bytes] = [connection_start()]
    heard: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                heard.append(conn.recv(8))
                conn.sendall(reply[0])

    threading.Thread(target=serve, daemon=True).start()
    yield listener, reply
    listener.close()
    assert all(h == PROTOCOL_HEADER for h in heard), "it speaks AMQP 0-9-1, nothing else"


def test_server_properties_are_read_before_any_login(fake_broker) -> None:  # type: ignore[no-untyped-def]
    listener, _ = fake_broker
    host, port = listener.getsockname()
    props = server_properties(f"amqp://guest:secret@{host}:{port}/")
    assert props["version"] == "3.10.8" and props["product"] == "RabbitMQ"
    assert props["capabilities"] == {"publisher_confirms": True, "basic.nack": True}
    assert props["weight"] == -3 and props["list"] == [False]
    found = broker_versions(f"amqp://{host}:{port};amqp://{host}:1")  # a cluster: the first
    assert found == {
        "product": "RabbitMQ",
        "version": "3.10.8",
        "rabbitmq": "3.10.8",
        "erlang": "25.2.3",
    }


def test_a_peer_that_is_no_broker_is_said_not_raised(fake_broker) -> None:  # type: ignore[no-untyped-def]
    listener, reply = fake_broker
    reply[0] = b"HTTP/1.1 400 Bad Request\r\n\r\n"
    host, port = listener.getsockname()
    assert "error" in broker_versions(f"amqp://{host}:{port}/")
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    found = broker_versions(f"amqp://guest:secret@127.0.0.1:{port}/")
    assert found["error"].startswith(f"127.0.0.1:{port}: ") and "secret" not in found["error"]


def test_environment_names_broker_host_and_libraries(fake_broker) -> None:  # type: ignore[no-untyped-def]
    listener, _ = fake_broker
    host, port = listener.getsockname()
    versions = broker_versions(f"amqp://{host}:{port}/")
    env = environment(versions, ["pytest", "no-such-distribution-here"])
    assert env["rabbitmq"] == env["broker_version"] == "3.10.8" and env["erlang"] == "25.2.3"
    assert env["python"].split()[1].startswith("3.")
    assert env["cpus"] >= 1 and env["os"]["system"]
    assert env["mqcompare"]["version"]
    assert env["libraries"]["pytest"] == pytest.__version__
    assert env["libraries"]["no-such-distribution-here"] == "not installed"
    assert broker_label(env) == "RabbitMQ 3.10.8 on Erlang 25.2.3"
    assert broker_label({}) == "broker version not recorded"


def test_a_redis_says_its_version_under_its_own_key() -> None:
    env = environment({"product": "Redis", "version": "7.0.15", "redis": "7.0.15"}, [])
    assert env["redis"] == env["broker_version"] == "7.0.15" and "rabbitmq" not in env
    assert broker_label(env) == "Redis 7.0.15"
    unasked = environment({"error": "127.0.0.1:1: refused"}, [])
    assert unasked["rabbitmq"] == unasked["broker_version"] == "127.0.0.1:1: refused"


def test_library_versions_keep_order_once() -> None:
    assert list(library_versions(["pytest", "pytest"])) == ["pytest"]
