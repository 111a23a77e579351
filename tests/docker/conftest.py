"""A RabbitMQ container for the whole session, started and removed through the Docker SDK.
These tests skip, with the reason printed, only where no Docker engine answers; an engine
without the image is a failure (`make docker-image` builds it; .ci/run does)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mqcompare.brokers.container import (
    BUILDS,
    IMAGE_ENV,
    LOCAL_IMAGE,
    DockerBroker,
    docker_client,
)
from mqcompare.errors import InfrastructureError
from mqcompare.runner import execute
from tests.conftest import run_spec

IMAGE_4 = "mqcompare/rabbitmq:4.0"


@pytest.fixture(scope="session")
def engine() -> None:
    """A Docker engine answers (else the test skips, saying why)."""
    try:
        docker_client()
    except InfrastructureError as exc:
        pytest.skip(f"no Docker engine can run here: {exc}")


@pytest.fixture(scope="session")
def docker_image(engine: None) -> str:
    client = docker_client()
    image = os.environ.get(IMAGE_ENV) or LOCAL_IMAGE
    try:
        client.images.get(image)
    except Exception:
        pytest.fail(f"image {image} is missing: `make docker-image` builds {LOCAL_IMAGE}")
    os.environ[IMAGE_ENV] = image  # what CLI subprocesses start too
    return image


@pytest.fixture(scope="session")
def image_4(engine: None) -> str:
    """The RabbitMQ 4.0 image (`make docker-image RABBITMQ=4.0`; `make test` builds it)."""
    try:
        docker_client().images.get(IMAGE_4)
    except Exception:
        pytest.fail(f"image {IMAGE_4} is missing: `{BUILDS[IMAGE_4]}` builds it")
    return IMAGE_4


@pytest.fixture(scope="session")
def containers(docker_image: str, image_4: str) -> Iterator[dict[str, DockerBroker]]:
    """A container of each RabbitMQ version, by major version, for the session."""
    brokers = {"3": DockerBroker.start_new("tests-3", image=docker_image)}
    try:
        brokers["4"] = DockerBroker.start_new("tests-4", image=image_4)
        yield brokers
    finally:
        for broker in brokers.values():
            broker.stop()


@pytest.fixture(scope="session")
def session_container(docker_image: str) -> Iterator[DockerBroker]:
    broker = DockerBroker.start_new("tests", image=docker_image)
    yield broker
    broker.stop()


@pytest.fixture
def container(session_container: DockerBroker) -> DockerBroker:
    """The session's container, answering: a fault that left it down costs one test."""
    session_container.heal()
    return session_container


@pytest.fixture
def docker_run(container: DockerBroker, tmp_path: Path):  # type: ignore[no-untyped-def]
    """docker_run(stack, **spec fields) -> result, against the session's container."""

    def _run(stack: str, **kw: Any) -> dict[str, Any]:
        spec = run_spec(stack, broker="docker", **kw)
        out = tmp_path / spec.run_id
        result = execute(spec, out, broker=container, say=lambda _m: None)
        result["_dir"] = str(out)
        return result

    return _run
