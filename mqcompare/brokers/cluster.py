"""LocalCluster: N private RabbitMQ nodes joined into one cluster, and the faults that
strike one node of it, or cut the network between them.

Each node listens on its own loopback address (127.X.Y.1 .. 127.X.Y.N, a block picked
per cluster) and its own ports, registered with an epmd of the cluster's own (its own
port, so the machine's epmd and broker are never involved). A node's connections to the
others leave from its address, and so do its clients' (mqcompare.placement), so a
partition is a set of nftables rules on those addresses that drop what one side sends
the other: inter-node traffic *and* the clients on the cut-off side, nothing else.

The cluster is stopped by the code that started it: every node, the epmd and any
partition table, also when mqcompare is killed (the guardian is told of each)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import asdict
from pathlib import Path

from mqcompare.brokers.base import UP_TIMEOUT_S, BrokerControl
from mqcompare.brokers.guardian import Guardian
from mqcompare.brokers.node import NET_TICKTIME_S, LocalNode, NodeState, parse_queue_list
from mqcompare.brokers.ports import free_port, port_open, state_dir
from mqcompare.errors import BadInput, BrokerNotBack, InfrastructureError
from mqcompare.files import write_json
from mqcompare.observe import PhaseLog, pid_alive, wait_for
from mqcompare.units import redact_url

# how the nodes of a cluster handle a partition (RabbitMQ's cluster_partition_handling)
PARTITION_HANDLING = ("pause_minority", "autoheal", "ignore")
# how a partition cuts the nodes (Jepsen's shapes)
PARTITION_SHAPES = ("halves", "random-halves", "random-node", "majorities-ring", "leader")
CUT_PROBE_S = 0.3  # a connect that gets no answer within this is cut (loopback: < 1 ms)


def _leader_expr(queue: str) -> str:
    """Erlang: the node that leads `queue` (a quorum queue's Raft leader, a classic or
    mirrored queue's home), or none."""
    name = queue.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'case rabbit_amqqueue:lookup(rabbit_misc:r(<<"/">>, queue, <<"{name}">>)) of '
        "{ok, Q} -> case amqqueue:get_pid(Q) of {_, N} -> N; P when is_pid(P) -> node(P); "
        "_ -> none end; _ -> none end."
    )


RUNNING_EXPR = "{rabbit:is_running(), length(rabbit_nodes:all_running()), " + (
    "rabbit_node_monitor:partitions()}."
)


def shape_grudge(shape: str, n: int, leader: int) -> tuple[dict[int, set[int]], str]:
    """Which nodes each node stops hearing (index -> sources it drops), for one of
    Jepsen's partition shapes, and the shape in words. `leader` is the index of the
    queue's leader (for the `leader` shape)."""
    nodes = list(range(n))
    if shape in ("halves", "random-halves"):
        if shape == "random-halves":
            random.shuffle(nodes)
        small, large = nodes[: n // 2], nodes[n // 2 :]
        return _cut(small, large), f"{_names(small)} | {_names(large)}"
    if shape in ("random-node", "leader"):
        alone = leader if shape == "leader" else random.choice(nodes)
        rest = [i for i in nodes if i != alone]
        return _cut([alone], rest), f"{_names([alone])} | {_names(rest)}"
    if shape == "majorities-ring":
        # every node hears a majority (itself and its ring neighbours), no two the same one
        random.shuffle(nodes)
        m = n // 2 + 1
        grudge: dict[int, set[int]] = {}
        for pos, node in enumerate(nodes):
            heard = {nodes[(pos + k) % n] for k in range(-((m - 1) // 2), m - (m - 1) // 2)}
            grudge[node] = set(nodes) - heard
        ring = "-".join(f"node{i + 1}" for i in nodes)
        return grudge, f"ring {ring}, each hears a majority"
    raise BadInput("--fault", f"unknown partition shape {shape!r}")


def _cut(a: list[int], b: list[int]) -> dict[int, set[int]]:
    grudge = {i: set(b) for i in a}
    grudge.update({i: set(a) for i in b})
    return grudge


def _names(indexes: list[int]) -> str:
    return ",".join(f"node{i + 1}" for i in sorted(indexes))


class LocalCluster(BrokerControl):
    """N private nodes in one cluster (see the module's docstring)."""

    def __init__(
        self,
        nodes: list[LocalNode],
        epmd: subprocess.Popen[bytes] | None,
        guardian: Guardian | None,
        handling: str,
    ) -> None:
        self.nodes = nodes
        self.epmd = epmd
        self.guardian = guardian
        self.handling = handling
        self.owned = True
        self.url = ";".join(node.url for node in nodes)
        self.addresses = tuple(node.state.host for node in nodes)
        self._table = ""  # the nftables table of a partition in place
        self.keep = False
        self.epmd_pid = 0  # a kept cluster's epmd, found by its pid

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    def start_new(
        cls, n: int, handling: str = "pause_minority", keep: bool = False
    ) -> LocalCluster:
        """Boot n nodes and join them. `keep`: for `broker up --cluster N`, left running
        (and described in the state directory) for later runs; else guarded."""
        if not 2 <= n <= 7:
            raise BadInput("--cluster", f"a cluster is 2 to 7 nodes, got {n}")
        if handling not in PARTITION_HANDLING:
            raise BadInput(
                "--partition-handling",
                f"{handling!r} is not one of {', '.join(PARTITION_HANDLING)}",
            )
        epmd_bin = shutil.which("epmd")
        if not LocalNode.installed() or epmd_bin is None:
            raise InfrastructureError(
                "rabbitmq-server is not installed: apt-get install -y rabbitmq-server"
            )
        block = _free_block(n)
        guardian = None if keep else Guardian.start()
        cluster = cls([], None, guardian, handling)
        cluster.keep = keep
        try:
            epmd_port = cluster._start_epmd(epmd_bin, block)
            cluster.nodes = _boot_nodes(block, epmd_port, handling, guardian)
            cluster.url = ";".join(node.url for node in cluster.nodes)
            cluster.addresses = tuple(block)
            cluster._join()
            if keep:
                cluster._save()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start_epmd(self, epmd_bin: str, block: list[str]) -> int:
        """The cluster's own epmd, on a free port and the cluster's addresses; its port."""
        epmd_port = free_port()
        self.epmd = subprocess.Popen(
            [epmd_bin, "-port", str(epmd_port), "-address", ",".join(["127.0.0.1", *block])],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._guard("epmd", pgids=[self.epmd.pid])
        if wait_for(lambda: port_open("127.0.0.1", epmd_port), 10.0) is None:
            raise InfrastructureError(f"the cluster's epmd did not listen on {epmd_port}")
        return epmd_port

    def _guard(self, ident: str, **msg: object) -> None:
        """Tell the guardian (a kept cluster gets one for a partition's rules only)."""
        if self.guardian is None:
            if self.keep and "nft_table" not in msg:
                return
            self.guardian = Guardian.start()
        self.guardian.tell(ident, **msg)

    def _save(self) -> None:
        kept_cluster_file().parent.mkdir(parents=True, exist_ok=True)
        write_json(
            kept_cluster_file(),
            {
                "handling": self.handling,
                "epmd_pid": self.epmd.pid if self.epmd is not None else self.epmd_pid,
                "nodes": [asdict(node.state) for node in self.nodes],
            },
            indent=2,
        )

    def _join(self) -> None:
        """Nodes 2..N join node 1 (what `rabbitmqctl join_cluster` does), one at a time."""
        first = self.nodes[0].state.node
        for node in self.nodes[1:]:
            node.eval("rabbit:stop().")
            node.eval(f"rabbit_mnesia:join_cluster('{first}', disc).")
            node.eval("rabbit:start().", timeout=UP_TIMEOUT_S)
        if wait_for(self._whole, 60.0, poll=0.2) is None:
            raise InfrastructureError(
                f"the {len(self.nodes)} nodes did not form one cluster within 60 s; "
                f"see {self.nodes[0].state.dir}/log"
            )

    def _status(self, node: LocalNode) -> tuple[bool, int, bool] | None:
        """(running, nodes it sees running, partitions it saw), or None if it cannot say."""
        try:
            answer = node.eval(RUNNING_EXPR, timeout=5)
        except InfrastructureError:
            return None
        m = re.fullmatch(r"\{(true|false),(\d+),(.*)\}", answer.replace(" ", ""), flags=re.S)
        if not m:
            return None
        return m.group(1) == "true", int(m.group(2)), m.group(3) != "[]"

    def _whole(self) -> bool:
        """Every node runs, sees all the others running and remembers no partition."""
        n = len(self.nodes)
        for node in self.nodes:
            if not node.accepting():
                return False
            status = self._status(node)
            if status is None or status != (True, n, False):
                return False
        return True

    def stop(self) -> None:
        self.heal_network()
        threads = [threading.Thread(target=node.stop) for node in self.nodes]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if self.epmd is not None:
            with contextlib.suppress(ProcessLookupError):
                self.epmd.send_signal(signal.SIGKILL)
            self.epmd.wait()
        elif self.epmd_pid and pid_alive(self.epmd_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.epmd_pid, signal.SIGKILL)
        if self.guardian is not None:
            self.guardian.release("epmd", last=True)
            self.guardian = None
        if self.keep:
            with contextlib.suppress(FileNotFoundError):
                kept_cluster_file().unlink()

    def close(self) -> None:
        if self.owned and not self.keep:
            self.stop()
        else:
            self.heal_network()
            if self.guardian is not None:
                self.guardian.release("nft", last=True)
                self.guardian = None
            if self.keep:
                self._save()  # a killed node was booted again: its new pids

    # -- what a run asks of a broker ---------------------------------------------------
    @property
    def name(self) -> str:
        return f"the cluster of {len(self.nodes)} nodes"

    def kept_words(self) -> str:
        return self.describe()

    def describe(self) -> str:
        return (
            f"private cluster of {len(self.nodes)} nodes "
            f"({', '.join(f'{n.state.host}:{n.state.port}' for n in self.nodes)}), "
            f"{self.handling}"
        )

    @property
    def display_url(self) -> str:
        return ";".join(redact_url(url) for url in self.url.split(";"))

    @property
    def host_port(self) -> tuple[str, int]:
        first = self.nodes[0].state
        return first.host, first.port

    def check_reachable(self, timeout: float = 3.0) -> None:
        for node in self.nodes:
            if not port_open(node.state.host, node.state.port, timeout):
                raise InfrastructureError(
                    f"broker unreachable at {node.state.host}:{node.state.port}: "
                    f"node {node.state.node} does not accept connections"
                )

    def heal(self) -> None:
        """Every node serving and the cluster whole before a run."""
        self.heal_network()
        for node in self.nodes:
            node.heal()
        if wait_for(self._whole, 30.0, poll=0.2) is None:
            self._restart_partitioned()

    def set_policy(self, name: str, pattern: str, definition: dict[str, object]) -> None:
        self.nodes[0].set_policy(name, pattern, definition)

    def clear_policy(self, name: str) -> None:
        for node in self.nodes:
            if node.serving():
                node.clear_policy(name)
                return

    def queue_seen(self, queue: str) -> dict[str, str] | None:
        for node in self.nodes:
            with contextlib.suppress(InfrastructureError):
                out = node.ctl("list_queues", "-q", "--no-table-headers", "name", "type", "policy")
                seen = parse_queue_list(out, queue)
                if seen is not None:
                    leader = self.leader(queue)
                    seen["leader"] = f"node{leader + 1}" if leader is not None else ""
                return seen
        return None

    def leader(self, queue: str) -> int | None:
        """The index of the node that leads `queue` now, asked of the nodes that answer."""
        by_name = {node.state.node: i for i, node in enumerate(self.nodes)}
        for node in self.nodes:
            if not node.accepting():
                continue
            try:
                answer = node.eval(_leader_expr(queue), timeout=5).strip("'")
            except InfrastructureError:
                continue
            if answer in by_name:
                return by_name[answer]
        return None

    def node_urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def log_excerpt(self, since: float | None = None, lines: int = 400) -> str:
        parts = []
        for i, node in enumerate(self.nodes):
            text = node.log_excerpt(since, lines)
            if text:
                parts.append(f"==> node{i + 1} {node.state.node} <==\n{text}")
        return "\n".join(parts)

    def boot_output(self, lines: int = 200) -> str:
        return "\n".join(
            f"==> node{i + 1} <==\n{node.boot_output(lines)}" for i, node in enumerate(self.nodes)
        )

    # -- faults ------------------------------------------------------------------------
    def members(self) -> list[object]:
        return list(self.nodes)

    def nodes_for(self, target: str, queue: str) -> list[int]:
        """The node indexes a fault's TARGET names, now."""
        n = len(self.nodes)
        if target == "all":
            return list(range(n))
        if target == "random":
            return [random.randrange(n)]
        if target.startswith("node"):
            return [int(target[4:]) - 1]
        leader = self.leader(queue)
        if leader is None:
            raise InfrastructureError(f"no node could say which node leads {queue}")
        if target == "leader":
            return [leader]
        return [random.choice([i for i in range(n) if i != leader])]  # follower

    # -- partitions --------------------------------------------------------------------
    def partition(self, shape: str, down: float, log: PhaseLog, queue: str) -> None:
        """Cut the network as the shape says; `down` once a probe across the cut gets no
        answer; heal after `down` seconds; `up` once the cluster is whole again."""
        _need_nft()
        leader = self.leader(queue) if shape == "leader" else 0
        if leader is None:
            raise InfrastructureError(f"no node could say which node leads {queue}")
        grudge, words = shape_grudge(shape, len(self.nodes), leader)
        log.note(f"shape {shape}: {words}")
        table = f"mqcompare_{abs(hash((self.url, time.time()))) % 10**8}"
        rules = [
            f"ip saddr {self.addresses[src]} ip daddr {self.addresses[dst]} drop"
            for dst, sources in grudge.items()
            for src in sorted(sources)
        ]
        script = (
            f"table inet {table} {{\n chain input {{\n  type filter hook input priority -300;\n"
            + "".join(f"  {rule}\n" for rule in rules)
            + " }\n}\n"
        )
        self._guard("nft", nft_table=table)
        self._table = table
        _nft(["-f", "-"], script)
        dst, sources = next((d, s) for d, s in grudge.items() if s)
        src = min(sources)
        t_down = None
        for _ in range(10):  # a probe that gets no answer was cut when it was sent
            sent = time.time()
            if not self._reaches(src, dst):
                t_down = sent
                break
        if t_down is None:
            raise InfrastructureError(f"the partition rules are in place but {words} still talk")
        log.down(t_down, struck=words)
        time.sleep(max(0.0, t_down + down - time.time()))
        self.heal_network()
        if wait_for(lambda: self._reaches(src, dst), 5.0) is None:
            raise InfrastructureError("the partition's rules are gone but the cut remains")
        log.up(self._await_whole(log))

    def _await_whole(self, log: PhaseLog) -> float:
        """When the cluster was whole again after a heal, and stayed so for a net_ticktime
        (a node may notice a partition only after it healed: seen with 4 and 5 s cuts).
        A cluster that is not whole some seconds after the heal (nodes that remember a
        partition do not mend under pause_minority or ignore) has its ailing nodes
        restarted, as an operator would, then every node; each step is noted with what
        the nodes said."""
        n = len(self.nodes)
        healed = time.monotonic()
        deadline = healed + UP_TIMEOUT_S
        patience = 30.0 if self.handling == "autoheal" else 10.0  # autoheal mends itself
        since: float | None = None  # whole since then
        steps = 0
        while time.monotonic() < deadline:
            statuses = [self._status(node) for node in self.nodes]
            now = time.time()
            if all(s == (True, n, False) for s in statuses):
                since = since or now
                if now - since >= NET_TICKTIME_S:
                    return since
            else:
                since = None
                if steps < 2 and time.monotonic() - healed > patience:
                    ailing = [i for i, s in enumerate(statuses) if s != (True, n, False)]
                    if steps == 1:
                        ailing = list(range(n))
                    said = "; ".join(
                        f"node{i + 1}: " + _status_words(s, n) for i, s in enumerate(statuses)
                    )
                    log.note(
                        f"{time.monotonic() - healed:.0f} s after the heal the cluster is not "
                        f"whole ({said}): restarting " + ", ".join(f"node{i + 1}" for i in ailing)
                    )
                    for i in ailing:
                        self._restart(self.nodes[i])
                    steps += 1
                    healed, patience = time.monotonic(), 30.0
            time.sleep(0.2)
        raise BrokerNotBack("partition: the cluster was not whole again after the heal")

    @staticmethod
    def _restart(node: LocalNode) -> None:
        with contextlib.suppress(InfrastructureError):
            node.eval("rabbit:stop().")
        node.heal()

    def _reaches(self, src: int, dst: int) -> bool:
        """A TCP connect from node src's address to node dst's AMQP port is answered."""
        with socket.socket() as s:
            s.settimeout(CUT_PROBE_S)
            try:
                s.bind((self.addresses[src], 0))
                s.connect((self.addresses[dst], self.nodes[dst].state.port))
                return True
            except ConnectionRefusedError:
                return True  # answered: a node that is down is not a cut
            except OSError:
                return False

    def heal_network(self) -> None:
        if self._table:
            with contextlib.suppress(InfrastructureError):
                _nft(["delete", "table", "inet", self._table])
            if self.guardian is not None:
                self.guardian.release("nft", last=False)
            self._table = ""

    def _restart_partitioned(self) -> None:
        n = len(self.nodes)
        for node in self.nodes:
            if self._status(node) != (True, n, False):
                self._restart(node)


def _status_words(status: tuple[bool, int, bool] | None, n: int) -> str:
    if status is None:
        return "no answer"
    running, seen, partitioned = status
    words = ["running" if running else "stopped", f"sees {seen} of {n} running"]
    return ", ".join(words + (["remembers a partition"] if partitioned else []))


def kept_cluster_file() -> Path:
    return state_dir() / "cluster.json"


def kept_cluster() -> LocalCluster | None:
    """The cluster `mqcompare broker up --cluster N` keeps, if all its nodes answer."""
    try:
        data = json.loads(kept_cluster_file().read_text())
        states = [NodeState(**node) for node in data["nodes"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    for state in states:
        pid = state.beam_pid()
        if pid is None or not pid_alive(pid) or not port_open(state.host, state.port):
            return None
    cluster = cls_kept = LocalCluster(
        [LocalNode(state, owned=False) for state in states], None, None, data["handling"]
    )
    cls_kept.keep, cls_kept.epmd_pid = True, int(data.get("epmd_pid") or 0)
    return cluster


def _boot_nodes(
    block: list[str], epmd_port: int, handling: str, guardian: Guardian | None
) -> list[LocalNode]:
    """One node per address, booted at once; the first failure is raised once all are
    done (the cluster then stops those that booted)."""
    config = f"cluster_partition_handling = {handling}\n"
    booted: list[LocalNode | BaseException] = [RuntimeError("not booted")] * len(block)

    def boot(i: int) -> None:
        try:
            booted[i] = LocalNode.start_new(
                guard=False,  # the cluster's guardian, or none for a kept cluster
                host=block[i],
                epmd_port=epmd_port,
                config=config,
                guardian=guardian,
            )
        except BaseException as exc:
            booted[i] = exc

    threads = [threading.Thread(target=boot, args=(i,)) for i in range(len(block))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    failed = [b for b in booted if not isinstance(b, LocalNode)]
    if failed:
        for node in booted:
            if isinstance(node, LocalNode):
                node.stop()
        raise failed[0]
    return [b for b in booted if isinstance(b, LocalNode)]


def _free_block(n: int) -> list[str]:
    """n loopback addresses 127.X.Y.1..n, a block picked at random per cluster (the
    machine answers on all of 127/8; partition rules name only these addresses)."""
    x, y = random.randrange(64, 250), random.randrange(1, 250)
    return [f"127.{x}.{y}.{i}" for i in range(1, n + 1)]


def partition_unmet() -> str:
    """What this machine lacks to cut a network between nodes ('' when nothing)."""
    if shutil.which("nft") is None:
        return "nft is not installed (apt-get install -y nftables)"
    if os.geteuid() != 0:
        return "cutting the network between nodes needs root (nftables rules)"
    return ""


def _need_nft() -> None:
    unmet = partition_unmet()
    if unmet:
        raise InfrastructureError(f"--fault partition: {unmet}")


def _nft(args: list[str], script: str | None = None) -> None:
    done = subprocess.run(
        ["nft", *args],
        input=script.encode() if script is not None else None,
        capture_output=True,
        timeout=10,
    )
    if done.returncode != 0:
        raise InfrastructureError(f"nft {' '.join(args)}: {done.stderr.decode().strip()}")
