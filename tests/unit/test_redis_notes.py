"""What a run on Redis says of itself, from hand-written results: why it lost (what Redis
kept on disk, kombu's BRPOP, what was still held), when a killed consumer's messages came
back, and the claim predicate that judges it."""

from __future__ import annotations

from typing import Any

from mqcompare.matrix.claims import parse_predicate, run_predicate
from mqcompare.notes import redis_persistence_notes
from mqcompare.report import headline
from scenarios_celery.stack import CeleryStack
from tests.results import result

KILL = {"kind": "kill", "at_s": 1.0, "down_s": 1.0, "up_s": 2.0, "end_s": 2.0, "hit": True}


def on_redis(persistence: str = "default", **spec: Any) -> dict[str, Any]:
    r = result("celery", "shared-app", lost=40)
    r["spec"].update(broker_protocol="redis", redis_persistence=persistence, **spec)
    return r


def test_a_crash_says_what_the_redis_kept_on_disk() -> None:
    (line,) = redis_persistence_notes(on_redis("default"), {"kill"})
    assert "RDB snapshots only" in line and "celery issues 1789 and 3501" in line
    (line,) = redis_persistence_notes(on_redis("none"), {"restart"})
    assert "keeps nothing on disk" in line
    # a graceful restart saves the snapshot first: nothing to say of rdb
    assert redis_persistence_notes(on_redis("default"), {"restart"}) == []
    assert redis_persistence_notes(on_redis("aof-always"), {"kill"}) == []
    rabbit = result("celery", "shared-app", lost=40)
    assert redis_persistence_notes(rabbit, {"kill"}) == []


def test_celery_on_redis_names_brpop_and_the_unacked_hash() -> None:
    r = on_redis("aof-always")
    r["faults"] = [KILL]
    r["drain"] = {"complete": False, "left_in_queue": 0, "unacked": 2}
    notes = " ".join(CeleryStack().explain(r))
    assert "2 messages were still in kombu's unacked hash" in notes
    assert "BRPOP" in notes and "celery issue 4354" in notes


def test_a_late_sweep_is_explained_and_judged() -> None:
    crash = {"kind": "worker-crash", "at_s": 2.0, "down_s": 2.0, "up_s": 2.8, "end_s": 2.8,
             "hit": True, "held": ["1:17", "3:17"],
             "came_back": {"held": 2, "delivered_again": 2, "after_s": [100.9, 101.0]}}  # fmt: skip
    r = on_redis(visibility_timeout_s=6.0)
    r["counts"]["lost"] = 0
    r["faults"] = [crash]
    assert "10 x 10 s" in " ".join(CeleryStack().explain(r))
    after = run_predicate(*parse_predicate("came-back-after:6"))
    assert after is not None
    held, said = after(r)
    assert held and said == "2 of 2 came back 100.9-101.0 s after"
    too_soon = run_predicate(*parse_predicate("came-back-after:200"))
    assert too_soon is not None and not too_soon(r)[0]
    crash["came_back"] = {"held": 1, "delivered_again": 0, "after_s": None}
    assert after(r) == (False, "none of 1 came back")


def test_the_headline_says_redis_not_confirms() -> None:
    r = on_redis("aof-always", visibility_timeout_s=6.0, faults=["kill@1s:1s"])
    assert "on Redis (aof-always, visibility 6s)" in headline(r)
    assert "confirms" not in headline(r)


def test_a_stalled_worker_is_told_from_a_slow_one() -> None:
    """Tasks still queued when the drain gave up: a worker that took nothing in its last
    seconds is called stuck (with the issues that report it on this broker); one still
    taking tasks is not."""
    r = on_redis("aof-always")
    r["faults"] = [{**KILL, "kind": "restart"}]
    r["drain"] = {"complete": False, "left_in_queue": 40, "unacked": 0, "idle_s": 12.5}
    notes = " ".join(CeleryStack().explain(r))
    assert "stopped consuming" in notes and "celery issues 8030, 9054 and 10205" in notes
    r["spec"]["broker_protocol"] = "amqp"
    assert "kombu issue 901" in " ".join(CeleryStack().explain(r))
    r["drain"]["idle_s"] = 0.3
    assert "stopped consuming" not in " ".join(CeleryStack().explain(r))
