"""docker-compose.yml is a real file: `docker compose up -d` gives a broker that
`mqcompare run --broker amqp://...` uses, and broker faults there are refused (exit 3,
pointing at --broker docker)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqcompare.brokers.ports import amqp_answers, free_port
from mqcompare.observe import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.docker]
ROOT = Path(__file__).resolve().parents[2]


def compose_command() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    found = shutil.which("docker-compose")
    if found is None:  # a Docker engine without compose: said, as the README promises
        pytest.skip(
            "neither `docker compose` nor docker-compose is installed "
            "(apt-get install -y docker-compose; .ci/run installs it)"
        )
    return [found]


@pytest.fixture
def compose_broker(docker_image: str) -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "MQCOMPARE_DOCKER_PORT": str(port), "MQCOMPARE_DOCKER_IMAGE": docker_image}
    cmd = [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "-p", f"mqc-{port}"]
    up = subprocess.run([*cmd, "up", "-d"], capture_output=True, text=True, env=env, timeout=120)
    try:
        assert up.returncode == 0, up.stderr
        assert wait_for(lambda: amqp_answers("127.0.0.1", port), 90.0, poll=0.2) is not None
        yield port
    finally:
        subprocess.run([*cmd, "down", "-v"], capture_output=True, env=env, timeout=120)


def test_compose_broker_serves_a_run_and_refuses_broker_faults(
    compose_broker: int, tmp_path: Path
) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{compose_broker}/"

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mqcompare.cli", "run", "--stack", "pika", "--confirms",
             "--producers", "2", "--messages", "100", "--broker", url, *extra],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    done = run("--out", str(tmp_path / "ok"))
    assert done.returncode == 0, done.stderr
    assert "exactly once" in done.stdout
    refused = run("--fault", "restart@1s:1s", "--out", str(tmp_path / "fault"))
    assert refused.returncode == 3
    assert "--broker docker" in refused.stderr and ":guest@" not in refused.stderr


@pytest.fixture
def compose_cluster(image_4: str) -> Iterator[list[int]]:
    """The compose file's cluster profile, by hand as a user starts it, on free ports."""
    ports = [free_port() for _ in range(3)]
    env = {
        **os.environ,
        "MQCOMPARE_DOCKER_PORT": str(free_port()),  # the single broker starts too
        "MQCOMPARE_DOCKER_IMAGE": image_4,
        **{f"MQCOMPARE_CLUSTER_PORT{i + 1}": str(p) for i, p in enumerate(ports)},
    }
    cmd = [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "-p", f"mqc-{ports[0]}"]
    up = subprocess.run(
        [*cmd, "--profile", "cluster", "up", "-d"], capture_output=True, text=True, env=env,
        timeout=180,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        for port in ports:
            assert wait_for(lambda p=port: amqp_answers("127.0.0.1", p), 120.0, poll=0.2)

        def joined() -> bool:
            done = subprocess.run(
                [*cmd, "--profile", "cluster", "exec", "-T", "rmq1", "rabbitmqctl", "-q", "eval",
                 "length(rabbit_nodes:all_running())."],
                capture_output=True, text=True, env=env, timeout=60,
            )  # fmt: skip
            return done.stdout.strip() == "3"

        assert wait_for(joined, 120.0, poll=1.0) is not None, "the three nodes never joined"
        yield ports
    finally:
        subprocess.run(
            [*cmd, "--profile", "cluster", "down", "-v"], capture_output=True, env=env, timeout=180
        )


def test_compose_cluster_profile_is_one_cluster_a_run_can_use(
    compose_cluster: list[int], tmp_path: Path
) -> None:
    url = ";".join(f"amqp://guest:guest@127.0.0.1:{p}/" for p in compose_cluster)
    done = subprocess.run(
        [sys.executable, "-m", "mqcompare.cli", "run", "--stack", "pika", "--confirms",
         "--queue", "quorum", "--producers", "3", "--messages", "100", "--broker", url,
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    assert "exactly once" in done.stdout
    assert "RabbitMQ 4.0" in done.stdout
