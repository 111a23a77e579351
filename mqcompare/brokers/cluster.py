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
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from mqcompare.brokers.base import UP_TIMEOUT_S
from mqcompare.brokers.clustered import (
    CUT_PROBE_S,
    Cluster,
    check_size,
    each_at_once,
    in_parallel,
    nft,
    nft_script,
)
from mqcompare.brokers.guardian import Guardian
from mqcompare.brokers.node import NET_TICKTIME_S, LocalNode, NodeState
from mqcompare.brokers.ports import free_port, port_open, state_dir
from mqcompare.errors import InfrastructureError
from mqcompare.files import write_json
from mqcompare.observe import pid_alive, wait_for


class LocalCluster(Cluster):
    """N private nodes in one cluster (see the module's docstring)."""

    net_ticktime_s = NET_TICKTIME_S

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
        check_size(n, handling)
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
        )

    def _join(self) -> None:
        """Nodes 2..N join node 1 (what `rabbitmqctl join_cluster` does): their RabbitMQ
        applications stop at once, they join one at a time (each join changes the
        cluster's schema), and they start again at once, as a cluster's nodes do when it
        restarts."""
        first, others = self.nodes[0].state.node, self.nodes[1:]
        each_at_once([partial(node.eval, "rabbit:stop().") for node in others])
        for node in others:
            node.eval(f"rabbit_mnesia:join_cluster('{first}', disc).")
        each_at_once(
            [partial(node.eval, "rabbit:start().", timeout=UP_TIMEOUT_S) for node in others]
        )
        if wait_for(self._whole, 60.0, poll=0.2) is None:
            raise InfrastructureError(
                f"the {len(self.nodes)} nodes did not form one cluster within 60 s; "
                f"see {self.nodes[0].state.dir}/log"
            )

    def stop(self) -> None:
        self.heal_network()
        in_parallel([node.stop for node in self.nodes])
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
    def describe(self) -> str:
        return (
            f"private cluster of {len(self.nodes)} nodes "
            f"({', '.join(f'{n.state.host}:{n.state.port}' for n in self.nodes)}), "
            f"{self.handling}"
        )

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

    def node_urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    # -- partitions --------------------------------------------------------------------
    # -- partitions: nftables rules on the nodes' addresses ------------------------------
    def _cut(self, grudge: dict[int, set[int]]) -> None:
        table = f"mqcompare_{abs(hash((self.url, time.time()))) % 10**8}"
        rules = [
            f"ip saddr {self.addresses[src]} ip daddr {self.addresses[dst]} drop"
            for dst, sources in grudge.items()
            for src in sorted(sources)
        ]
        self._guard("nft", nft_table=table)
        self._table = table
        nft(["-f", "-"], nft_script(table, rules))

    @staticmethod
    def _restart(node: Any) -> None:
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
                nft(["delete", "table", "inet", self._table])
            if self.guardian is not None:
                self.guardian.release("nft", last=False)
            self._table = ""


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
