"""The command line when things go wrong around a run: a broker that does not come back
after a fault (the run stops at once, exit 3, instead of publishing into nothing), and
mqcompare itself SIGKILLed (its private node, producers and consumer go too)."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from mqcompare.observe import wait_for
from tests.e2e.test_cli_broker import alive, cli, watch_descendants

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def journal_has(out: Path, needle: str) -> bool:
    path = out / "journal" / "runner.jsonl"
    return path.exists() and needle in path.read_text()


def broker_port(out: Path) -> int:
    url = json.loads((out / "spec.json").read_text())["broker"]
    m = re.search(r":(\d+)/", url)
    assert m, url
    return int(m.group(1))


def node_processes(port: int) -> list[psutil.Process]:
    """The beam.smp of the private node on `port`, found by the pid file in its directory."""
    found = []
    for pidfile in Path(tempfile.gettempdir()).glob(f"mqcompare-node-{port}-*/pid"):
        with contextlib.suppress(OSError, ValueError, psutil.NoSuchProcess):
            proc = psutil.Process(int(pidfile.read_text().strip()))
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def _bound(sock: socket.socket, port: int) -> bool:
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def test_a_broker_that_does_not_come_back_stops_the_run_with_exit_3(tmp_path: Path) -> None:
    """The node is killed and, while it is down, its port is taken: it cannot boot again.
    The run must say so and stop (exit 3), with the node's boot output in the run dir."""
    env = {"MQCOMPARE_STATE_DIR": str(tmp_path / "empty-state")}  # a node of the run's own
    out = tmp_path / "run"
    args = ["--producers", "4", "--messages", "4000", "--rate", "200", "--confirms"]
    proc = cli(
        "run", "--stack", "pika", *args, "--fault", "kill@1s:6s", "--broker", "local",
        "--out", str(out), env=env,
    )  # fmt: skip
    seen = watch_descendants(
        proc, time.monotonic() + 90, stop_when=lambda: journal_has(out, '"phase":"down"')
    )
    assert journal_has(out, '"phase":"down"'), "the kill was never seen to land"
    port = broker_port(out)
    with socket.socket() as holder:  # the node's port, held until the run gives up
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # the dead node's server-side sockets may still be closing (FIN_WAIT): the port is
        # free to listen on once they are, well before the node is booted again (6 s)
        assert wait_for(lambda: _bound(holder, port), 5.0, poll=0.05) is not None
        holder.listen()
        held = time.monotonic()
        seen |= watch_descendants(proc, time.monotonic() + 240)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert time.monotonic() - held < 240
    assert "did not come back" in err and "guest" not in err
    assert "eaddrinuse" in (out / "broker-boot.out").read_text()
    result = json.loads((out / "result.json").read_text())
    assert result["aborted"] and not result["interrupted"]
    assert result["counts"]["attempted"] < 16000, "the producers were stopped"
    assert wait_for(lambda: alive(seen) == [], 15.0, poll=0.2) is not None, alive(seen)
    assert node_processes(port) == []


@pytest.mark.parametrize("stack", ["pika", "dramatiq", "taskiq"])
def test_sigkill_of_mqcompare_takes_its_node_and_children_with_it(
    tmp_path: Path, stack: str
) -> None:
    """A counting consumer, and the pool processes of two workers (each watches the runner
    and its worker's main process: mqcompare.orphan)."""
    env = {"MQCOMPARE_STATE_DIR": str(tmp_path / "empty-state")}
    out = tmp_path / "run"
    args = ["--producers", "4", "--messages", "4000", "--rate", "200"]
    proc = cli("run", "--stack", stack, *args, "--broker", "local", "--out", str(out), env=env)

    def publishing() -> bool:
        return any(
            b'"ev":"invoke"' in p.read_bytes() for p in (out / "journal").glob("producer*.jsonl")
        )

    seen = watch_descendants(proc, time.monotonic() + 90, stop_when=publishing)
    assert publishing(), "the run never published"
    port = broker_port(out)
    (beam,) = node_processes(port)
    node_dirs = list(Path(tempfile.gettempdir()).glob(f"mqcompare-node-{port}-*"))
    assert node_dirs
    proc.send_signal(signal.SIGKILL)  # no handler, no finally: only the guardian is left
    proc.wait(timeout=10)
    gone = wait_for(
        lambda: (
            not beam.is_running() and alive(seen) == [] and not any(d.exists() for d in node_dirs)
        ),
        30.0,
        poll=0.2,
    )
    assert gone is not None, (alive(seen), beam.is_running(), node_dirs)
    assert node_processes(port) == []


@pytest.mark.faults
@pytest.mark.parametrize("fault", ["delay@1s:60s:100ms", "blackhole@1s:60s"])
def test_sigkill_during_a_link_fault_leaves_no_rule_or_helper(tmp_path: Path, fault: str) -> None:
    """The guardian removes a link fault's nftables table or iptables chain and ends its
    packet-holding helper when mqcompare dies without a finally."""
    from tests.faults.test_link import leftovers

    out = tmp_path / "run"
    args = ["--producers", "2", "--messages", "4000", "--rate", "50", "--confirms"]
    env = {"MQCOMPARE_STATE_DIR": str(tmp_path / "empty-state")}
    proc = cli("run", "--stack", "pika", *args, "--fault", fault, "--out", str(out), env=env)
    seen = watch_descendants(
        proc, time.monotonic() + 120, stop_when=lambda: journal_has(out, '"phase":"down"')
    )
    assert journal_has(out, '"phase":"down"'), "the link was never seen impaired"
    assert leftovers(proc.pid), "the impairment is a rule (for a delay, a helper) in place"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # the helper outlives its parent only until the guardian ends it: it is among `seen`
    gone = wait_for(lambda: alive(seen) == [] and leftovers(proc.pid) == [], 30.0, poll=0.2)
    assert gone is not None, (alive(seen), leftovers(proc.pid))
