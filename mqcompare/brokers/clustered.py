"""What every cluster kind shares (docs/architecture.md, "Brokers"): Jepsen's partition
shapes, the nodes' own view of the cluster (running, partitioned), the queue's leader, the
nodes a fault's target names, and a partition's course: cut as the shape says, seen down
when a probe across the cut gets no answer, healed after its time, up once the cluster is
whole again (nodes that do not mend are restarted, as an operator would).

A cluster kind gives its nodes (each with `eval`, `accepting`, `heal`, `node_name`, and
the queue and log helpers of a single broker) and how to cut, mend and probe its network,
and how to restart one node."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from mqcompare.brokers.base import UP_TIMEOUT_S, BrokerControl
from mqcompare.brokers.handling import PARTITION_HANDLING
from mqcompare.errors import BadInput, BrokerNotBack, InfrastructureError
from mqcompare.observe import PhaseLog, wait_for
from mqcompare.units import redact_url

# how the nodes of a cluster handle a partition (RabbitMQ's cluster_partition_handling)
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


def in_parallel(calls: list[Callable[[], object]]) -> None:
    """Run each call in a thread of its own; return when all have (a cluster's nodes stop
    at once)."""
    threads = [threading.Thread(target=call) for call in calls]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def each_at_once(calls: list[Callable[[], object]]) -> None:
    """`in_parallel`, and then the first error any call raised is raised (a fault struck
    on several nodes, a cluster's nodes joining)."""
    errors: list[BaseException] = []

    def call(f: Callable[[], object]) -> None:
        try:
            f()
        except BaseException as exc:
            errors.append(exc)

    in_parallel([partial(call, f) for f in calls])
    if errors:
        raise errors[0]


def check_size(n: int, handling: str) -> None:
    """BadInput for a cluster size or partition handling RabbitMQ would not take here."""
    if not 2 <= n <= 7:
        raise BadInput("--cluster", f"a cluster is 2 to 7 nodes, got {n}")
    if handling not in PARTITION_HANDLING:
        allowed = ", ".join(PARTITION_HANDLING)
        raise BadInput("--partition-handling", f"{handling!r} is not one of {allowed}")


class Cluster(BrokerControl):
    """N nodes joined into one cluster; `nodes` are its members, node1 first."""

    nodes: list[Any]
    handling: str = "pause_minority"
    net_ticktime_s: float = 10.0  # how long a node takes to notice a lost peer

    # -- what a kind says of its network ------------------------------------------------
    def _cut(self, grudge: dict[int, set[int]]) -> None:
        """Drop what each node hears from the nodes its grudge names."""
        raise NotImplementedError

    def heal_network(self) -> None:
        """Remove every cut (nothing when there is none)."""

    def _reaches(self, src: int, dst: int) -> bool:
        """A TCP connect from node src to node dst is answered (refused counts)."""
        raise NotImplementedError

    def _restart(self, node: Any) -> None:
        """Stop and start one node, as an operator would."""
        raise NotImplementedError

    # -- the nodes' own view -------------------------------------------------------------
    def _status(self, node: Any) -> tuple[bool, int, bool] | None:
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

    def heal(self) -> None:
        """Every node serving and the cluster whole before a run."""
        self.heal_network()
        for node in self.nodes:
            node.heal()
        if wait_for(self._whole, 30.0, poll=0.2) is None:
            n = len(self.nodes)
            for node in self.nodes:
                if self._status(node) != (True, n, False):
                    self._restart(node)

    @property
    def name(self) -> str:
        return f"the cluster of {len(self.nodes)} nodes"

    def kept_words(self) -> str:
        return self.describe()

    @property
    def display_url(self) -> str:
        return ";".join(redact_url(url) for url in self.url.split(";"))

    def set_policy(self, name: str, pattern: str, definition: dict[str, object]) -> None:
        self.nodes[0].set_policy(name, pattern, definition)

    def clear_policy(self, name: str) -> None:
        for node in self.nodes:
            if node.accepting():
                node.clear_policy(name)
                return

    def queue_seen(self, queue: str) -> dict[str, str] | None:
        for node in self.nodes:
            seen = node.queue_seen(queue)
            if seen is not None:
                leader = self.leader(queue)
                seen["leader"] = f"node{leader + 1}" if leader is not None else ""
                return seen
        return None

    def leader(self, queue: str) -> int | None:
        """The index of the node that leads `queue` now, asked of the nodes that answer."""
        by_name = {node.node_name: i for i, node in enumerate(self.nodes)}
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

    def log_excerpt(self, since: float | None = None, lines: int = 400) -> str:
        parts = []
        for i, node in enumerate(self.nodes):
            text = node.log_excerpt(since, lines)
            if text:
                parts.append(f"==> node{i + 1} {node.node_name} <==\n{text}")
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

    def partition(self, shape: str, down: float, log: PhaseLog, queue: str) -> None:
        """Cut the network as the shape says; `down` once a probe across the cut gets no
        answer; heal after `down` seconds; `up` once the cluster is whole again."""
        need_nft()
        leader = self.leader(queue) if shape == "leader" else 0
        if leader is None:
            raise InfrastructureError(f"no node could say which node leads {queue}")
        grudge, words = shape_grudge(shape, len(self.nodes), leader)
        log.note(f"shape {shape}: {words}")
        self._cut(grudge)
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
                if now - since >= self.net_ticktime_s:
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


def _status_words(status: tuple[bool, int, bool] | None, n: int) -> str:
    if status is None:
        return "no answer"
    running, seen, partitioned = status
    words = ["running" if running else "stopped", f"sees {seen} of {n} running"]
    return ", ".join(words + (["remembers a partition"] if partitioned else []))


def partition_unmet() -> str:
    """What this machine lacks to cut a network between nodes ('' when nothing)."""
    if shutil.which("nft") is None:
        return "nft is not installed (apt-get install -y nftables)"
    if os.geteuid() != 0:
        return "cutting the network between nodes needs root (nftables rules)"
    return ""


def need_nft() -> None:
    unmet = partition_unmet()
    if unmet:
        raise InfrastructureError(f"--fault partition: {unmet}")


def nft_script(table: str, rules: list[str]) -> str:
    """An nftables table of its own whose input chain holds `rules` (before anything else
    filters: priority -300)."""
    return (
        f"table inet {table} {{\n chain input {{\n  type filter hook input priority -300;\n"
        + "".join(f"  {rule}\n" for rule in rules)
        + " }\n}\n"
    )


def nft(args: list[str], script: str | None = None, where: tuple[str, ...] = ()) -> None:
    """nft with `args` (the rules on stdin); `where`: a command that runs it elsewhere
    (nsenter into a container's network namespace)."""
    done = subprocess.run(
        [*where, "nft", *args],
        input=script.encode() if script is not None else None,
        capture_output=True,
        timeout=10,
    )
    if done.returncode != 0:
        raise InfrastructureError(f"nft {' '.join(args)}: {done.stderr.decode().strip()}")
