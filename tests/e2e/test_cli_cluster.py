"""The command line with a cluster: a run's own cluster interrupted while its network is
cut (no node, epmd, partition rule or client left), a kept cluster shared by runs, and
the cluster flags' one-line errors."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mqcompare.observe import wait_for
from tests.e2e.test_cli_broker import alive, cli, watch_descendants

pytestmark = [pytest.mark.broker, pytest.mark.cluster, pytest.mark.slow]


def nft_tables() -> str:
    done = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True)
    return done.stdout


def test_ctrl_c_during_a_partition_leaves_no_node_rule_or_client(tmp_path: Path) -> None:
    env = {"MQCOMPARE_STATE_DIR": str(tmp_path / "empty-state")}  # a cluster of the run's own
    out = tmp_path / "run"
    proc = cli(
        "run", "--stack", "pika", "--cluster", "3", "--queue", "quorum", "--confirms",
        "--producers", "3", "--messages", "2000", "--rate", "50",
        "--fault", "partition@1s:30s:halves", "--out", str(out), env=env,
    )  # fmt: skip
    journal = out / "journal" / "runner.jsonl"

    def cut() -> bool:
        return journal.exists() and '"phase":"down"' in journal.read_text()

    seen = watch_descendants(proc, time.monotonic() + 120, stop_when=cut)
    assert cut(), "the partition was never seen in place"
    assert "mqcompare_" in nft_tables(), "the cut is nftables rules"
    proc.send_signal(signal.SIGINT)
    seen |= watch_descendants(proc, time.monotonic() + 60)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert wait_for(lambda: alive(seen) == [], 15.0) is not None, alive(seen)
    assert "mqcompare_" not in nft_tables()
    result = json.loads((out / "result.json").read_text())
    assert result["interrupted"] is True
    assert [f["kind"] for f in result["faults"]] == ["partition"]


def test_kept_cluster_serves_runs_until_broker_down(tmp_path: Path) -> None:
    env = {"MQCOMPARE_STATE_DIR": str(tmp_path / "state")}
    up = cli("broker", "up", "--cluster", "3", env=env)
    stdout, stderr = up.communicate(timeout=180)
    assert up.returncode == 0, stderr
    assert "started private cluster of 3 nodes" in stdout
    state = json.loads((tmp_path / "state" / "cluster.json").read_text())
    pids = {int(Path(n["dir"], "pid").read_text()) for n in state["nodes"]}
    try:
        run = cli(
            "run", "--stack", "kombu", "--cluster", "3", "--producers", "2", "--messages",
            "50", "--out", str(tmp_path / "run"), "--json", env=env,
        )  # fmt: skip
        stdout, stderr = run.communicate(timeout=180)
        assert run.returncode == 0, stderr
        result = json.loads(stdout)
        assert result["broker"] == state_describe(tmp_path)
        assert alive(pids), "a run leaves a kept cluster running"
    finally:
        down = cli("broker", "down", env=env)
        stdout, _ = down.communicate(timeout=120)
    assert "stopped the cluster of 3 nodes" in stdout
    assert wait_for(lambda: alive(pids) == [], 15.0) is not None
    assert not (tmp_path / "state" / "cluster.json").exists()


def state_describe(tmp_path: Path) -> str:
    status = cli("broker", "status", env={"MQCOMPARE_STATE_DIR": str(tmp_path / "state")})
    stdout, _ = status.communicate(timeout=60)
    assert status.returncode == 0
    return stdout.strip().removeprefix("up: ")


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--cluster", "0"], "--cluster"),
        (["--cluster", "3", "--broker", "amqp://u:secret@127.0.0.1:5672/"], "--cluster"),
        (["--fault", "partition@1s:2s"], "--fault"),
        (["--cluster", "3", "--fault", "kill@1s:1s:node4"], "--fault"),
        (["--fault", "kill@1s:1s:follower"], "--fault"),
        (["--cluster", "3", "--fault", "partition@1s:2s:thirds"], "--fault"),
        (["--cluster", "3", "--partition-handling", "heal"], "--partition-handling"),
        (["--cluster", "3", "--clients", "anywhere"], "--clients"),
    ],
)
def test_cluster_flags_refuse_bad_values_with_exit_2(
    args: list[str], flag: str, tmp_path: Path
) -> None:
    proc = cli("run", "--stack", "pika", *args, "--out", str(tmp_path / "run"))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], stderr
    assert "secret" not in stderr
