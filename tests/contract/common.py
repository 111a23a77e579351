"""Stack-neutral contract: every stack passes these classes; a stack's own file only
names the stack and which of its modes are expected to be safe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mqcompare.stacks import load_stack


def raw_journal(run_dir: Path) -> dict[str, Any]:
    """Message ids by event, and the number of error records, read line by line."""
    ids: dict[str, Any] = {ev: set() for ev in ("invoke", "ok", "deliver")}
    errors = 0
    for path in (run_dir / "journal").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line
            if rec["ev"] in ids:
                ids[rec["ev"]].add((rec["p"], rec["s"]))
            errors += rec["ev"] in ("fail", "info")
    return {**ids, "errors": errors}


@pytest.mark.broker
class PublishContract:
    stack: str
    exactly_once_modes: tuple[str, ...] = ()  # documented-safe modes: every message once
    unsafe_modes: tuple[str, ...] = ()  # modes that must still end and report what happened
    no_unsafe_mode = ""  # why a stack has no unsafe mode (its unsafe-mode test is skipped)

    def test_safe_mode_delivers_every_message_exactly_once(
        self, run: Any, exactly_once_mode: str
    ) -> None:
        r = run(self.stack, mode=exactly_once_mode, producers=4, messages=250)
        c = r["counts"]
        assert c["attempted"] == c["acknowledged"] == c["delivered"] == c["unique"] == 1000
        assert r["verdict"] == {"valid": True, "exactly_once": True}
        assert r["drain"]["complete"]
        # every connection ended with the AMQP close handshake: a dropped one makes the
        # broker discard what it had not read yet (unconfirmed publishes lost at exit)
        log = Path(r["_dir"], "broker.log")
        dropped = log.read_text().count("unexpectedly closed") if log.exists() else 0
        assert dropped == 0, f"{dropped} connections dropped without closing; see {log}"

    def test_confirms_deliver_every_message(self, run: Any) -> None:
        r = run(self.stack, producers=3, messages=200, confirms=True)
        assert r["counts"]["acknowledged"] == r["counts"]["unique"] == 600
        assert r["verdict"]["exactly_once"]
        assert r["throughput"]["publish_per_s"] > 0
        assert 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"] <= r["latency_ms"]["max"]

    def test_unsafe_mode_ends_and_accounts_for_every_message(
        self, run: Any, unsafe_mode: str
    ) -> None:
        """Whatever an unsafe mode does (errors, loss, a hang), the run ends, and its result
        agrees with the raw journal lines counted here, independently of the checker."""
        r = run(self.stack, mode=unsafe_mode, producers=6, messages=300, stall_timeout_s=8)
        c, raw = r["counts"], raw_journal(Path(r["_dir"]))
        if r["producers_stalled"]:
            assert len(raw["invoke"]) < 1800, "a hang leaves messages never attempted"
        else:
            assert r["producer_exit"] == 0
            assert len(raw["invoke"]) == 1800
        assert c["attempted"] == len(raw["invoke"])
        assert c["acknowledged"] == len(raw["ok"])
        assert c["unique"] == len(raw["deliver"])
        assert c["lost"] == len(raw["ok"] - raw["deliver"])
        assert sum(r["errors"].values()) == raw["errors"], "every error the stack raised"
        # valid, judged from the raw lines: every acknowledged message was delivered, and
        # nothing was delivered that was never published
        raw_valid = raw["ok"] <= raw["deliver"] and raw["deliver"] <= raw["invoke"]
        assert r["verdict"]["valid"] == raw_valid

    @pytest.mark.parametrize(
        ("queue_type", "seen"), [("quorum", "quorum"), ("mirrored", "classic")]
    )
    def test_every_client_declares_the_queue_type_the_run_asks_for(
        self, run: Any, queue_type: str, seen: str
    ) -> None:
        """Producers, consumer (or worker) and admin all declare the same queue: RabbitMQ
        refuses a declaration whose arguments differ, so a run that completes exactly once
        shows they agreed; spec.json records what the broker made of it."""
        r = run(self.stack, queue_type=queue_type, confirms=True, producers=2, messages=100)
        assert r["verdict"]["exactly_once"] and r["counts"]["unique"] == 200
        spec = json.loads(Path(r["_dir"], "spec.json").read_text())
        assert spec["queue_type"] == queue_type
        assert spec["queue_seen"]["type"] == seen
        if queue_type == "mirrored":
            assert spec["queue_seen"]["policy"].startswith("mqcompare-ha-")

    def test_the_drain_waits_for_what_a_slow_consumer_holds(self, run: Any) -> None:
        """The queue is empty long before a consumer has worked through the batch it
        prefetched: the run waits for those messages to be acknowledged, and loses none."""
        r = run(self.stack, producers=1, messages=4, work_ms=1200)
        assert r["counts"]["unique"] == 4, r["counts"]
        assert r["verdict"]["valid"], r["counts"]
        assert r["drain"] == {"complete": True, "left_in_queue": 0, "unacked": 0}

    def test_run_directory_holds_spec_journals_and_result(self, run: Any) -> None:
        r = run(self.stack, producers=2, messages=50)
        d = Path(r["_dir"])
        spec = json.loads((d / "spec.json").read_text())
        assert spec["stack"] == self.stack and spec["producers"] == 2
        assert spec["stack_options"], "the stack's own settings are recorded"
        result = json.loads((d / "result.json").read_text())
        assert result["format"] == "mqcompare.result/1"
        assert set(result) >= {
            "run_id",
            "spec",
            "counts",
            "verdict",
            "errors",
            "throughput",
            "latency_ms",
            "faults",
            "duration_s",
            "environment",
            "timeline",
        }
        env = result["environment"]
        assert env["rabbitmq"] and env["erlang"], "the broker's version, as it says it"
        library = load_stack(self.stack).library
        assert env["libraries"][library] not in ("", "not installed"), env["libraries"]
        assert sum(result["timeline"]["published"]) == result["counts"]["acknowledged"]
        roles = set()
        for f in (d / "journal").glob("*.jsonl"):
            header = json.loads(f.read_text().splitlines()[0])
            assert header["format"] == "mqcompare.journal/1"
            assert header["run_id"] == spec["run_id"]
            roles.add(header["role"])
        assert roles == {"producer", "consumer", "runner"}
        for f in d.rglob("*"):
            if f.is_file():
                assert ":guest@" not in f.read_text(errors="replace"), f"password in {f}"


@pytest.mark.broker
class WindowContract:
    """For a stack that pipelines publisher confirms (`--confirm-window`)."""

    stack: str
    window_mode: str  # the mode that keeps several confirms in flight

    def test_a_confirm_window_delivers_every_message_once(self, run: Any) -> None:
        r = run(
            self.stack,
            mode=self.window_mode,
            producers=3,
            messages=400,
            confirms=True,
            stack_options={"confirm_window": 50},
        )
        c = r["counts"]
        assert c["attempted"] == c["acknowledged"] == c["unique"] == 1200
        assert r["verdict"] == {"valid": True, "exactly_once": True}
        assert r["spec"]["stack_options"]["confirm_window"] == 50
        raw = raw_journal(Path(r["_dir"]))
        assert raw["ok"] == raw["invoke"] == raw["deliver"]
