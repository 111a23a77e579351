"""The command line against a real broker: refused credentials, faults a broker cannot
perform, the kept node, and Ctrl-C: no process the run started may outlive it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mqcompare.brokers.node import LocalNode
from mqcompare.observe import wait_for

pytestmark = pytest.mark.broker


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mqcompare.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def watch_descendants(
    proc: subprocess.Popen[str], until: float, stop_when: object = None
) -> set[int]:
    """Every pid below proc seen while it runs (or until `stop_when()` is true)."""
    seen: set[int] = set()
    parent = psutil.Process(proc.pid)
    while proc.poll() is None and time.monotonic() < until:
        try:
            seen.update(c.pid for c in parent.children(recursive=True))
        except psutil.NoSuchProcess:
            break
        if stop_when is not None and stop_when():  # type: ignore[operator]
            break
        time.sleep(0.1)
    return seen


def alive(pids: set[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{pid} {' '.join(p.cmdline()) or p.name()}")
        except psutil.NoSuchProcess:
            pass
    return out


def test_refused_credentials_exit_3_without_the_password(node: LocalNode, tmp_path: Path) -> None:
    url = f"amqp://guest:wrong-horse@127.0.0.1:{node.state.port}/"
    started = time.monotonic()
    proc = cli("run", "--stack", "pika", "--broker", url, "--out", str(tmp_path / "r"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3
    assert time.monotonic() - started < 10
    assert "refused the credentials" in err and f"127.0.0.1:{node.state.port}" in err
    assert "wrong-horse" not in out + err
    assert not (tmp_path / "r").exists()


def test_external_broker_refuses_broker_faults_before_publishing(
    node: LocalNode, tmp_path: Path
) -> None:
    url = node.url  # the same node, but as a plain URL: mqcompare does not control it
    proc = cli(
        "run",
        "--stack",
        "pika",
        "--broker",
        url,
        "--fault",
        "kill@1s",
        "--out",
        str(tmp_path / "r"),
    )
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3
    assert "--fault kill" in err and "guest:***@" in err
    assert not (tmp_path / "r").exists()


def test_mirrored_queue_needs_a_broker_mqcompare_runs(node: LocalNode, tmp_path: Path) -> None:
    """Mirroring is a policy mqcompare sets; on a plain URL it says so (exit 3), at once."""
    proc = cli("run", "--stack", "pika", "--queue", "mirrored", "--broker", node.url,
               "--out", str(tmp_path / "r"))  # fmt: skip
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "--queue mirrored" in err and "--broker local" in err
    assert len(err.strip().splitlines()) == 1


def test_run_on_a_plain_url_without_faults(node: LocalNode, tmp_path: Path) -> None:
    proc = cli(
        "run",
        "--stack",
        "pika",
        "--broker",
        node.url,
        "--producers",
        "2",
        "--messages",
        "100",
        "--json",
        "--out",
        str(tmp_path / "r"),
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["counts"]["unique"] == 200
    assert "guest:guest" not in out + (tmp_path / "r" / "spec.json").read_text()


def test_kept_node_is_shared_by_runs(node: LocalNode, tmp_path: Path) -> None:
    env = {"MQCOMPARE_STATE_DIR": str(tmp_path / "state")}
    assert cli("broker", "status", env=env).wait(30) == 1
    up = cli("broker", "up", env=env)
    assert up.wait(90) == 0, up.stderr.read() if up.stderr else ""
    try:
        status = cli("broker", "status", env=env)
        out, _ = status.communicate(timeout=30)
        assert status.returncode == 0 and "up: kept node" in out
        state = json.loads((tmp_path / "state" / "broker.json").read_text())
        for _ in range(2):
            run = cli(
                "run",
                "--stack",
                "pika",
                "--producers",
                "2",
                "--messages",
                "50",
                "--broker",
                "local",
                "--json",
                "--out",
                str(tmp_path / f"r{_}"),
                env=env,
            )
            out, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
            assert f"127.0.0.1:{state['port']}" in json.loads(out)["broker"]
    finally:
        down = cli("broker", "down", env=env)
        assert down.wait(60) == 0
    assert cli("broker", "status", env=env).wait(30) == 1
    assert not Path(state["dir"]).exists()


@pytest.mark.slow
@pytest.mark.parametrize("stack", ["pika", "celery"])
def test_ctrl_c_stops_within_seconds_and_leaves_no_process(
    node: LocalNode, tmp_path: Path, stack: str
) -> None:
    """Producers, consumer (for celery a worker and its pool) and a fault in progress; then
    SIGINT. The pika run starts its own private node, which must go too."""
    env = {"MQCOMPARE_STATE_DIR": str(tmp_path / "empty-state")} if stack == "pika" else {}
    out = tmp_path / "run"
    args = ["--producers", "4", "--messages", "20000", "--confirms", "--fault", "restart@1s:3s"]
    proc = cli("run", "--stack", stack, *args, "--broker", "local", "--out", str(out), env=env)
    journal = out / "journal" / "runner.jsonl"

    def fault_began() -> bool:
        return journal.exists() and '"phase":"begin"' in journal.read_text()

    seen = watch_descendants(proc, time.monotonic() + 60, stop_when=fault_began)
    assert fault_began(), "the run never reached its fault"
    assert seen, "the run started no process"
    proc.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    seen |= watch_descendants(proc, time.monotonic() + 30)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert time.monotonic() - stopped < 20
    wait_for(lambda: alive(seen) == [], 10.0)
    assert alive(seen) == []
    result = json.loads((out / "result.json").read_text())
    assert result["interrupted"] is True
    assert result["counts"]["attempted"] > 0, "what was journaled is kept"
