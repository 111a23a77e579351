"""Faults of the link between the clients and a private node (mqcompare.faults.link):
each must be seen to hit (a probe across the path saw the impairment while messages
flowed), lose nothing confirmed, and leave no nftables table, iptables chain or helper
process behind."""

from __future__ import annotations

import contextlib
import os
import subprocess
from typing import Any

import psutil
import pytest

from tests.faults.common import assert_nothing_confirmed_lost, the_fault

pytestmark = [pytest.mark.broker, pytest.mark.faults]

# 4 x 600 at 100 messages/s each: 6 s of publishing, so every fault below (all over by
# 4 s) lands while the producers publish, however loaded the machine is
PACED = {"producers": 4, "messages": 600, "rate": 100.0}
TOTAL = 2400


def leftovers(owner: int | None = None) -> list[str]:
    """The link-fault rules process `owner` (default: this one, where `run` runs) made,
    and its packet-holding helpers, still there: none may outlive a fault. (Their names
    carry the owner's pid: a run elsewhere on the machine is none of this test's.)"""
    owner = owner or os.getpid()
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    found = [line for line in tables.splitlines() if f"mqcompare_link_{owner}_" in line]
    mangle = subprocess.run(["iptables", "-t", "mangle", "-S"], capture_output=True, text=True)
    found += [line for line in mangle.stdout.splitlines() if f"MQC-{owner}-" in line]
    with contextlib.suppress(psutil.NoSuchProcess):
        for proc in psutil.Process(owner).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                if "mqcompare.faults.nfqueue" in " ".join(proc.cmdline()):
                    found.append(f"helper pid {proc.pid}")
    return found


def test_blackhole_loses_nothing_confirmed(run: Any) -> None:
    """The issue's first command: pika's publisher waits out a 3 s half-open link."""
    r = run("pika", confirms=True, faults=["blackhole@1s:3s"], **PACED)
    f = the_fault(r, "blackhole")
    assert "every packet dropped both ways" in f["struck"]
    assert f["up_s"] - f["down_s"] >= 3.0, "cut off for the planned 3 s"
    assert any("packets dropped" in n for n in f["notes"]), f["notes"]
    assert "noticed_s" in f, "when a client first noticed it, or null: recorded either way"
    assert_nothing_confirmed_lost(r, TOTAL, PACED["producers"])
    assert leftovers() == []


def test_delay_shows_in_latency_and_loss_is_counted(run: Any) -> None:
    """The issue's second command, shortened: both faults hit, the delay is in the
    latency, the share of packets dropped is noted, nothing confirmed is lost."""
    r = run("kombu", confirms=True, faults=["delay@1s:1.5s:200ms", "loss@3s:2s:20%"], **PACED)
    assert [f["kind"] for f in r["faults"]] == ["delay", "loss"]
    delay, loss = r["faults"]
    assert delay["hit"] and loss["hit"], r["faults"]
    assert "held 200ms" in delay["struck"]
    assert r["latency_ms"]["p99"] >= 200.0, "a confirm waited for the held packets"
    assert any("packets dropped (" in n for n in loss["notes"]), loss["notes"]
    assert_nothing_confirmed_lost(r, TOTAL, PACED["producers"])
    assert leftovers() == []


def test_reset_is_noticed_by_the_producers(run: Any) -> None:
    r = run("pika", confirms=True, faults=["reset@1s"], **PACED)
    f = the_fault(r, "reset")
    assert f["struck"].endswith("reset") and int(f["struck"].split()[0]) >= PACED["producers"]
    assert r["errors"], "a reset connection raises in the producer that used it"
    assert f["noticed_s"] is not None and f["noticed_s"] >= f["begin_s"]
    assert f["noticed_by"], "each producer's first error after the reset"
    c = r["counts"]
    assert c["lost"] == 0 and c["unexpected"] == 0, r["anomalies"]
    assert c["attempted"] == TOTAL


@pytest.mark.parametrize("heartbeat_s", [2.0, 0.0])
def test_the_heartbeat_decides_whether_pika_notices_a_half_open_link(
    run: Any, heartbeat_s: float
) -> None:
    """--heartbeat reaches the clients: at 2 s the broker drops the silent connection and
    pika's own checker (every heartbeat + 5 s) raises; at pika's own (the broker's 60 s)
    an 8 s blackhole passes unnoticed and the confirms arrive once it is over."""
    load = {"producers": 2, "messages": 100, "rate": 10.0}
    r = run("pika", confirms=True, heartbeat_s=heartbeat_s, faults=["blackhole@1s:8s"], **load)
    f = the_fault(r, "blackhole")
    assert r["spec"]["heartbeat_s"] == heartbeat_s
    if heartbeat_s:
        assert "AMQPHeartbeatTimeout" in r["errors"], r["errors"]
        assert f["noticed_s"] is not None and len(f["noticed_by"]) == 2
    else:
        assert r["errors"] == {} and f["noticed_s"] is None
    assert_nothing_confirmed_lost(r, 200, 2)
    assert leftovers() == []
