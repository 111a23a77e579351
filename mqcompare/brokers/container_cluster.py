"""DockerCluster: N RabbitMQ containers on a Docker network of the run's own, joined into
one cluster (`--cluster N --broker docker`).

Each node is a container of the image (hostname rmq1..rmqN, so its node rabbit@rmqI
survives a restart), sharing one Erlang cookie, with the run's partition handling and a
short net_ticktime, its AMQP port published on its own loopback port: clients are placed
per node through the cluster's list of URLs, as on a private cluster. A node's faults
(restart, kill, pause, Erlang evaluations) are those of a single container
(`container.py`). A partition is nftables rules inside the containers' network
namespaces (`nsenter`) that drop what one side sends the other on the run's network: it
cuts the nodes from each other; clients, which reach a node through Docker's port
mapping, keep their node, as Jepsen's clients keep theirs.

Everything is removed by the code that started it, and by the guardian if mqcompare dies:
every container with its volume, then the network."""

from __future__ import annotations

import contextlib
import io
import secrets
import subprocess
import sys
import tarfile
from typing import Any

from mqcompare.brokers.clustered import (
    CUT_PROBE_S,
    Cluster,
    check_size,
    in_parallel,
    nft,
    nft_script,
)
from mqcompare.brokers.container import (
    BOOT_TIMEOUT_S,
    DIST_PORT,
    LABEL,
    DockerBroker,
    docker_client,
    how_to_build,
)
from mqcompare.brokers.guardian import Guardian
from mqcompare.brokers.node import NET_TICKTIME_S
from mqcompare.brokers.ports import free_port
from mqcompare.errors import InfrastructureError
from mqcompare.observe import wait_for

JOIN_TIMEOUT_S = 120.0
# a TCP connect from inside a node's network namespace: exit 0 answered, 1 no answer
_PROBE = (
    "import socket, sys\n"
    "s = socket.socket(); s.settimeout(float(sys.argv[3]))\n"
    "try:\n    s.connect((sys.argv[1], int(sys.argv[2])))\n"
    "except ConnectionRefusedError:\n    pass\n"
    "except OSError:\n    sys.exit(1)\n"
)


class DockerCluster(Cluster):
    """N containers in one cluster (see the module's docstring)."""

    net_ticktime_s = float(NET_TICKTIME_S)

    def __init__(
        self, client: Any, network: Any, handling: str, image: str, guardian: Guardian
    ) -> None:
        self.client, self.network, self.handling, self.image = client, network, handling, image
        self.guardian: Guardian | None = guardian
        self.nodes: list[DockerBroker] = []
        self.owned = True
        self._cuts: list[tuple[int, str]] = []  # (container pid, nft table) in place

    @classmethod
    def start_new(cls, n: int, handling: str, image: str, label: str) -> DockerCluster:
        check_size(n, handling)
        client = docker_client()
        try:
            client.images.get(image)
        except Exception:
            raise InfrastructureError(
                f"--broker docker: image {image} is not here and cannot be pulled without a "
                f"registry; {how_to_build(image)}"
            ) from None
        name = f"mqcompare-{label}-{secrets.token_hex(3)}"
        guardian = Guardian.start()
        network = client.networks.create(name, driver="bridge", labels={"mqcompare": "1"})
        guardian.tell("network", network=network.id)
        cluster = cls(client, network, handling, image, guardian)
        try:
            cluster._create(n, name, label)
            cluster._boot()
            cluster._join()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _create(self, n: int, name: str, label: str) -> None:
        cookie = secrets.token_hex(16)
        config = _config(self.handling)
        # a node notices a lost peer within net_ticktime (Erlang's default is 60 s)
        erl_args = f"-kernel net_ticktime {NET_TICKTIME_S:g}"
        for i in range(1, n + 1):
            port = free_port()
            container = self.client.containers.create(
                self.image,
                detach=True,
                hostname=f"rmq{i}",
                name=f"{name}-node{i}",
                network=self.network.name,
                labels={"mqcompare": "1", LABEL: label},
                ports={"5672/tcp": ("127.0.0.1", port)},
                environment={
                    "RABBITMQ_ERLANG_COOKIE": cookie,  # the same on every node
                    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": erl_args,
                },
                stop_signal="SIGTERM",
            )
            assert self.guardian is not None
            self.guardian.tell(container.id, container=container.id)
            container.put_archive("/etc/rabbitmq", config)
            node = DockerBroker(self.client, container, port, self.image, keep=False)
            node.cookie, node.node_name = cookie, f"rabbit@rmq{i}"
            self.nodes.append(node)
        self.url = ";".join(node.url for node in self.nodes)

    def _boot(self) -> None:
        for node in self.nodes:
            node.container.start()
        for node in self.nodes:
            if wait_for(node.serving, BOOT_TIMEOUT_S, poll=0.1) is None:
                raise InfrastructureError(
                    f"the RabbitMQ container {node.name} did not answer AMQP on "
                    f"127.0.0.1:{node.port} within {BOOT_TIMEOUT_S:g} s"
                )
        self.addresses = tuple(node.address() for node in self.nodes)

    def _join(self) -> None:
        """Nodes 2..N join node 1 (`rabbitmqctl join_cluster`), one at a time."""
        first = self.nodes[0].node_name
        for node in self.nodes[1:]:
            for argv in (["stop_app"], ["join_cluster", first], ["start_app"]):
                code, out = node.container.exec_run(["rabbitmqctl", *argv])
                if code != 0:
                    said = out.decode(errors="replace").strip().splitlines()
                    raise InfrastructureError(
                        f"{node.name}: rabbitmqctl {' '.join(argv)}: {said[-1] if said else code}"
                    )
        if wait_for(self._whole, JOIN_TIMEOUT_S, poll=0.2) is None:
            raise InfrastructureError(
                f"the {len(self.nodes)} containers did not form one cluster within "
                f"{JOIN_TIMEOUT_S:g} s"
            )

    # -- what a run asks of a broker ---------------------------------------------------
    def describe(self) -> str:
        ports = ", ".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return (
            f"container cluster of {len(self.nodes)} nodes ({self.image}) at {ports}, "
            f"{self.handling}"
        )

    @property
    def host_port(self) -> tuple[str, int]:
        return "127.0.0.1", self.nodes[0].port

    def check_reachable(self, timeout: float = 3.0) -> None:
        for node in self.nodes:
            if not node.serving():
                raise InfrastructureError(
                    f"broker unreachable at 127.0.0.1:{node.port}: {node.name} does not answer"
                )

    # -- partitions: nftables rules in the nodes' network namespaces ---------------------
    def _cut(self, grudge: dict[int, set[int]]) -> None:
        table = f"mqcompare_{secrets.token_hex(4)}"
        for dst, sources in grudge.items():
            if not sources:
                continue
            pid = self.nodes[dst].pid()
            rules = [f"ip saddr {self.nodes[src].address()} drop" for src in sorted(sources)]
            self._cuts.append((pid, table))
            nft(["-f", "-"], nft_script(table, rules), where=_inside(pid))

    def heal_network(self) -> None:
        for pid, table in self._cuts:
            with contextlib.suppress(InfrastructureError, subprocess.SubprocessError):
                nft(["delete", "table", "inet", table], where=_inside(pid))
        self._cuts = []

    def _reaches(self, src: int, dst: int) -> bool:
        argv = [*_inside(self.nodes[src].pid()), sys.executable, "-S", "-c", _PROBE]
        argv += [self.nodes[dst].address(), str(DIST_PORT), str(CUT_PROBE_S)]
        done = subprocess.run(argv, capture_output=True, timeout=10)
        return done.returncode == 0

    def _restart(self, node: Any) -> None:
        node.container.restart(timeout=30)
        if wait_for(node.serving, BOOT_TIMEOUT_S, poll=0.1) is None:
            raise InfrastructureError(f"{node.name} did not answer after a restart")

    # -- the end -------------------------------------------------------------------------
    def stop(self) -> None:
        """Remove every container (with its volume), then the network."""
        self.heal_network()
        in_parallel([node.stop for node in self.nodes])
        with contextlib.suppress(Exception):
            self.network.remove()
        if self.guardian is not None:
            for node in self.nodes:
                self.guardian.release(node.container.id, last=False)
            self.guardian.release("network", last=True)
            self.guardian = None

    def close(self) -> None:
        self.stop()


def _inside(pid: int) -> tuple[str, ...]:
    """Run a command in the network namespace of the process `pid` (a container's)."""
    return ("nsenter", "-t", str(pid), "-n")


def _config(handling: str) -> bytes:
    """A tar of rabbitmq.conf: the image's own settings and the run's partition handling."""
    text = (
        "loopback_users = none\nlisteners.tcp.default = 5672\n"
        f"cluster_partition_handling = {handling}\n"
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("rabbitmq.conf")
        info.size, info.mode = len(text), 0o644
        tar.addfile(info, io.BytesIO(text))
    return buf.getvalue()
