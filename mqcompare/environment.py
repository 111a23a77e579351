"""What a result ran on: the broker and its Erlang, Python, the OS, the CPUs, mqcompare and
every client library of the run, each with its version. A figure without its setup is a
rumour, so every result.json and results.json carries this (`environment`).

The broker's version comes from the broker itself: an AMQP 0-9-1 server sends its
product, version and platform in `Connection.Start`, before any login, so one short
connection asks a private node, a cluster node, a container or an external broker alike,
with no client library."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import socket
import struct
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = 0xCE


class NotAmqp(ValueError):
    """The peer did not answer with an AMQP 0-9-1 Connection.Start."""


def server_properties(url: str, timeout: float = 3.0) -> dict[str, Any]:
    """The server-properties table of the broker at `url` (OSError, NotAmqp). The
    connection is then opened and closed with the handshake, as any client's, so that the
    broker logs no dropped connection (a run's broker.log is read for those)."""
    parts = urlsplit(url.split(";")[0])
    host, port = parts.hostname or "localhost", parts.port or 5672
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(PROTOCOL_HEADER)
        start = _method(sock, (10, 10), "Connection.Start")
        table, _ = _table(start, 6)  # after class, method and version major.minor
        with contextlib.suppress(OSError, NotAmqp, struct.error):
            _log_in_and_close(sock, parts)
    return table


def _log_in_and_close(sock: socket.socket, parts: Any) -> None:
    """Start-Ok, Tune-Ok, Open, then Close: the shortest polite AMQP connection."""
    user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
    response = f"\0{user}\0{password}".encode()
    empty_table = struct.pack(">I", 0)
    sock.sendall(
        _frame(10, 11, empty_table + _short(b"PLAIN") + _long(response) + _short(b"en_US"))
    )
    tune = _method(sock, (10, 30), "Connection.Tune")
    channel_max, frame_max, _heartbeat = struct.unpack(">HIH", tune[4:12])
    sock.sendall(_frame(10, 31, struct.pack(">HIH", channel_max, frame_max, 0)))
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    sock.sendall(_frame(10, 40, _short(vhost.encode()) + _short(b"") + b"\0"))
    _method(sock, (10, 41), "Connection.Open-Ok")
    sock.sendall(_frame(10, 50, struct.pack(">H", 200) + _short(b"") + struct.pack(">HH", 0, 0)))
    _method(sock, (10, 51), "Connection.Close-Ok")


def _short(raw: bytes) -> bytes:
    return bytes([len(raw)]) + raw


def _long(raw: bytes) -> bytes:
    return struct.pack(">I", len(raw)) + raw


def _frame(class_id: int, method_id: int, args: bytes) -> bytes:
    payload = struct.pack(">HH", class_id, method_id) + args
    return struct.pack(">BHI", 1, 0, len(payload)) + payload + bytes([FRAME_END])


def _method(sock: socket.socket, want: tuple[int, int], name: str) -> bytes:
    """The payload of the next method frame, which must be `want` (NotAmqp otherwise)."""
    kind, _channel, size = struct.unpack(">BHI", _read_exactly(sock, 7))
    if kind != 1 or size > 1 << 20:
        raise NotAmqp(f"frame type {kind}, size {size}, not {name}")
    payload = _read_exactly(sock, size + 1)
    if payload[-1] != FRAME_END:
        raise NotAmqp("no frame end")
    got = struct.unpack(">HH", payload[:4])
    if got != want:
        raise NotAmqp(f"method {got[0]}.{got[1]}, not {name}")
    return payload[:-1]


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise NotAmqp("the connection closed before Connection.Start")
        data += chunk
    return data


# field-table value types: struct format, or a reader below
_FIXED = {
    "t": ">B", "b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I",
    "l": ">q", "L": ">Q", "f": ">f", "d": ">d", "T": ">Q",
}  # fmt: skip


def _table(buf: bytes, at: int) -> tuple[dict[str, Any], int]:
    (size,) = struct.unpack_from(">I", buf, at)
    at += 4
    end = at + size
    table: dict[str, Any] = {}
    while at < end:
        n = buf[at]
        name = buf[at + 1 : at + 1 + n].decode("utf-8", "replace")
        value, at = _value(buf, at + 1 + n)
        table[name] = value
    return table, end


def _value(buf: bytes, at: int) -> tuple[Any, int]:
    kind = chr(buf[at])
    at += 1
    if kind in _FIXED:
        fmt = _FIXED[kind]
        (value,) = struct.unpack_from(fmt, buf, at)
        return (bool(value) if kind == "t" else value), at + struct.calcsize(fmt)
    if kind in "SxV":
        if kind == "V":
            return None, at
        (n,) = struct.unpack_from(">I", buf, at)
        raw = buf[at + 4 : at + 4 + n]
        return (raw.decode("utf-8", "replace") if kind == "S" else raw.hex()), at + 4 + n
    if kind == "F":
        return _table(buf, at)
    if kind == "D":  # decimal: scale, then a 32-bit value
        scale, raw = struct.unpack_from(">Bi", buf, at)
        return raw / 10**scale, at + 5
    if kind == "A":
        (n,) = struct.unpack_from(">I", buf, at)
        items, pos, end = [], at + 4, at + 4 + n
        while pos < end:
            item, pos = _value(buf, pos)
            items.append(item)
        return items, end
    raise NotAmqp(f"unknown field type {kind!r}")


def broker_versions(url: str) -> dict[str, str]:
    """{'product': 'RabbitMQ', 'rabbitmq': '3.10.8', 'erlang': '25.3.2.8'} as the broker
    says; {'error': why} when it cannot be asked (never raises)."""
    try:
        props = server_properties(url)
    except (OSError, NotAmqp, struct.error, IndexError) as exc:
        where = urlsplit(url.split(";")[0])
        return {"error": f"{where.hostname}:{where.port}: {exc or type(exc).__name__}"}
    product = str(props.get("product", ""))
    found = {"product": product, "rabbitmq": str(props.get("version", ""))}
    platform_text = str(props.get("platform", ""))  # "Erlang/OTP 25.3.2.8"
    if platform_text:
        found["erlang"] = platform_text.split("/OTP", 1)[-1].strip() or platform_text
    return found


def library_versions(distributions: list[str]) -> dict[str, str]:
    """Each installed distribution's version ('not installed' for a missing one)."""
    found = {}
    for name in dict.fromkeys(distributions):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@functools.cache
def host() -> dict[str, Any]:
    """Python, the OS and the machine: what does not change within one process."""
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "distribution": _os_release(),
        },
        "machine": platform.machine(),
        "cpus": os.cpu_count() or 0,
        "mqcompare": mqcompare_version(),
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip().strip('"')
    except OSError:
        pass
    return ""


def mqcompare_version() -> dict[str, str]:
    """The installed version and, in a git checkout, the commit (with '+changes' when the
    work tree differs from it)."""
    try:
        version = metadata.version("mqcompare")
    except metadata.PackageNotFoundError:
        version = "unknown"
    found = {"version": version}
    top = Path(__file__).resolve().parent.parent
    if (top / ".git").exists():
        try:
            commit = _git(top, "rev-parse", "--short=12", "HEAD")
            dirty = _git(top, "status", "--porcelain", "--untracked-files=no")
        except (OSError, subprocess.SubprocessError):
            return found
        found["commit"] = commit + ("+changes" if dirty else "")
    return found


def _git(top: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(top), *args], capture_output=True, text=True, timeout=5, check=True
    )
    return done.stdout.strip()


def environment(url: str, distributions: list[str]) -> dict[str, Any]:
    """The `environment` of a result: the broker at `url` (a cluster's first node), this
    host, the libraries."""
    broker = broker_versions(url)
    return {
        "rabbitmq": broker.get("rabbitmq") or broker.get("error", ""),
        "broker_product": broker.get("product", ""),
        "erlang": broker.get("erlang", ""),
        **host(),
        "libraries": library_versions(distributions),
    }


def broker_label(env: dict[str, Any]) -> str:
    """'RabbitMQ 3.10.8 on Erlang 25.3.2.8' (or what could be said of it)."""
    if not env:
        return "broker version not recorded"
    product = env.get("broker_product") or "RabbitMQ"
    erlang = f" on Erlang {env['erlang']}" if env.get("erlang") else ""
    return f"{product} {env.get('rabbitmq') or '?'}{erlang}"
