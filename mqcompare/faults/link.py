"""Faults of the link between the clients and the broker (docs/architecture.md, "Faults"):
blackhole, delay, loss and reset, on the run's own endpoints only: a node's loopback
address and port as it offers them (`Listens.endpoint`), so that the machine's broker and
every other service are never touched.

- blackhole: nftables drops every packet to and from the endpoint, both ways, at input:
  connections stay half-open, as when a NAT or a load balancer forgets them; down once a
  probe's connect gets no answer;
- delay: every packet to and from the endpoint is queued (NFQUEUE) and held MS ms by a
  helper process (mqcompare.faults.nfqueue: this kernel has no netem); down once a probe's
  connect takes at least MS ms;
- loss: nftables drops PCT % of those packets at random; down once its counter shows the
  first packet dropped, and the share dropped is noted;
- reset: every established connection of the endpoint is destroyed on the broker's side
  (`ss -K`), so the kernel sends each client a TCP RST; down once one was.

Each fault's rules and helper are told to a guardian of their own (removed if mqcompare
dies), and removed by the fault itself when its time is over or it fails."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from mqcompare.brokers.capabilities import Listens
from mqcompare.brokers.clustered import nft, nft_script
from mqcompare.brokers.guardian import Guardian
from mqcompare.errors import InfrastructureError
from mqcompare.faults.kind import NODE_TARGETS, Context, Evidence, Fault, FaultKind, Param
from mqcompare.faults.strike import on_nodes
from mqcompare.observe import PhaseLog
from mqcompare.result import FaultSpan

PROBE_S = 1.0  # a connect unanswered this long went into the blackhole
_serial = itertools.count(1)  # tells apart the tables and chains of one process


# -- grammar ---------------------------------------------------------------------------
def _ms(text: str) -> str:
    """'200ms', '0.2s' or '200ms~50ms' (MS, then up to ~JITTER more) as '200ms[~50ms]'."""
    delay, _, jitter = text.partition("~")
    parts = [_millis(delay)] + ([_millis(jitter)] if jitter else [])
    if parts[0] <= 0:
        raise ValueError(f"{text!r}: the delay must be above 0 ms")
    return "~".join(f"{p:g}ms" for p in parts)


def _millis(text: str) -> float:
    text = text.strip()
    try:
        if text.endswith("ms"):
            return float(text[:-2])
        return float(text.removesuffix("s")) * 1000.0
    except ValueError:
        raise ValueError(f"{text!r} is not a delay; use e.g. 200ms or 200ms~50ms") from None


def _pct(text: str) -> str:
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise ValueError(f"{text!r} is not a share; use e.g. 5% (1% to 100%)") from None
    if not 1 <= value <= 100 or value != int(value):
        raise ValueError(f"{text!r}: a whole share from 1% to 100%")
    return f"{int(value)}%"


def delay_ms(fault: Fault) -> tuple[float, float]:
    """The delay and jitter a delay fault's MS says, in ms."""
    delay, _, jitter = fault.params[0].removesuffix("ms").partition("ms~")
    return float(delay), float(jitter or 0)


# -- what the machine needs ------------------------------------------------------------
def link_unmet() -> str:
    """What this machine lacks to impair a link ('' when nothing)."""
    if os.geteuid() != 0:
        return "impairing a link needs root (nftables rules, ss -K)"
    if shutil.which("nft") is None:
        return "nft is not installed (apt-get install -y nftables)"
    return ""


def reset_unmet() -> str:
    if os.geteuid() != 0:
        return "resetting connections needs root (ss -K)"
    return "" if shutil.which("ss") else "ss is not installed (apt-get install -y iproute2)"


def delay_unmet() -> str:
    if os.geteuid() != 0:
        return "delaying packets needs root (iptables NFQUEUE rules)"
    if shutil.which("iptables") is None:
        return "iptables is not installed (apt-get install -y iptables)"
    if not os.path.exists("/proc/net/netfilter/nfnetlink_queue"):
        return "this kernel has no nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE)"
    return ""


# -- probes ----------------------------------------------------------------------------
def connect_s(endpoint: tuple[str, int], timeout: float) -> float | None:
    """Seconds a TCP connect to `endpoint` took (a refusal answers too), None if nothing
    answered within `timeout`."""
    start = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(endpoint)
        except ConnectionRefusedError:
            pass
        except OSError:
            return None
    return time.monotonic() - start


def _ports(endpoint: tuple[str, int]) -> list[str]:
    """Both ways of the link, as nftables matches: to the endpoint, and from it."""
    addr, port = endpoint
    return [f"ip daddr {addr} tcp dport {port}", f"ip saddr {addr} tcp sport {port}"]


# -- rules, guarded --------------------------------------------------------------------
@contextlib.contextmanager
def guarded(undo: list[list[str]], pids: tuple[int, ...] = (),
            then: Callable[[], None] = lambda: None) -> Iterator[None]:  # fmt: skip
    """A guardian told how to undo what the block sets up, and which helper processes to
    kill; the block's own exit undoes it, `then` stops the helpers, and the guardian is
    released (it ends)."""
    guardian = Guardian.start()
    ident = f"link-{os.getpid()}-{next(_serial)}"
    guardian.tell(ident, undo=undo, pgids=list(pids))
    try:
        yield
    finally:
        for argv in undo:
            with contextlib.suppress(Exception):
                subprocess.run(argv, capture_output=True, timeout=10)
        then()
        guardian.release(ident)


@contextlib.contextmanager
def nft_rules(rules: list[str]) -> Iterator[str]:
    """An nftables table of its own holding `rules` at input, for the block."""
    table = f"mqcompare_link_{os.getpid()}_{next(_serial)}"
    with guarded([["nft", "delete", "table", "inet", table]]):
        nft(["-f", "-"], nft_script(table, rules))
        yield table


def counters(table: str) -> list[int]:
    """The packets each counter of the table's rules counted, in rule order."""
    import json

    done = subprocess.run(
        ["nft", "-j", "list", "table", "inet", table], capture_output=True, timeout=10
    )
    found: list[int] = []
    for item in json.loads(done.stdout or b"{}").get("nftables", []):
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                found.append(int(expr["counter"]["packets"]))
    return found


def _hold(since: float, duration: float) -> None:
    left = since + duration - time.time()
    if left > 0:
        time.sleep(left)


def _watch_clear(log: PhaseLog, endpoint: tuple[str, int], fast: float) -> None:
    """`up` once a probe's connect answers within `fast` s again."""

    def clear() -> bool:
        took = connect_s(endpoint, PROBE_S)
        return took is not None and took < fast

    log.watch_up(clear, 30.0, "a probe still got no quick answer 30 s after the rules went")


# -- the faults ------------------------------------------------------------------------
def _blackhole_node(fault: Fault, node: Any, log: PhaseLog) -> None:
    endpoint = node.endpoint
    with nft_rules([f"{m} counter drop" for m in _ports(endpoint)]) as table:
        t = time.time()
        if connect_s(endpoint, PROBE_S) is not None:
            log.note(f"a probe still reached {_at(endpoint)} through the rules: nothing cut")
            return
        log.down(t, struck=f"{_at(endpoint)}: every packet dropped both ways (a probe got "
                 f"no answer in {PROBE_S:g} s)")  # fmt: skip
        _hold(t, fault.down)
        log.note(f"{_at(endpoint)}: {sum(counters(table))} packets dropped")
    _watch_clear(log, endpoint, PROBE_S)


def _loss_node(fault: Fault, node: Any, log: PhaseLog) -> None:
    endpoint, pct = node.endpoint, int(fault.params[0].rstrip("%"))
    rules = [r for m in _ports(endpoint) for r in (f"{m} counter",
             f"{m} numgen random mod 100 < {pct} counter drop")]  # fmt: skip
    with nft_rules(rules) as table:
        t, seen = time.time(), False
        while time.time() < t + fault.down:
            counted = counters(table)
            if not seen and any(counted[1::2]):
                seen = True
                log.down(time.time(), struck=f"{_at(endpoint)}: {pct} % of packets dropped")
            time.sleep(0.1)
        counted = counters(table)
        total, dropped = sum(counted[0::2]), sum(counted[1::2])
    if not seen:
        log.note(f"{_at(endpoint)}: {total} packets crossed the link, none was dropped")
        return
    log.note(f"{_at(endpoint)}: {dropped} of {total} packets dropped "
             f"({100.0 * dropped / max(total, 1):.1f} %)")  # fmt: skip
    log.up(time.time())


def _delay_node(fault: Fault, node: Any, log: PhaseLog) -> None:
    endpoint = node.endpoint
    delay, jitter = delay_ms(fault)
    chain = f"MQC-{os.getpid()}-{next(_serial)}"[:28]
    helper = _start_holder(delay, jitter)
    mangle = ["iptables", "-t", "mangle"]
    undo = [[*mangle, "-D", "INPUT", "-j", chain], [*mangle, "-F", chain], [*mangle, "-X", chain],
            [sys.executable, "-m", "mqcompare.faults.nfqueue", "--tidy"]]  # fmt: skip
    with guarded(undo, (helper.pid,), then=helper.stop):
        _iptables(["-N", chain])
        addr, port = endpoint
        queue = ["-j", "NFQUEUE", "--queue-num", str(helper.queue), "--queue-bypass"]
        _iptables(["-A", chain, "-d", addr, "-p", "tcp", "--dport", str(port), *queue])
        _iptables(["-A", chain, "-s", addr, "-p", "tcp", "--sport", str(port), *queue])
        _iptables(["-I", "INPUT", "-j", chain])
        t = time.time()
        took = connect_s(endpoint, 2 * delay / 1000.0 + 5.0)
        if took is None or took * 1000.0 < delay:
            seen = "no answer" if took is None else f"{took * 1000:.0f} ms"
            log.note(f"a probe's connect to {_at(endpoint)} took {seen}: not delayed")
            return
        log.down(t, struck=f"{_at(endpoint)}: every packet held {fault.params[0]} (a "
                 f"probe's connect took {took * 1000:.0f} ms)")  # fmt: skip
        _hold(t, fault.down)
    _watch_clear(log, endpoint, max(delay / 2000.0, 0.05))


def _reset_node(fault: Fault, node: Any, log: PhaseLog) -> None:
    del fault
    addr, port = node.endpoint
    t = time.time()  # the resets go out while ss runs: the clients may notice before it returns
    done = subprocess.run(
        ["ss", "-K", "-tnH", "state", "established", "src", f"{addr}:{port}"],
        capture_output=True, timeout=10,
    )  # fmt: skip
    if done.returncode != 0:
        raise InfrastructureError(f"ss -K: {done.stderr.decode().strip()}")
    count = len([line for line in done.stdout.decode().splitlines() if line.strip()])
    if count == 0:
        log.note(f"no client connection to {_at((addr, port))} was open: nothing was reset")
        return
    log.down(t, struck=f"{count} connection{'s' if count != 1 else ''} reset", connections=count)
    log.up(t)


def _at(endpoint: tuple[str, int]) -> str:
    return f"{endpoint[0]}:{endpoint[1]}"


# -- the delay's helper ----------------------------------------------------------------
class _Holder:
    """The helper process that holds queued packets (mqcompare.faults.nfqueue), bound to a
    queue number no other process holds."""

    def __init__(self, proc: subprocess.Popen[bytes], queue: int) -> None:
        self.proc, self.queue, self.pid = proc, queue, proc.pid

    def stop(self) -> None:
        """After its rules are gone: it lets what it holds go, and exits."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _start_holder(delay: float, jitter: float) -> _Holder:
    last = ""
    for _ in range(5):
        queue = random.randrange(1000, 65000)
        proc = subprocess.Popen(
            [sys.executable, "-m", "mqcompare.faults.nfqueue", str(queue), f"{delay:g}",
             f"{jitter:g}"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        line = _first_line(proc, 15.0)
        if line == "bound":
            return _Holder(proc, queue)
        last = line or "no answer in 15 s"
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)
    raise InfrastructureError(f"--fault delay: no NFQUEUE queue could be bound ({last})")


def _first_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return box[0].decode().strip() if box else ""


def _iptables(args: list[str]) -> None:
    done = subprocess.run(["iptables", "-t", "mangle", *args], capture_output=True, timeout=10)
    if done.returncode != 0:
        raise InfrastructureError(f"iptables {' '.join(args)}: {done.stderr.decode().strip()}")


# -- what the checker adds --------------------------------------------------------------
def _rate_while_impaired(span: FaultSpan, evidence: Evidence) -> None:
    """`publish_per_s`: publishes acknowledged while the link was impaired, per second.
    A run's own rate mixes in what went before and after (a producer's first burst, before
    the rules were in place, can outweigh a slow link's whole window)."""
    down, up = span.get("down_s"), span.get("up_s")
    if down is None or up is None or up <= down:
        return
    lo, hi = evidence.base + down, evidence.base + up
    acknowledged = sum(1 for t in evidence.oks if lo <= t <= hi)
    span["publish_per_s"] = round(acknowledged / (up - down), 1)


# -- the registry's entries ------------------------------------------------------------
def _on_links(act: Callable[[Fault, Any, PhaseLog], None]) -> Callable[..., None]:
    def perform(fault: Fault, ctx: Context, log: PhaseLog) -> None:
        kind = {k.name: k for k in KINDS}[fault.kind]
        on_nodes(kind, ctx, log, fault.target or "all", lambda n, lg: act(fault, n, lg))

    return perform


def _link_kind(name: str, example: str, text: str, act: Callable[[Fault, Any, PhaseLog], None],
               verb: str, unmet: Callable[[], str], down: Any = "required",
               params: tuple[Param, ...] = ()) -> FaultKind:  # fmt: skip
    analyse = _rate_while_impaired if down == "required" else None
    return FaultKind(
        name, example, text, "broker", _on_links(act), down, NODE_TARGETS, nodes=True,
        needs=Listens, verb=verb, params=params, unmet=unmet, analyse=analyse,
    )  # fmt: skip


BLACKHOLE = _link_kind(
    "blackhole", "blackhole@1s:6s", "drop every packet to and from the broker for DUR s "
    "(half-open connections)", _blackhole_node, "cut off", link_unmet,
)  # fmt: skip
DELAY = _link_kind(
    "delay", "delay@1s:4s:200ms", "hold every packet to and from the broker MS ms "
    "(MS~JITTER: up to JITTER more) for DUR s", _delay_node, "delayed", delay_unmet,
    params=(Param("MS", _ms),),
)  # fmt: skip
LOSS = _link_kind(
    "loss", "loss@6s:3s:20%", "drop PCT % of the packets to and from the broker for DUR s",
    _loss_node, "made to lose packets", link_unmet, params=(Param("PCT", _pct),),
)  # fmt: skip
RESET = _link_kind(
    "reset", "reset@2s", "reset every client connection (TCP RST)", _reset_node,
    "made to reset connections", reset_unmet, down="none",
)  # fmt: skip
KINDS = (BLACKHOLE, DELAY, LOSS, RESET)
