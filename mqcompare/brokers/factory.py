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
from mqcompare.brokers.redis_server import RedisServer, kept_redis
from mqcompare.brokers.redis_url import RedisBroker, is_redis
from mqcompare.errors import BadInput, InfrastructureError
from mqcompare.units import redact_url


def open_broker(
    choice: str,
    label: str = "",
    cluster: int = 1,
    handling: str = "pause_minority",
    image: str = "",
    persistence: str = "default",
) -> BrokerControl:
    """The broker for --broker CHOICE (auto|local|docker|redis|amqp://...|redis://...),
    started if need be; `label` names what owns a container (a run or matrix id), `image`
    its image ("" the default), `persistence` a private Redis's; `cluster` > 1 is a
    private cluster of that many nodes (a kept one if `broker up --cluster` left one that
    fits)."""
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
    if is_redis(choice) and choice != "redis":
        return RedisBroker(choice)
    if choice == "redis":
        server = kept_redis()
        if server is not None and server.state.persistence == persistence:
            return server
        return RedisServer.start_new(persistence)
    if choice == "auto":
        env_url = os.environ.get("MQCOMPARE_BROKER_URL")
        if env_url:
            return open_broker(env_url) if is_redis(env_url) else ExternalBroker(env_url)
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
        "--broker",
        f"{redact_url(choice)!r} is not one of auto, local, docker, redis, amqp://..., redis://...",
    )


def broker_kind(choice: str) -> type[BrokerControl]:
    """The kind of broker --broker CHOICE opens, before it is opened: what its clients
    speak (`protocol`) and what a run cannot ask of it (`refuse`)."""
    if is_redis(choice) or (
        choice == "auto" and is_redis(os.environ.get("MQCOMPARE_BROKER_URL", ""))
    ):
        return RedisBroker
    return BrokerControl


def keep_broker(
    docker: bool, nodes: int, handling: str, redis: str = ""
) -> tuple[BrokerControl, bool, Path]:
    """`broker up`: the kept node, cluster, container or Redis (with `redis` its
    persistence), started unless one is up; with whether it was started now and the file
    that describes it."""
    if redis:
        server = kept_redis()
        if server is not None:
            return server, False, state_dir() / "redis.json"
        return RedisServer.start_new(redis, keep=True), True, state_dir() / "redis.json"
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
    Docker engine is asked only when a container was kept: it may not be there), a Redis."""
    container = kept_container() if kept_file().exists() else None
    found = (kept_cluster(), kept_node(), container, kept_redis())
    return [b for b in found if b is not None]
