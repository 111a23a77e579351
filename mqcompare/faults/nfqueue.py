"""`python -m mqcompare.faults.nfqueue QUEUE MS [JITTER_MS]`: holds every packet that
netfilter queues on NFQUEUE number QUEUE for MS milliseconds (plus up to JITTER_MS more,
never reordering), then lets it go: the delay fault's added latency.

Why not `tc netem`: the kernels of this machine kind are built without it (no
CONFIG_NET_SCH_NETEM, no sch_fq for timestamps), while nfnetlink_queue is built in. Why
hand-written netlink: no library at hand speaks nfnetlink_queue without compiling
libnetfilter_queue; the three messages needed are a few lines of `struct`.

It prints `bound` once the queue is its own, and on SIGTERM lets every held packet go
at once and exits: the rules that feed it are removed first (mqcompare.faults.link).

`python -m mqcompare.faults.nfqueue --tidy` removes the table iptables made for those
rules (`ip mangle`) if no rule is left in it: iptables leaves it behind, empty."""

from __future__ import annotations

import collections
import json
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
MSG_PACKET, MSG_CONFIG, MSG_VERDICT_BATCH = 0, 2, 3
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
CFG_CMD, CFG_PARAMS, CFG_QUEUE_MAXLEN, CFG_MASK, CFG_FLAGS = 1, 2, 3, 4, 5
CMD_BIND = 1
COPY_META = 1  # the packet's id is all we need: none of its bytes are copied to us
CFG_F_GSO = 4  # take loopback's large segments whole rather than have them split for us
PACKET_HDR, VERDICT_HDR = 1, 2
NF_ACCEPT = 1
MAXLEN = 65536  # packets held at once: a 200 ms delay at loopback's pace stays far below


class Queue:
    def __init__(self, number: int) -> None:
        self.number = number
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.seq = 0

    def send(self, msg_type: int, attrs: list[bytes], flags: int = NLM_F_REQUEST) -> None:
        self.seq += 1
        body = struct.pack("BBH", socket.AF_UNSPEC, 0, socket.htons(self.number)) + b"".join(attrs)
        kind = (NFNL_SUBSYS_QUEUE << 8) | msg_type
        self.sock.send(struct.pack("IHHII", 16 + len(body), kind, flags, self.seq, 0) + body)

    def configure(self, attrs: list[bytes]) -> None:
        """One config message, acknowledged: OSError if the kernel refused it (EBUSY: the
        queue is another process's)."""
        self.send(MSG_CONFIG, attrs, NLM_F_REQUEST | NLM_F_ACK)
        self.sock.settimeout(5.0)
        data = self.sock.recv(1 << 16)
        _length, kind, _flags, _seq, _pid = struct.unpack_from("IHHII", data)
        if kind == NLMSG_ERROR:
            err = struct.unpack_from("i", data, 16)[0]
            if err:
                raise OSError(-err, f"NFQUEUE {self.number}: the kernel refused its config")

    def bind(self) -> None:
        self.configure([_attr(CFG_CMD, struct.pack("BxH", CMD_BIND, 0))])
        self.configure(
            [
                _attr(CFG_PARAMS, struct.pack(">IB", 0, COPY_META)),
                _attr(CFG_QUEUE_MAXLEN, struct.pack(">I", MAXLEN)),
                _attr(CFG_FLAGS, struct.pack(">I", CFG_F_GSO)),
                _attr(CFG_MASK, struct.pack(">I", CFG_F_GSO)),
            ]
        )
        self.sock.setblocking(False)  # from now on select() says when packets wait

    def packet_ids(self) -> list[int]:
        """The ids of the packets the kernel queued since the last call (none waiting: [])."""
        ids: list[int] = []
        try:
            data = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return ids
        off = 0
        while off + 16 <= len(data):
            length, kind, _flags, _seq, _pid = struct.unpack_from("IHHII", data, off)
            if kind & 0xFF == MSG_PACKET and kind >> 8 == NFNL_SUBSYS_QUEUE:
                a = off + 20  # after the netlink and nfgen headers
                while a + 4 <= off + length:
                    alen, atype = struct.unpack_from("HH", data, a)
                    if atype & 0x7FFF == PACKET_HDR:
                        ids.append(struct.unpack_from(">I", data, a + 4)[0])
                    a += (alen + 3) & ~3
            off += (length + 3) & ~3 if length else len(data)
        return ids

    def accept_through(self, packet_id: int) -> None:
        """Let go every held packet up to `packet_id` (the kernel numbers them in order)."""
        self.send(MSG_VERDICT_BATCH, [_attr(VERDICT_HDR, struct.pack(">II", NF_ACCEPT, packet_id))])


def _attr(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("HH", length, kind) + data + b"\0" * (-length % 4)


def hold(queue: Queue, delay_s: float, jitter_s: float, stop: list[bool]) -> None:
    held: collections.deque[tuple[float, int]] = collections.deque()
    last_due = 0.0
    while not stop[0]:
        now = time.monotonic()
        timeout = max(0.0, held[0][0] - now) if held else 0.05
        select.select([queue.sock], [], [], min(timeout, 0.05))
        now = time.monotonic()
        for packet_id in queue.packet_ids():
            # jitter never reorders: a packet goes no sooner than the one before it
            last_due = max(last_due, now + delay_s + random.uniform(0.0, jitter_s))
            held.append((last_due, packet_id))
        due = None
        while held and held[0][0] <= now:
            due = held.popleft()[1]
        if due is not None:
            queue.accept_through(due)
    if held:
        queue.accept_through(held[-1][1])


def tidy() -> None:
    """Remove iptables' `ip mangle` table if it holds no rule and no chain of its own
    (nothing of anyone's)."""
    done = subprocess.run(
        ["nft", "-j", "list", "table", "ip", "mangle"], capture_output=True, timeout=10
    )
    if done.returncode != 0:
        return  # no such table
    items = json.loads(done.stdout or b"{}").get("nftables", [])
    chains = [item["chain"] for item in items if "chain" in item]
    if not any("rule" in item for item in items) and all("hook" in c for c in chains):
        subprocess.run(["nft", "delete", "table", "ip", "mangle"], capture_output=True, timeout=10)


def main(argv: list[str]) -> int:
    if argv == ["--tidy"]:
        tidy()
        return 0
    number, delay_ms = int(argv[0]), float(argv[1])
    jitter_ms = float(argv[2]) if len(argv) > 2 else 0.0
    stop = [False]

    def on_term(_sig: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # mqcompare's Ctrl-C: it stops us itself
    queue = Queue(number)
    try:
        queue.bind()
    except OSError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    print("bound", flush=True)
    hold(queue, delay_ms / 1000.0, jitter_ms / 1000.0, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
