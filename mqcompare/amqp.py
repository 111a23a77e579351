"""A minimal AMQP 0-9-1 client, for what the core itself asks of a broker with no client
library (docs/architecture.md, "Brokers"): the server's properties (its product and
version, sent before any login) and the administration of the run's queues, which is not
under test (declare, count, delete). Blocking, one channel, no heartbeats, no content."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = 0xCE
CONNECTION_CLOSE, CHANNEL_CLOSE = (10, 50), (20, 40)


class NotAmqp(ValueError):
    """The peer did not speak AMQP 0-9-1 as expected (or closed the connection)."""


class Closed(Exception):
    """The broker closed the connection or channel: its reply code and text."""

    def __init__(self, code: int, text: str, channel: bool) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text, self.channel = code, text, channel


class Connection:
    """One connection: `server` holds the server properties as soon as it is made;
    `login()` completes the handshake; `call()` sends a method on channel 1 and returns
    the reply's arguments."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.parts = urlsplit(url.split(";")[0])
        self.host, self.port = self.parts.hostname or "localhost", self.parts.port or 5672
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.channel_open = False
        try:
            self.sock.sendall(PROTOCOL_HEADER)
            start = self._expect(0, (10, 10), "Connection.Start")
            self.server, _ = read_table(start, 2)  # after version major.minor
        except BaseException:
            self.sock.close()
            raise

    def login(self) -> None:
        """Start-Ok (PLAIN), Tune-Ok, Open: Closed(403) for refused credentials (the broker
        says so: we ask it to, with authentication_failure_close), Closed(530) for a vhost
        it does not let us in."""
        user = unquote(self.parts.username or "guest")
        password = unquote(self.parts.password or "guest")
        client = table(
            {"product": "mqcompare", "capabilities": {"authentication_failure_close": True}}
        )
        response = f"\0{user}\0{password}".encode()
        self._send(0, (10, 11), client + shortstr("PLAIN") + longstr(response) + shortstr("en_US"))
        tune = self._expect(0, (10, 30), "Connection.Tune")
        channel_max, frame_max, _heartbeat = struct.unpack(">HIH", tune[:8])
        self._send(0, (10, 31), struct.pack(">HIH", channel_max, frame_max, 0))
        vhost = unquote(self.parts.path[1:]) if len(self.parts.path) > 1 else "/"
        self._send(0, (10, 40), shortstr(vhost) + shortstr("") + b"\0")
        self._expect(0, (10, 41), "Connection.Open-Ok")

    def call(self, method: tuple[int, int], args: bytes, reply: tuple[int, int]) -> bytes:
        """Send `method` on channel 1 (opened first if need be); the reply's arguments.
        Closed if the broker closes the channel instead (the channel is then reopened
        on the next call)."""
        return self.call_any(method, args, (reply,))[1]

    def call_any(
        self, method: tuple[int, int], args: bytes, replies: tuple[tuple[int, int], ...]
    ) -> tuple[tuple[int, int], bytes]:
        """As `call`, for a method with several possible replies: (which, its arguments)."""
        if not self.channel_open:
            self._send(1, (20, 10), shortstr(""))
            self._expect(1, (20, 11), "Channel.Open-Ok")
            self.channel_open = True
        self._send(1, method, args)
        return self._expect_any(1, replies, " or ".join(f"method {a}.{b}" for a, b in replies))

    def content(self) -> tuple[dict[str, Any], bytes]:
        """The content header and body frames that follow a Basic.Get-Ok: the message's
        properties it has up to message-id, and its body."""
        kind, _, header = self._frame()
        if kind != 2:
            raise NotAmqp(f"frame type {kind}, not a content header")
        size, flags = struct.unpack_from(">QH", header, 4)
        props: dict[str, Any] = {}
        at = 14
        for bit, name, reader in _PROPERTIES:
            if flags & (1 << bit):
                props[name], at = reader(header, at)
        body = b""
        while len(body) < size:
            kind, _, chunk = self._frame()
            if kind == 3:
                body += chunk
        return props, body

    def close(self) -> None:
        """Connection.Close and its Close-Ok, then the socket (never raises)."""
        with contextlib.suppress(OSError, NotAmqp, Closed, struct.error):
            self._send(0, CONNECTION_CLOSE, struct.pack(">H", 200) + shortstr("") + b"\0" * 4)
            self._expect(0, (10, 51), "Connection.Close-Ok")
        self.sock.close()

    # -- frames ------------------------------------------------------------------------
    def _send(self, channel: int, method: tuple[int, int], args: bytes) -> None:
        payload = struct.pack(">HH", *method) + args
        self.sock.sendall(struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce")

    def _expect(self, channel: int, want: tuple[int, int], name: str) -> bytes:
        return self._expect_any(channel, (want,), name)[1]

    def _expect_any(
        self, channel: int, wants: tuple[tuple[int, int], ...], name: str
    ) -> tuple[tuple[int, int], bytes]:
        """The next method frame of `channel`, which must be one of `wants`: which, and its
        arguments; heartbeats and frames of other channels are skipped; a Close from the
        broker is raised."""
        while True:
            kind, on, payload = self._frame()
            if kind != 1:
                continue
            got = struct.unpack(">HH", payload[:4])
            if got in (CONNECTION_CLOSE, CHANNEL_CLOSE):
                self._closed(on, got, payload[4:])
            if on == channel and got in wants:
                return got, payload[4:]
            if on == channel:
                raise NotAmqp(f"method {got[0]}.{got[1]}, not {name}")

    def _closed(self, channel: int, method: tuple[int, int], args: bytes) -> None:
        (code,) = struct.unpack_from(">H", args)
        text = args[3 : 3 + args[2]].decode("utf-8", "replace")
        if method == CHANNEL_CLOSE:
            self._send(channel, (20, 41), b"")  # Close-Ok: the channel can be opened again
            self.channel_open = False
            raise Closed(code, text, channel=True)
        self._send(0, (10, 51), b"")
        raise Closed(code, text, channel=False)

    def _frame(self) -> tuple[int, int, bytes]:
        kind, channel, size = struct.unpack(">BHI", self._read(7))
        if size > 1 << 20:
            raise NotAmqp(f"frame type {kind}, size {size}")
        payload = self._read(size + 1)
        if payload[-1] != FRAME_END:
            raise NotAmqp("no frame end")
        return kind, channel, payload[:-1]

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise NotAmqp("the broker closed the connection")
            data += chunk
        return data


# -- the wire's types ---------------------------------------------------------------------
def shortstr(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return bytes([len(raw)]) + raw


def longstr(raw: bytes) -> bytes:
    return struct.pack(">I", len(raw)) + raw


def table(values: dict[str, Any]) -> bytes:
    """A field table of str, bool, int and nested tables (what queue arguments hold)."""
    body = b""
    for name, value in values.items():
        body += shortstr(name)
        if isinstance(value, bool):
            body += b"t" + bytes([value])
        elif isinstance(value, int):
            body += b"l" + struct.pack(">q", value)
        elif isinstance(value, dict):
            body += b"F" + table(value)
        else:
            body += b"S" + longstr(str(value).encode())
    return longstr(body)


# field-table value types: struct format, or a reader below
_FIXED = {
    "t": ">B", "b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I",
    "l": ">q", "L": ">Q", "f": ">f", "d": ">d", "T": ">Q",
}  # fmt: skip


def read_table(buf: bytes, at: int) -> tuple[dict[str, Any], int]:
    (size,) = struct.unpack_from(">I", buf, at)
    at += 4
    end = at + size
    found: dict[str, Any] = {}
    while at < end:
        n = buf[at]
        name = buf[at + 1 : at + 1 + n].decode("utf-8", "replace")
        value, at = _value(buf, at + 1 + n)
        found[name] = value
    return found, end


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
        return read_table(buf, at)
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


def _shortstr_at(buf: bytes, at: int) -> tuple[str, int]:
    n = buf[at]
    return buf[at + 1 : at + 1 + n].decode("utf-8", "replace"), at + 1 + n


def _octet_at(buf: bytes, at: int) -> tuple[int, int]:
    return buf[at], at + 1


# Basic's content properties in wire order, up to message-id: (flag bit, name, reader)
_PROPERTIES: tuple[tuple[int, str, Callable[[bytes, int], tuple[Any, int]]], ...] = (
    (15, "content_type", _shortstr_at),
    (14, "content_encoding", _shortstr_at),
    (13, "headers", read_table),
    (12, "delivery_mode", _octet_at),
    (11, "priority", _octet_at),
    (10, "correlation_id", _shortstr_at),
    (9, "reply_to", _shortstr_at),
    (8, "expiration", _shortstr_at),
    (7, "message_id", _shortstr_at),
)


def server_properties(url: str, timeout: float = 3.0) -> dict[str, Any]:
    """The server-properties table of the broker at `url` (OSError, NotAmqp). The
    connection is then opened and closed with the handshake, as any client's, so that the
    broker logs no dropped connection (a run's broker.log is read for those)."""
    conn = Connection(url, timeout)
    try:
        with contextlib.suppress(OSError, NotAmqp, Closed, struct.error):
            conn.login()
    finally:
        conn.close()
    return conn.server


def broker_versions(url: str) -> dict[str, str]:
    """{'product': 'RabbitMQ', 'version': '3.10.8', 'rabbitmq': '3.10.8', 'erlang':
    '25.3.2.8'} as the broker says; {'error': why} when it cannot be asked (never raises)."""
    try:
        props = server_properties(url)
    except (OSError, NotAmqp, struct.error, IndexError) as exc:
        where = urlsplit(url.split(";")[0])
        return {"error": f"{where.hostname}:{where.port}: {exc or type(exc).__name__}"}
    product = str(props.get("product", ""))
    version = str(props.get("version", ""))
    found = {"product": product, "version": version, "rabbitmq": version}
    platform_text = str(props.get("platform", ""))  # "Erlang/OTP 25.3.2.8"
    if platform_text:
        found["erlang"] = platform_text.split("/OTP", 1)[-1].strip() or platform_text
    return found
