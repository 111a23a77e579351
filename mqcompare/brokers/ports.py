"""Ports and addresses of the brokers mqcompare runs: free loopback ports below the
ephemeral range, probes of a port, of epmd and of an AMQP listener, and the state
directory where `broker up` describes what it keeps."""

from __future__ import annotations

import os
import random
import socket
import struct
from pathlib import Path

from mqcompare.errors import InfrastructureError

EPMD_PORT = 4369
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def state_dir() -> Path:
    """Where `mqcompare broker up` leaves the description of the node it keeps."""
    env = os.environ.get("MQCOMPARE_STATE_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "mqcompare"


def loopback_url(port: int, host: str = "127.0.0.1") -> str:
    """The URL of a broker mqcompare runs: guest on loopback, the default vhost."""
    return f"amqp://guest:guest@{host}:{port}/%2F"


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range of ports it gives clients (net.ipv4.ip_local_port_range)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free loopback port *below* the ephemeral range. A broker on an ephemeral port can
    lose it while it is down: a client reconnecting to it may be given that very port as
    its own source port and connect to itself (TCP simultaneous open), and the node then
    cannot listen again (`eaddrinuse` on rabbit:start(); seen in a full-preset run)."""
    low = ephemeral_ports()[0]
    candidates = list(range(max(1024, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates[:500]:
        if port_free(port):
            return port
    raise InfrastructureError(f"no free loopback port below {low} for a private broker")


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on host:port (a node can bind it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def epmd_registered(name: str, port: int = 0) -> bool:
    """Whether the local epmd still lists an Erlang node `name` (without @host)."""
    request = b"z" + name.encode()
    try:
        with socket.create_connection(("127.0.0.1", port or EPMD_PORT), timeout=1.0) as s:
            s.sendall(struct.pack(">H", len(request)) + request)
            reply = s.recv(2)
    except OSError:
        return False
    return len(reply) == 2 and reply[0] == ord("w") and reply[1] == 0


def amqp_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """A broker answers the AMQP 0-9-1 protocol header with a Connection.Start frame (type
    1). Docker's proxy, with nothing behind it, accepts and then closes the connection."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(AMQP_HEADER)
            first = s.recv(1)
    except OSError:
        return False
    return first == b"\x01"
