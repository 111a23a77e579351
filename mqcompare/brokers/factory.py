"""The one factory of brokers: the only place that chooses between the broker kinds."""

from __future__ import annotations

import os
from pathlib import Path

from mqcompare.brokers.base import BrokerControl
from mqcompare.brokers.cluster import LocalCluster, kept_cluster, kept_cluster_file
from mqcompare.brokers.container import (
    DockerBroker,
    engine_answers,
    image_name,
    kept_container,
    kept_file,
)
from mqcompare.brokers.container_cluster import DockerCluster
from mqcompare.brokers.external import ExternalBroker
from mqcompare.brokers.node import LocalNode, kept_node
from mqcompare.brokers.ports import state_dir
from mqcompare.errors import BadInput, InfrastructureError
from mqcompare.units import redact_url


def open_broker(
    choice: str,
    label: str = "",
    cluster: int = 1,
    handling: str = "pause_minority",
    image: str = "",
) -> BrokerControl:
    """The broker for --broker CHOICE (auto|local|docker|amqp://...), started if need be;
    `label` names what owns a container (a run or matrix id), `image` its image ("" the
    default); `cluster` > 1 is a private cluster of that many nodes (a kept one if
    `broker up --cluster` left one that fits)."""
    if cluster > 1:
        if choice == "docker":
            return DockerCluster.start_new(
                cluster, handling, image or image_name(), label or str(os.getpid())
            )
        if choice not in ("auto", "local"):
            raise BadInput(
                "--cluster",
                f"a cluster is of private nodes or containers: use --broker local or docker, "
                f"not {redact_url(choice)}",
            )
        kept = kept_cluster()
        if kept is not None and len(kept.nodes) == cluster and kept.handling == handling:
            return kept
        return LocalCluster.start_new(cluster, handling)
    if choice.startswith(("amqp://", "amqps://")):
        return ExternalBroker(choice)
    if choice == "auto":
        env_url = os.environ.get("MQCOMPARE_BROKER_URL")
        if env_url:
            return ExternalBroker(env_url)
        if LocalNode.installed():
            return open_broker("local")
        if engine_answers():
            return open_broker("docker", label)
        raise InfrastructureError(
            "no broker: install RabbitMQ (apt-get install -y rabbitmq-server), start a Docker "
            "engine, or set MQCOMPARE_BROKER_URL / pass --broker amqp://user:pass@host:port/"
        )
    if choice == "local":
        return kept_node() or LocalNode.start_new()
    if choice == "docker":
        container = kept_container()
        if container is not None and container.image == (image or image_name()):
            return container
        return DockerBroker.start_new(label or str(os.getpid()), image=image or None)
    raise BadInput(
        "--broker", f"{redact_url(choice)!r} is not one of auto, local, docker, amqp://..."
    )


def keep_broker(docker: bool, nodes: int, handling: str) -> tuple[BrokerControl, bool, Path]:
    """`broker up`: the kept node, cluster or container, started unless one is up; with
    whether it was started now and the file that describes it."""
    if nodes > 1:
        if docker:
            raise BadInput(
                "--cluster",
                "`broker up` keeps a cluster of private nodes; a cluster of containers lives "
                "for one run or matrix (--cluster N --broker docker)",
            )
        cluster = kept_cluster()
        if cluster is not None:
            return cluster, False, kept_cluster_file()
        return LocalCluster.start_new(nodes, handling, keep=True), True, kept_cluster_file()
    if docker:
        container = kept_container()
        if container is not None:
            return container, False, kept_file()
        return DockerBroker.start_new("kept", keep=True), True, kept_file()
    node = kept_node()
    if node is not None:
        return node, False, state_dir() / "broker.json"
    return LocalNode.start_new(keep=True), True, state_dir() / "broker.json"


def kept_brokers() -> list[BrokerControl]:
    """What `broker up` keeps and still answers: a cluster, a node, a container (the
    Docker engine is asked only when a container was kept: it may not be there)."""
    container = kept_container() if kept_file().exists() else None
    return [b for b in (kept_cluster(), kept_node(), container) if b is not None]
