"""Fixtures: one private Redis for the session (never the machine's own on 6379), given
back healthy to each test, and `redis_run` to run an experiment on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mqcompare.brokers.redis_server import RedisServer
from mqcompare.errors import InfrastructureError
from mqcompare.runner import execute
from tests.conftest import run_spec


@pytest.fixture(scope="session")
def session_redis() -> Iterator[RedisServer]:
    if not RedisServer.installed():
        pytest.fail("redis-server is not installed (.ci/run installs it with apt-get)")
    server = RedisServer.start_new("aof-always")
    assert server.state.port != 6379
    yield server
    pid = server.state.pid
    server.stop()
    assert not os.path.exists(f"/proc/{pid}"), "private Redis left running"
    assert not Path(server.state.dir).exists(), "its directory left behind"


@pytest.fixture
def redis_server(session_redis: RedisServer) -> RedisServer:
    """The session's Redis, answering: a fault that left it dead costs one test only."""
    try:
        session_redis.heal()
    except InfrastructureError as exc:
        pytest.fail(f"the session's Redis could not be brought back: {exc}")
    return session_redis


def run_on(broker: Any, tmp_path: Path, stack: str, **kw: Any) -> dict[str, Any]:
    spec = run_spec(stack, broker="redis", **kw)
    out = tmp_path / spec.run_id
    result = execute(spec, out, broker=broker, say=lambda _m: None)
    result["_dir"] = str(out)
    return result


@pytest.fixture
def redis_run(redis_server: RedisServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    """redis_run(stack, **spec fields) -> result, on the session's Redis (aof-always)."""

    def _run(stack: str, **kw: Any) -> dict[str, Any]:
        return run_on(redis_server, tmp_path, stack, **kw)

    return _run


@pytest.fixture
def own_redis(tmp_path: Path):  # type: ignore[no-untyped-def]
    """own_redis(persistence) -> run(stack, **fields): a Redis of the test's own, with
    that persistence, stopped at the end of the test."""
    servers: list[RedisServer] = []

    def _open(persistence: str) -> Any:
        server = RedisServer.start_new(persistence)
        servers.append(server)
        return lambda stack, **kw: run_on(server, tmp_path, stack, **kw)

    yield _open
    for server in servers:
        server.stop()
