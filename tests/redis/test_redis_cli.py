"""The command line on Redis: a server that refuses or does not answer (exit 3 within
seconds, naming host and port, never the password), a kept Redis (`broker up --broker
redis`), and mqcompare SIGKILLed mid-run (its Redis, workers and directory go too)."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from pathlib import Path

import psutil
import pytest

from mqcompare.brokers.redis_server import RedisServer
from mqcompare.observe import wait_for
from tests.e2e.test_cli_broker import alive, cli, watch_descendants

pytestmark = [pytest.mark.broker, pytest.mark.redis]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_redis_is_exit_3_naming_where(tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    proc = cli("run", "--stack", "celery", "--broker", f"redis://:hunter2@127.0.0.1:{port}/0",
               "--out", str(tmp_path / "r"))  # fmt: skip
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert time.monotonic() - started < 15
    assert f"Redis unreachable at 127.0.0.1:{port}" in err
    assert "hunter2" not in out + err


def test_a_wrong_password_is_exit_3_without_it(redis_server: RedisServer, tmp_path: Path) -> None:
    url = f"redis://nobody:hunter2@127.0.0.1:{redis_server.state.port}/0"
    proc = cli("run", "--stack", "kombu", "--broker", url, "--out", str(tmp_path / "r"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert f"127.0.0.1:{redis_server.state.port}" in err and "refused" in err
    assert "hunter2" not in out + err


def test_a_stack_that_speaks_only_amqp_is_exit_2(tmp_path: Path) -> None:
    proc = cli("run", "--stack", "pika", "--broker", "redis", "--out", str(tmp_path / "r"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    (line,) = [x for x in err.splitlines() if x.strip()]
    assert "--broker" in line and "pika speaks amqp only" in line


def test_broker_up_keeps_a_redis_that_runs_find(tmp_path: Path) -> None:
    env = {"MQCOMPARE_STATE_DIR": str(tmp_path / "state")}
    up = cli("broker", "up", "--broker", "redis", "--redis-persistence", "aof-always", env=env)
    out, err = up.communicate(timeout=60)
    assert up.returncode == 0, err
    assert "kept Redis" in out and "aof-always" in out
    state = json.loads((tmp_path / "state" / "redis.json").read_text())
    try:
        run = cli("run", "--stack", "kombu", "--broker", "redis", "--redis-persistence",
                  "aof-always", "--producers", "2", "--messages", "50", "--out",
                  str(tmp_path / "r"), env=env)  # fmt: skip
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        result = json.loads((tmp_path / "r" / "result.json").read_text())
        assert f":{state['port']}/" in result["spec"]["broker"], "the kept one was used"
        status = cli("broker", "status", env=env)
        out, _ = status.communicate(timeout=30)
        assert status.returncode == 0 and "up: kept Redis" in out
    finally:
        down = cli("broker", "down", env=env)
        out, err = down.communicate(timeout=60)
    assert down.returncode == 0 and "stopped kept Redis" in out, err
    assert not psutil.pid_exists(state["pid"]) or psutil.Process(state["pid"]).status() == "zombie"
    assert not Path(state["dir"]).exists()


def test_sigkill_of_mqcompare_takes_its_redis_and_workers_with_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--stack", "celery", "--broker", "redis", "--producers", "4",
               "--messages", "4000", "--rate", "200", "--out", str(out))  # fmt: skip

    def publishing() -> bool:
        return any(
            b'"ev":"invoke"' in p.read_bytes() for p in (out / "journal").glob("producer*.jsonl")
        )

    seen = watch_descendants(proc, time.monotonic() + 90, stop_when=publishing)
    assert publishing(), "the run never published"
    m = re.search(r":(\d+)/", json.loads((out / "spec.json").read_text())["broker"])
    assert m is not None
    port = int(m.group(1))
    (directory,) = Path("/tmp").glob(f"mqcompare-redis-{port}-*")
    # redis-server names itself by its address in its process title
    servers = [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "redis-server" and f":{port}" in " ".join(p.info["cmdline"] or [])
    ]
    assert len(servers) == 1
    proc.send_signal(signal.SIGKILL)  # no handler, no finally: only the guardian is left
    proc.wait(timeout=10)
    gone = wait_for(
        lambda: not servers[0].is_running() and alive(seen) == [] and not directory.exists(),
        30.0,
        poll=0.2,
    )
    assert gone is not None, (alive(seen), servers[0].is_running(), directory.exists())


def test_a_redis_given_by_url_suffers_no_broker_fault(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """mqcompare restarts only a Redis it runs: on a plain URL a broker fault is exit 3."""
    url = f"redis://127.0.0.1:{redis_server.state.port}/0"
    proc = cli("run", "--stack", "kombu", "--broker", url, "--fault", "restart@1s:1s",
               "--out", str(tmp_path / "r"))  # fmt: skip
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "--fault restart" in err and "--broker redis" in err
