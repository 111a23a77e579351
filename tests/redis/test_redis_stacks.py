"""celery, dramatiq and kombu on a private Redis: the same runs, faults and checker as on
RabbitMQ. Each fault is seen to hit before anything is judged; what Redis's persistence
and visibility timeout cost is asserted as measured here, per message id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from mqcompare.brokers.redis_server import RedisServer
from tests.faults.common import the_fault

pytestmark = [pytest.mark.broker, pytest.mark.redis, pytest.mark.faults]

STACKS = ("celery", "dramatiq", "kombu")
# 4 x 600 at 200 messages/s: 3 s of publishing, so a fault at 1 s lands in it
# (a message held unacknowledged when Redis went away waits an hour: the drain gives up
# on it after 15 s)
PACED = {"producers": 4, "messages": 600, "rate": 200.0, "drain_timeout_s": 15.0}
TOTAL = 2400


# kombu's Redis transport (celery's too) takes a message with BRPOP and keeps it in its
# unacked hash only once it has read the reply: the message a consuming connection's BRPOP
# carried when Redis went away is gone (celery issue 4354). dramatiq fetches with a Lua
# script that moves the message into its ack set in the same step.
IN_FLIGHT = {"celery": 1, "kombu": 1, "dramatiq": 0}


def assert_nothing_acknowledged_lost(r: dict[str, Any], stack: str) -> None:
    """Nothing acknowledged is gone from Redis but what a consuming connection was taking
    when it went away: a message the run did not see delivered was still in Redis at the
    end, held in the library's unacked keys (a worker's ack failed while Redis was down: it
    comes back after the visibility timeout, an hour by default) or still queued (a worker
    that stopped consuming when Redis went away, or too slow on a loaded machine: the
    result says which, `idle_s`). A producer whose retry budget ran out while Redis was
    down fails its message loudly."""
    c, drain = r["counts"], r["drain"]
    still_in_redis = (drain.get("unacked") or 0) + (drain.get("left_in_queue") or 0)
    assert c["lost"] <= still_in_redis + IN_FLIGHT[stack], (r["anomalies"], drain)
    assert c["unexpected"] == 0
    assert c["attempted"] == TOTAL and c["unknown"] == 0, r["errors"]
    assert c["acknowledged"] + c["failed"] == TOTAL
    assert c["failed"] <= PACED["producers"], "at most the message each producer held"


def first_redelivery(run_dir: Path) -> tuple[float, float | None]:
    """When the run's fault was seen down, and the first delivery flagged redelivered."""
    down, first = 0.0, None
    for path in (run_dir / "journal").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # the torn last line of a killed writer
            if rec.get("ev") == "fault" and rec.get("phase") == "down":
                down = rec["t"]
            elif rec.get("ev") == "deliver" and rec.get("redelivered"):
                first = rec["t"] if first is None else min(first, rec["t"])
    return down, first


def keys_of(server: RedisServer, queue: str) -> list[bytes]:
    client = redis.Redis(port=server.state.port)
    try:
        return [k for k in client.scan_iter() if queue.encode() in k]
    finally:
        client.close()


@pytest.mark.parametrize("stack", STACKS)
def test_every_message_once_and_the_queue_gone_after(
    redis_run: Any, redis_server: RedisServer, stack: str
) -> None:
    r = redis_run(stack, producers=4, messages=250)
    c = r["counts"]
    assert c["attempted"] == c["acknowledged"] == c["unique"] == 1000, r["errors"]
    assert r["verdict"] == {"valid": True, "exactly_once": True}
    assert r["drain"]["complete"] and r["drain"]["unacked"] == 0
    env = r["environment"]
    assert env["broker_product"] == "Redis" and env["redis"] == env["broker_version"] != ""
    assert env["libraries"]["redis"] not in ("", "not installed")
    assert "rabbitmq" not in env
    assert keys_of(redis_server, r["spec"]["queue"]) == [], "the run's keys are removed"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("fault", "kind"), [("restart@1s:1s", "restart"), ("kill@1s:1s", "kill")])
def test_with_aof_always_a_fault_loses_nothing_acknowledged(
    redis_run: Any, stack: str, fault: str, kind: str
) -> None:
    """Redis's persistence documentation: with appendfsync always, every write is on disk
    before it is acknowledged, so a restart or a crash loses none of them."""
    r = redis_run(stack, faults=[fault], **PACED)
    f = the_fault(r, kind)
    assert f["up_s"] - f["down_s"] >= 1.0, "down for at least the planned second"
    assert_nothing_acknowledged_lost(r, stack)


# celery consumes through the same transport as kombu's consumer: its worker's share of
# these two is left to the restart and the kill (the suite's time is counted)
@pytest.mark.parametrize("stack", ["dramatiq", "kombu"])
def test_a_paused_redis_loses_nothing(redis_run: Any, stack: str) -> None:
    r = redis_run(stack, faults=["pause@1s:1s"], **PACED)
    f = the_fault(r, "pause")
    assert f["up_s"] - f["down_s"] >= 1.0
    assert_nothing_acknowledged_lost(r, stack)


@pytest.mark.parametrize("stack", ["dramatiq", "kombu"])
def test_dropped_clients_reconnect_and_lose_nothing(redis_run: Any, stack: str) -> None:
    r = redis_run(stack, faults=["drop@1s"], **PACED)
    f = the_fault(r, "drop")
    assert f["connections"] >= 1
    assert_nothing_acknowledged_lost(r, stack)


def test_a_restart_without_persistence_loses_what_was_queued(own_redis: Any) -> None:
    """celery issues 1789 and 3501: tasks queued in a Redis that keeps nothing are gone
    after it restarts; the consumer starts after the restart, so they sat in it."""
    run = own_redis("none")
    r = run("celery", faults=["restart@1s:1s"], consume="after", **PACED)
    the_fault(r, "restart")
    c = r["counts"]
    assert c["acknowledged"] == TOTAL and c["lost"] >= 100, c
    assert not r["verdict"]["valid"]


def test_a_kill_with_the_default_snapshots_loses_what_came_since(own_redis: Any) -> None:
    """redis-server's own default keeps RDB snapshots, the first after 60 s of 10,000
    changes: a kill seconds into the run loses everything queued since it started."""
    run = own_redis("default")
    r = run("kombu", faults=["kill@1s:1s"], consume="after", **PACED)
    the_fault(r, "kill")
    c = r["counts"]
    assert c["lost"] >= 100, c
    assert "why" not in r["faults"][0]


def test_a_killed_consumer_s_messages_come_back_after_the_visibility_timeout(
    redis_run: Any,
) -> None:
    """kombu's Redis transport keeps a delivered message in its `unacked` hash; a consumer
    that dies without acking leaves it there until the visibility timeout has passed."""
    # 200 ms of work a message: the consumer works on one when it is killed. (With 20 ms,
    # the kill fell between two messages in about 2 runs of 5, before and after issue 29,
    # and kombu lost the one it had just taken off the list: BRPOP, then the unacked hash.)
    r = redis_run(
        "kombu",
        faults=["consumer-kill@1s:0.5s"],
        visibility_timeout_s=3.0,
        work_ms=200.0,
        prefetch=20,
        producers=1,
        messages=30,
        rate=30.0,
    )
    f = the_fault(r, "consumer-kill")
    assert r["consumer_starts"] == 2, "one consumer at the start, one by the fault"
    down, redelivered = first_redelivery(Path(r["_dir"]))
    assert redelivered is not None and redelivered - down >= 3.0, (down, redelivered)
    back = f.get("came_back")  # the one it was working on, when it was seen working
    if back is not None:
        assert back["delivered_again"] == back["held"] and back["after_s"][0] >= 3.0, back
    assert r["counts"]["lost"] == 0


def test_a_crashed_celery_worker_s_tasks_come_back_after_the_visibility_timeout(
    redis_run: Any,
) -> None:
    """acks_late on Redis: the tasks a crashed worker held wait out the visibility timeout;
    the new worker starts after it (DOWN 7 s), and its first sweep puts them back."""
    r = redis_run(
        "celery",
        faults=["worker-crash@2s:7s"],
        visibility_timeout_s=6.0,
        work_ms=50.0,
        producers=4,
        messages=250,
        rate=50.0,
        drain_timeout_s=90.0,
    )
    the_fault(r, "worker-crash")
    # the fault started the one new worker, DOWN s later; the producers ended while the
    # worker was down, and that started none (before: a third worker, 4 s before its time)
    assert r["consumer_starts"] == 2
    # what the worker had prefetched, besides the tasks it was running, was held in
    # kombu's unacked hash too: every redelivery waited out the timeout
    down, redelivered = first_redelivery(Path(r["_dir"]))
    assert redelivered is not None and redelivered - down >= 6.0, (down, redelivered)
    assert r["counts"]["redelivered"] >= 1
    assert r["counts"]["lost"] == 0, r["anomalies"]["lost"]


def test_celery_acks_the_task_of_a_killed_pool_process_on_redis_too(redis_run: Any) -> None:
    """acks_late without task_reject_on_worker_lost: the worker acks the task of a pool
    process that died (celery's docs), so no visibility timeout brings it back."""
    r = redis_run(
        "celery",
        faults=["worker-kill@2s"],
        visibility_timeout_s=6.0,
        work_ms=50.0,
        producers=4,
        messages=250,
        rate=50.0,
    )
    f = the_fault(r, "worker-kill")
    (held,) = f["held"]
    assert f["came_back"]["delivered_again"] == 0
    assert r["counts"]["lost"] == 1 and r["anomalies"]["lost"] == [held]
